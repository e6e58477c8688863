//! Keeping the API answering under abuse: Rocket.Chat's REST rate limiter
//! ([`RateLimiter`], per client address, claimed user and route) and the bounded pool
//! that checks passwords ([`LoginGate`]), so a login storm costs at most a fixed share
//! of the machine and the other routes keep their latency.
//!
//! Both live in the process: N processes allow N times the calls and N pools. Failed-login
//! counts, which must hold across processes, are in the database (see `udd-app`'s
//! `Authenticator`).

mod gate;
mod limiter;

use std::sync::Arc;

use udd_ports::Clock;

pub use gate::LoginGate;
pub use limiter::{limit_api_calls, RateLimiter};

use crate::settings::Settings;

/// The throttles of one process, shared by its HTTP workers.
pub struct Throttles {
    /// The REST rate limiter.
    pub limiter: RateLimiter,
    /// The password-check pool.
    pub logins: LoginGate,
}

impl Throttles {
    /// The throttles `settings` describe, counting time on `clock`.
    pub fn new(settings: &Settings, clock: Arc<dyn Clock>) -> Self {
        Self {
            limiter: RateLimiter::new(&settings.rate_limit, clock),
            logins: LoginGate::new(
                settings.login.password_check_threads(),
                settings.login.password_check_queue,
            ),
        }
    }
}

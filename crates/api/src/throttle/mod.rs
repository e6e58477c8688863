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

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use actix_web::HttpRequest;
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
    forwarded_count: usize,
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
            forwarded_count: settings.server.forwarded_count,
        }
    }

    /// The client's address: the peer's, or the `server.forwarded_count`-th entry from
    /// the end of `X-Forwarded-For` when proxies in front of udd are declared.
    pub fn client_ip(&self, req: &HttpRequest) -> String {
        let forwarded = req
            .headers()
            .get("X-Forwarded-For")
            .and_then(|value| value.to_str().ok());
        client_ip(req.peer_addr(), forwarded, self.forwarded_count)
    }
}

/// See [`Throttles::client_ip`]: an entry that is no address, or a header shorter than
/// the declared proxies, leaves the peer's address.
fn client_ip(peer: Option<SocketAddr>, forwarded_for: Option<&str>, proxies: usize) -> String {
    let peer = peer.map(|addr| addr.ip().to_string()).unwrap_or_default();
    if proxies == 0 {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .collect();
    hops.len()
        .checked_sub(proxies)
        .and_then(|at| hops.get(at))
        .and_then(|hop| hop.parse::<IpAddr>().ok())
        .map_or(peer, |ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_is_the_client_unless_proxies_are_declared() {
        let peer: Option<SocketAddr> = "10.0.0.9:5000".parse().ok();
        let header = Some("203.0.113.5, 198.51.100.2");
        assert_eq!(
            client_ip(peer, header, 0),
            "10.0.0.9",
            "a forged header is ignored"
        );
        assert_eq!(client_ip(peer, header, 1), "198.51.100.2");
        assert_eq!(client_ip(peer, header, 2), "203.0.113.5");
        assert_eq!(
            client_ip(peer, header, 3),
            "10.0.0.9",
            "fewer hops than proxies"
        );
        assert_eq!(client_ip(peer, Some("not-an-ip"), 1), "10.0.0.9");
        assert_eq!(client_ip(peer, None, 1), "10.0.0.9");
    }
}

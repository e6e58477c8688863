//! Rocket.Chat's REST rate limiter: each route allows so many calls per window to each
//! client, answering `429` beyond that, and every answer of a limited route carries
//! `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (epoch
//! milliseconds).
//!
//! Rocket.Chat counts per client address and route. udd also tells apart the user a
//! request claims (`X-User-Id`), so people behind one address (an office, a proxy) do not
//! share one budget; a claim costs nothing to forge but only splits the caller's own
//! address's budget, never eats into someone else's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};
use udd_domain::{CallWindow, RateDecision, RateRule};
use udd_ports::Clock;

use super::Throttles;
use crate::error::ApiError;
use crate::routes::API_ROUTES;
use crate::settings::RateLimitSettings;

/// Windows kept before closed ones are swept; past it (after a sweep) new clients of a
/// route share one window, so memory stays bounded whatever an attacker sends.
const MAX_TRACKED_CLIENTS: usize = 100_000;

/// The prefix of the limited routes.
const API_PREFIX: &str = "/api/v1/";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Client {
    route: &'static str,
    ip: String,
    user: String,
}

/// Calls per window, per route, counted in this process.
pub struct RateLimiter {
    rules: HashMap<&'static str, RateRule>,
    windows: Mutex<HashMap<Client, CallWindow>>,
    clock: Arc<dyn Clock>,
}

impl RateLimiter {
    /// A limiter applying `settings` to the routes of [`API_ROUTES`].
    pub fn new(settings: &RateLimitSettings, clock: Arc<dyn Clock>) -> Self {
        let rules = API_ROUTES
            .iter()
            .filter_map(|route| Some((*route, settings.rule_for(route)?)))
            .collect();
        Self {
            rules,
            windows: Mutex::default(),
            clock,
        }
    }

    /// Counts a call of `route` (after `/api/v1/`) by the client at `ip` claiming `user`
    /// (empty when none); `None` when the route is not limited.
    pub fn check(&self, route: &str, ip: &str, user: &str) -> Option<RateDecision> {
        let (route, rule) = self.rules.get_key_value(route)?;
        let now = self.clock.now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let mut client = Client {
            route,
            ip: ip.to_owned(),
            user: user.chars().take(64).collect(),
        };
        if windows.len() >= MAX_TRACKED_CLIENTS && !windows.contains_key(&client) {
            windows.retain(|c, window| match self.rules.get(c.route) {
                Some(rule) => !rule.is_over(window, now),
                None => false,
            });
            if windows.len() >= MAX_TRACKED_CLIENTS {
                client.ip.clear();
                client.user.clear();
            }
        }
        let mut window = windows.get(&client).copied();
        let decision = rule.count(&mut window, now);
        if let Some(window) = window {
            windows.insert(client, window);
        }
        Some(decision)
    }
}

impl RateLimiter {
    /// Whole seconds, rounded up, until `decision`'s window closes.
    pub fn seconds_until(&self, decision: &RateDecision) -> u64 {
        let millis = (decision.resets_at - self.clock.now()).num_milliseconds();
        u64::try_from(millis.max(0)).map_or(0, |ms| ms.div_ceil(1000))
    }
}

/// Middleware for the `/api/v1` scope: counts the call, answers `429` past the limit,
/// and adds the `X-RateLimit-*` headers to every answer of a limited route.
pub async fn limit_api_calls(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let throttles = req.app_data::<web::Data<Throttles>>().cloned();
    let decision = throttles.as_ref().and_then(|throttles| {
        let route = req.path().strip_prefix(API_PREFIX)?;
        let user = crate::auth::header(req.request(), "X-User-Id");
        let client = crate::proxy::TrustedProxies::client_of_request(req.request());
        throttles.limiter.check(route, &client.address(), &user)
    });
    let (Some(decision), Some(throttles)) = (decision, throttles) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let mut response = if decision.allowed {
        next.call(req).await?.map_into_boxed_body()
    } else {
        let error = ApiError::TooManyRequests {
            wait_seconds: throttles.limiter.seconds_until(&decision),
        };
        req.into_response(error.error_response())
    };
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", u64::from(decision.limit)),
        ("x-ratelimit-remaining", u64::from(decision.remaining)),
        (
            "x-ratelimit-reset",
            u64::try_from(decision.resets_at.timestamp_millis()).unwrap_or(0),
        ),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, Utc};

    struct Fixed(Mutex<DateTime<Utc>>);

    impl Clock for Fixed {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    fn limiter() -> (RateLimiter, Arc<Fixed>) {
        let clock = Arc::new(Fixed(Mutex::new(DateTime::UNIX_EPOCH)));
        let settings = RateLimitSettings {
            limit_calls_default: 2,
            ..RateLimitSettings::default()
        };
        (RateLimiter::new(&settings, clock.clone()), clock)
    }

    fn allowed(limiter: &RateLimiter, route: &str, ip: &str, user: &str) -> bool {
        limiter
            .check(route, ip, user)
            .is_some_and(|decision| decision.allowed)
    }

    #[test]
    fn each_client_route_and_user_has_its_own_budget() {
        let (limiter, clock) = limiter();
        assert!(allowed(&limiter, "me", "10.0.0.1", "u1"));
        assert!(allowed(&limiter, "me", "10.0.0.1", "u1"));
        assert!(!allowed(&limiter, "me", "10.0.0.1", "u1"));
        assert!(allowed(&limiter, "me", "10.0.0.1", "u2"), "another user");
        assert!(allowed(&limiter, "me", "10.0.0.2", "u1"), "another address");
        assert!(
            allowed(&limiter, "logout", "10.0.0.1", "u1"),
            "another route"
        );
        assert!(
            allowed(&limiter, "users.requestDataDownload", "10.0.0.1", "u1"),
            "its own, higher limit"
        );
        assert_eq!(limiter.check("elsewhere", "10.0.0.1", "u1"), None);

        clock.0.lock().map(|mut t| *t += Duration::seconds(60)).ok();
        assert!(allowed(&limiter, "me", "10.0.0.1", "u1"), "a new window");
    }

    #[test]
    fn a_disabled_limiter_limits_nothing() {
        let settings = RateLimitSettings {
            enabled: false,
            ..RateLimitSettings::default()
        };
        let clock = Arc::new(Fixed(Mutex::new(DateTime::UNIX_EPOCH)));
        let limiter = RateLimiter::new(&settings, clock);
        assert_eq!(limiter.check("login", "10.0.0.1", ""), None);
    }

    #[test]
    fn past_the_tracking_bound_new_clients_share_one_window() {
        let (limiter, _) = limiter();
        {
            let mut windows = limiter.windows.lock().unwrap_or_else(|e| e.into_inner());
            for n in 0..MAX_TRACKED_CLIENTS {
                windows.insert(
                    Client {
                        route: "me",
                        ip: n.to_string(),
                        user: String::new(),
                    },
                    CallWindow {
                        opened_at: DateTime::UNIX_EPOCH,
                        calls: 1,
                    },
                );
            }
        }
        assert!(allowed(&limiter, "me", "new-1", ""));
        assert!(allowed(&limiter, "me", "new-2", ""));
        assert!(!allowed(&limiter, "me", "new-3", ""), "one shared window");
        let tracked = limiter.windows.lock().map(|w| w.len()).unwrap_or_default();
        assert_eq!(tracked, MAX_TRACKED_CLIENTS + 1);
    }
}

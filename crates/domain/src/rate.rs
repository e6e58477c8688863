//! Counting calls in fixed windows, as Rocket.Chat's REST rate limiter does
//! (`API_Enable_Rate_Limiter_Limit_Calls_Default` calls per
//! `API_Enable_Rate_Limiter_Limit_Time_Default` milliseconds): a window opens with a
//! client's first call and closes `window` later; every call in it counts, refused ones
//! included.

use chrono::{DateTime, Duration, Utc};

/// How many calls a client may make per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateRule {
    /// Calls allowed per window.
    pub calls: u32,
    /// The window's length.
    pub window: Duration,
}

/// One client's current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallWindow {
    /// When the window opened.
    pub opened_at: DateTime<Utc>,
    /// Calls made in it so far.
    pub calls: u32,
}

/// The verdict on one call, with what the `X-RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the call may proceed.
    pub allowed: bool,
    /// The calls allowed per window (`X-RateLimit-Limit`).
    pub limit: u32,
    /// Calls left in this window (`X-RateLimit-Remaining`).
    pub remaining: u32,
    /// When the window closes (`X-RateLimit-Reset`).
    pub resets_at: DateTime<Utc>,
}

impl RateRule {
    /// Counts a call at `now` into `window` (opening a new one when there is none or the
    /// last has closed) and decides on it.
    pub fn count(&self, window: &mut Option<CallWindow>, now: DateTime<Utc>) -> RateDecision {
        let current = match window {
            Some(open) if now < open.opened_at + self.window => open,
            _ => window.insert(CallWindow {
                opened_at: now,
                calls: 0,
            }),
        };
        current.calls = current.calls.saturating_add(1);
        RateDecision {
            allowed: current.calls <= self.calls,
            limit: self.calls,
            remaining: self.calls.saturating_sub(current.calls),
            resets_at: current.opened_at + self.window,
        }
    }

    /// Whether `window` has closed by `now`, so forgetting it changes nothing.
    pub fn is_over(&self, window: &CallWindow, now: DateTime<Utc>) -> bool {
        now >= window.opened_at + self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::seconds(seconds)
    }

    const TEN_A_MINUTE: RateRule = RateRule {
        calls: 10,
        window: Duration::seconds(60),
    };

    #[test]
    fn ten_calls_a_minute_pass_and_the_eleventh_waits_for_the_window_to_close() {
        let mut window = None;
        for n in 1..=10 {
            let decision = TEN_A_MINUTE.count(&mut window, at(n));
            assert!(decision.allowed, "call {n}");
            assert_eq!(decision.remaining, 10 - n as u32);
            assert_eq!(decision.limit, 10);
            assert_eq!(
                decision.resets_at,
                at(61),
                "the window opened at the first call"
            );
        }
        let refused = TEN_A_MINUTE.count(&mut window, at(30));
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.resets_at, at(61));
        assert!(!TEN_A_MINUTE.count(&mut window, at(60)).allowed);

        let reopened = TEN_A_MINUTE.count(&mut window, at(61));
        assert!(reopened.allowed);
        assert_eq!(reopened.remaining, 9);
        assert_eq!(reopened.resets_at, at(121));
    }

    #[test]
    fn a_closed_window_can_be_forgotten() {
        let mut window = None;
        TEN_A_MINUTE.count(&mut window, at(0));
        let open = window.unwrap_or(CallWindow {
            opened_at: at(0),
            calls: 0,
        });
        assert!(!TEN_A_MINUTE.is_over(&open, at(59)));
        assert!(TEN_A_MINUTE.is_over(&open, at(60)));
    }
}

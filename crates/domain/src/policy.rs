//! The request policy: one operation of each kind per user per day.

use chrono::{DateTime, Duration, Utc};

use crate::export::{ExportOperation, ExportStatus};

/// What a new request does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestDecision {
    /// Answer with the existing operation (`requested: false`).
    Reuse,
    /// Create a new operation (`requested: true`).
    Create,
}

/// Decides whether a request reuses the user's last operation of the same kind.
///
/// Rocket.Chat reuses the last operation of the same kind (full or personal) when it was
/// created less than 24 hours ago. We keep that rule, with two deliberate differences: a
/// `failed` operation is never reused, so a failure does not lock the user out for a day,
/// and neither is a completed one whose file has expired or been removed, since it has
/// nothing left to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPolicy {
    /// How long an operation answers new requests of its kind.
    pub reuse_window: Duration,
}

impl Default for RequestPolicy {
    fn default() -> Self {
        Self {
            reuse_window: Duration::hours(24),
        }
    }
}

impl RequestPolicy {
    /// Decides for a request made at `now`, given the user's last operation of the same
    /// kind (`None` when there is none) and whether that operation's download is gone
    /// (its file expired or removed).
    ///
    /// ```
    /// use chrono::{DateTime, Duration};
    /// use udd_domain::{ExportOperation, ExportStatus, RequestDecision, RequestPolicy};
    ///
    /// let at = DateTime::UNIX_EPOCH;
    /// let mut last = ExportOperation::new_pending("OP1".into(), "alice".into(), false, at);
    /// let policy = RequestPolicy::default();
    /// let soon = at + Duration::hours(1);
    /// assert_eq!(policy.decide(Some(&last), false, soon), RequestDecision::Reuse);
    /// assert_eq!(policy.decide(Some(&last), true, soon), RequestDecision::Create);
    /// assert_eq!(policy.decide(None, false, soon), RequestDecision::Create);
    /// last.status = ExportStatus::Failed;
    /// assert_eq!(policy.decide(Some(&last), false, soon), RequestDecision::Create);
    /// ```
    pub fn decide(
        &self,
        last_of_kind: Option<&ExportOperation>,
        download_gone: bool,
        now: DateTime<Utc>,
    ) -> RequestDecision {
        match last_of_kind {
            Some(last)
                if last.status != ExportStatus::Failed
                    && !download_gone
                    && last.created_at > now - self.reuse_window =>
            {
                RequestDecision::Reuse
            }
            _ => RequestDecision::Create,
        }
    }

    /// When a request of the same kind as `last` will create a new operation rather than
    /// be answered with `last` (its creation plus the reuse window), for telling a user
    /// when they may ask again.
    ///
    /// ```
    /// use chrono::{DateTime, Duration};
    /// use udd_domain::{ExportOperation, RequestPolicy};
    ///
    /// let at = DateTime::UNIX_EPOCH;
    /// let last = ExportOperation::new_pending("OP1".into(), "alice".into(), false, at);
    /// assert_eq!(RequestPolicy::default().next_request_at(&last), at + Duration::hours(24));
    /// ```
    pub fn next_request_at(&self, last: &ExportOperation) -> DateTime<Utc> {
        last.created_at + self.reuse_window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created_at(at: DateTime<Utc>, full: bool) -> ExportOperation {
        ExportOperation::new_pending("op".into(), "u".into(), full, at)
    }

    fn now() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    #[test]
    fn no_earlier_operation_means_create() {
        assert_eq!(
            RequestPolicy::default().decide(None, false, now()),
            RequestDecision::Create
        );
    }

    #[test]
    fn an_operation_of_23h59m_ago_is_reused_for_either_kind() {
        for full in [false, true] {
            let last = created_at(now() - Duration::minutes(23 * 60 + 59), full);
            assert_eq!(
                RequestPolicy::default().decide(Some(&last), false, now()),
                RequestDecision::Reuse
            );
        }
    }

    #[test]
    fn an_operation_of_24h01m_ago_is_not_reused_for_either_kind() {
        for full in [false, true] {
            let last = created_at(now() - Duration::minutes(24 * 60 + 1), full);
            assert_eq!(
                RequestPolicy::default().decide(Some(&last), false, now()),
                RequestDecision::Create
            );
        }
    }

    #[test]
    fn exactly_24h_is_no_longer_less_than_a_day() {
        let last = created_at(now() - Duration::hours(24), false);
        assert_eq!(
            RequestPolicy::default().decide(Some(&last), false, now()),
            RequestDecision::Create
        );
    }

    #[test]
    fn a_failed_operation_is_never_reused() {
        let mut last = created_at(now() - Duration::minutes(5), false);
        last.status = ExportStatus::Failed;
        assert_eq!(
            RequestPolicy::default().decide(Some(&last), false, now()),
            RequestDecision::Create
        );
    }

    #[test]
    fn a_completed_operation_inside_the_window_is_reused() {
        let mut last = created_at(now() - Duration::hours(2), true);
        last.status = ExportStatus::Completed;
        assert_eq!(
            RequestPolicy::default().decide(Some(&last), false, now()),
            RequestDecision::Reuse
        );
    }

    #[test]
    fn a_completed_operation_whose_file_is_gone_is_not_reused() {
        let mut last = created_at(now() - Duration::hours(2), false);
        last.status = ExportStatus::Completed;
        assert_eq!(
            RequestPolicy::default().decide(Some(&last), true, now()),
            RequestDecision::Create
        );
    }
}

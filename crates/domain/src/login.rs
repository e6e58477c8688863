//! Rules that protect logins: blocking after repeated failures, as Rocket.Chat's
//! `Block_Multiple_Failed_Logins_*` settings do, and the lifetime of login tokens
//! (`Accounts_LoginExpiration`).
//!
//! Failures are counted per subject (a known user, a login name nobody has, a client IP
//! address) since that subject's last successful login. Once a subject has failed
//! `attempts_until_block` times, it is blocked until `time_to_unblock` after its last
//! failure. A blocked attempt is not itself a failure: an attacker who keeps knocking
//! cannot keep an account locked for ever, yet after the block lifts a single further
//! failure blocks it again, since the count only resets on a successful login.

use chrono::{DateTime, Duration, Utc};

/// What failed logins are counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LoginSubject {
    /// A known user, by id: whether they log in by username or by email address.
    User(String),
    /// A login name that matches nobody, normalised: counted and blocked like a user,
    /// so that blocking does not tell which names exist.
    UnknownLogin(String),
    /// A client address.
    Ip(String),
}

impl LoginSubject {
    /// The subject for a login name that matches no user: trimmed and lowercased, so
    /// `Bob` and `bob ` are one name.
    pub fn unknown_login(login: &str) -> Self {
        Self::UnknownLogin(login.trim().to_lowercase())
    }

    /// A short, stable name of the kind of subject, for storage.
    pub fn scope(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::UnknownLogin(_) => "login",
            Self::Ip(_) => "ip",
        }
    }

    /// The subject's key within its scope.
    pub fn key(&self) -> &str {
        match self {
            Self::User(key) | Self::UnknownLogin(key) | Self::Ip(key) => key,
        }
    }
}

/// The failed logins of one subject since its last successful login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedLogins {
    /// How many.
    pub count: u32,
    /// When the last one happened.
    pub last_at: DateTime<Utc>,
}

/// When failures block a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRule {
    /// `Block_Multiple_Failed_Logins_Attempts_Until_Block_*`: failures that block.
    pub attempts_until_block: u32,
    /// `Block_Multiple_Failed_Logins_Time_To_Unblock_*_In_Minutes`: how long a block
    /// lasts after the last failure.
    pub time_to_unblock: Duration,
}

impl BlockRule {
    /// Until when `failures` block further attempts; `None` when they do not block.
    pub fn blocked_until(&self, failures: &FailedLogins) -> Option<DateTime<Utc>> {
        (failures.count >= self.attempts_until_block.max(1))
            .then(|| failures.last_at + self.time_to_unblock)
    }

    /// Whether a subject with `failures` may not try at `now`.
    pub fn blocks(&self, failures: Option<&FailedLogins>, now: DateTime<Utc>) -> bool {
        failures
            .and_then(|f| self.blocked_until(f))
            .is_some_and(|until| now < until)
    }
}

/// Which subjects are blocked after failed logins, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginProtection {
    /// Blocking by user (`Block_Multiple_Failed_Logins_By_User`); `None` when off.
    pub by_user: Option<BlockRule>,
    /// Blocking by client address (`Block_Multiple_Failed_Logins_By_Ip`); `None` when off.
    pub by_ip: Option<BlockRule>,
    /// Addresses never blocked (`Block_Multiple_Failed_Logins_Ip_Whitelist`).
    pub ip_whitelist: Vec<String>,
}

impl Default for LoginProtection {
    /// Rocket.Chat's defaults: a user is blocked for 5 minutes after 10 failures, an
    /// address for 5 minutes after 50.
    fn default() -> Self {
        Self {
            by_user: Some(BlockRule {
                attempts_until_block: 10,
                time_to_unblock: Duration::minutes(5),
            }),
            by_ip: Some(BlockRule {
                attempts_until_block: 50,
                time_to_unblock: Duration::minutes(5),
            }),
            ip_whitelist: Vec::new(),
        }
    }
}

impl LoginProtection {
    /// No blocking at all (`Block_Multiple_Failed_Logins_Enabled` off).
    pub fn off() -> Self {
        Self {
            by_user: None,
            by_ip: None,
            ip_whitelist: Vec::new(),
        }
    }

    /// The rule for the client address `ip`: none when blocking by address is off or
    /// the address is whitelisted.
    pub fn ip_rule(&self, ip: &str) -> Option<&BlockRule> {
        self.by_ip
            .as_ref()
            .filter(|_| !self.ip_whitelist.iter().any(|allowed| allowed == ip))
    }
}

/// How long a login token works after it was issued (`Accounts_LoginExpiration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetime(pub Duration);

impl Default for TokenLifetime {
    /// Rocket.Chat's default: 90 days.
    fn default() -> Self {
        Self(Duration::days(90))
    }
}

impl TokenLifetime {
    /// The earliest issue time of a token that still works at `now`.
    pub fn issued_since(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.0
    }
}

/// A token's SHA-256, to key what is remembered about it (a cache of sessions checked
/// with Rocket.Chat) without ever keeping the token itself, even in memory.
pub fn token_fingerprint(token: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_fingerprints_tell_tokens_apart_without_holding_them() {
        assert_eq!(token_fingerprint("abc"), token_fingerprint("abc"));
        assert_ne!(token_fingerprint("abc"), token_fingerprint("abd"));
        assert!(!token_fingerprint("abc").windows(3).any(|w| w == b"abc"));
    }

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::minutes(minutes)
    }

    fn failures(count: u32, last_minute: i64) -> FailedLogins {
        FailedLogins {
            count,
            last_at: at(last_minute),
        }
    }

    #[test]
    fn a_user_is_blocked_from_the_tenth_failure_for_five_minutes_after_the_last() {
        let rule = LoginProtection::default().by_user.unwrap_or(BlockRule {
            attempts_until_block: 0,
            time_to_unblock: Duration::zero(),
        });
        assert!(!rule.blocks(None, at(0)));
        assert!(!rule.blocks(Some(&failures(9, 0)), at(0)));
        assert!(rule.blocks(Some(&failures(10, 0)), at(0)));
        assert!(rule.blocks(Some(&failures(30, 0)), at(4)));
        assert!(
            !rule.blocks(Some(&failures(10, 0)), at(5)),
            "unblocked exactly 5 minutes after the last failure"
        );
        assert_eq!(rule.blocked_until(&failures(10, 2)), Some(at(7)));
        assert_eq!(rule.blocked_until(&failures(3, 2)), None);
    }

    #[test]
    fn an_address_takes_fifty_failures_unless_whitelisted_or_off() {
        let protection = LoginProtection {
            ip_whitelist: vec!["10.0.0.1".into()],
            ..LoginProtection::default()
        };
        let rule = protection.ip_rule("10.0.0.2").copied();
        assert_eq!(rule.map(|r| r.attempts_until_block), Some(50));
        assert!(protection.ip_rule("10.0.0.1").is_none());
        assert!(LoginProtection::off().ip_rule("10.0.0.2").is_none());
    }

    #[test]
    fn a_rule_of_zero_attempts_still_needs_one_failure() {
        let rule = BlockRule {
            attempts_until_block: 0,
            time_to_unblock: Duration::minutes(1),
        };
        assert!(!rule.blocks(Some(&failures(0, 0)), at(0)));
        assert!(rule.blocks(Some(&failures(1, 0)), at(0)));
    }

    #[test]
    fn unknown_login_names_are_one_subject_whatever_their_case_and_spaces() {
        assert_eq!(
            LoginSubject::unknown_login(" Bob@Example.org "),
            LoginSubject::unknown_login("bob@example.org")
        );
        let subject = LoginSubject::unknown_login("Bob");
        assert_eq!((subject.scope(), subject.key()), ("login", "bob"));
        assert_eq!(LoginSubject::Ip("::1".into()).scope(), "ip");
    }

    #[test]
    fn a_token_works_for_ninety_days_from_its_issue() {
        let now = at(0) + Duration::days(200);
        let since = TokenLifetime::default().issued_since(now);
        assert_eq!(since, now - Duration::days(90));
    }
}

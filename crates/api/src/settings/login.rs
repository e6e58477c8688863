//! `[login]`, `[rate_limit]` and `[accounts]`: Rocket.Chat's login blocking, REST rate
//! limiter and token lifetime settings, with its defaults, and the password-check pool.

use anyhow::Context;
use serde::Deserialize;
use udd_domain::{BlockRule, LoginProtection, RateRule, TokenLifetime};

use super::{within, Settings};

/// `[login]`: blocking after failed logins, with Rocket.Chat's settings and defaults, and
/// the pool that checks passwords.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LoginSettings {
    /// `Block_Multiple_Failed_Logins_Enabled`: off disables both kinds of blocking.
    pub block_failed_logins: bool,
    /// `Block_Multiple_Failed_Logins_By_User`.
    pub block_by_user: bool,
    /// `Block_Multiple_Failed_Logins_Attempts_Until_Block_by_User`.
    pub attempts_until_block_by_user: u32,
    /// `Block_Multiple_Failed_Logins_Time_To_Unblock_By_User_In_Minutes`.
    pub time_to_unblock_by_user_in_minutes: u32,
    /// `Block_Multiple_Failed_Logins_By_Ip`.
    pub block_by_ip: bool,
    /// `Block_Multiple_Failed_Logins_Attempts_Until_Block_By_Ip`.
    pub attempts_until_block_by_ip: u32,
    /// `Block_Multiple_Failed_Logins_Time_To_Unblock_By_Ip_In_Minutes`.
    pub time_to_unblock_by_ip_in_minutes: u32,
    /// `Block_Multiple_Failed_Logins_Ip_Whitelist`: addresses never blocked (a list; in
    /// the environment, comma-separated).
    pub ip_whitelist: Vec<String>,
    /// Logins checked at once (each runs one bcrypt); by default half the cores, at
    /// least one, so a login storm leaves the other half to everything else.
    pub password_check_threads: Option<usize>,
    /// Logins that may wait for a free check; beyond that a login is answered `429` at
    /// once instead of queueing.
    pub password_check_queue: usize,
}

impl Default for LoginSettings {
    fn default() -> Self {
        Self {
            block_failed_logins: true,
            block_by_user: true,
            attempts_until_block_by_user: 10,
            time_to_unblock_by_user_in_minutes: 5,
            block_by_ip: true,
            attempts_until_block_by_ip: 50,
            time_to_unblock_by_ip_in_minutes: 5,
            ip_whitelist: Vec::new(),
            password_check_threads: None,
            password_check_queue: 16,
        }
    }
}

impl LoginSettings {
    /// The blocking rules these settings describe.
    pub fn protection(&self) -> LoginProtection {
        let rule = |on: bool, attempts: u32, minutes: u32| {
            (self.block_failed_logins && on).then(|| BlockRule {
                attempts_until_block: attempts,
                time_to_unblock: chrono::Duration::minutes(minutes.into()),
            })
        };
        LoginProtection {
            by_user: rule(
                self.block_by_user,
                self.attempts_until_block_by_user,
                self.time_to_unblock_by_user_in_minutes,
            ),
            by_ip: rule(
                self.block_by_ip,
                self.attempts_until_block_by_ip,
                self.time_to_unblock_by_ip_in_minutes,
            ),
            ip_whitelist: self.ip_whitelist.clone(),
        }
    }

    /// Logins checked at once: the setting, or half the cores (at least one).
    pub fn password_check_threads(&self) -> usize {
        self.password_check_threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
        })
    }
}

/// `[rate_limit]`: Rocket.Chat's REST rate limiter, counted per client address, claimed
/// user (`X-User-Id`) and route, in fixed windows.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// `API_Enable_Rate_Limiter`.
    pub enabled: bool,
    /// `API_Enable_Rate_Limiter_Limit_Calls_Default`: calls per window on each route.
    pub limit_calls_default: u32,
    /// `API_Enable_Rate_Limiter_Limit_Time_Default`: the window, in milliseconds.
    pub limit_time_default_ms: u64,
    /// Routes with their own limit (Rocket.Chat's per-endpoint `rateLimiterOptions`).
    pub routes: Vec<RouteLimit>,
}

/// One route's own limit, e.g. `{ route = "users.requestDataDownload", calls = 1200 }`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteLimit {
    /// The route after `/api/v1/`, e.g. `login`.
    pub route: String,
    /// Calls per window.
    pub calls: u32,
    /// The window, in milliseconds; the default window when unset.
    pub time_ms: Option<u64>,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            limit_calls_default: 10,
            limit_time_default_ms: 60_000,
            // Clients poll this route for an export's progress: ten times a second
            // must pass (udd's own tests and load check do that), a runaway loop not.
            routes: vec![RouteLimit {
                route: "users.requestDataDownload".to_owned(),
                calls: 1_200,
                time_ms: None,
            }],
        }
    }
}

impl RateLimitSettings {
    /// The rule for `route` (after `/api/v1/`), or `None` when the limiter is off.
    pub fn rule_for(&self, route: &str) -> Option<RateRule> {
        if !self.enabled {
            return None;
        }
        let own = self.routes.iter().find(|r| r.route == route);
        let window_ms = own
            .and_then(|r| r.time_ms)
            .unwrap_or(self.limit_time_default_ms);
        Some(RateRule {
            calls: own.map_or(self.limit_calls_default, |r| r.calls),
            window: chrono::Duration::milliseconds(i64::try_from(window_ms).unwrap_or(i64::MAX)),
        })
    }
}

/// `[accounts]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsSettings {
    /// `Accounts_LoginExpiration`: days a login token works after it was issued
    /// (imported tokens count from their `when`).
    pub login_expiration_days: u32,
}

impl Default for AccountsSettings {
    fn default() -> Self {
        Self {
            login_expiration_days: 90,
        }
    }
}

impl AccountsSettings {
    /// How long tokens work.
    pub fn token_lifetime(&self) -> TokenLifetime {
        TokenLifetime(chrono::Duration::days(self.login_expiration_days.into()))
    }
}

impl Settings {
    /// The `[login]`, `[rate_limit]` and `[accounts]` bounds.
    pub(super) fn validate_login(&self) -> anyhow::Result<()> {
        let login = &self.login;
        for (key, value) in [
            (
                "login.attempts_until_block_by_user",
                login.attempts_until_block_by_user,
            ),
            (
                "login.attempts_until_block_by_ip",
                login.attempts_until_block_by_ip,
            ),
        ] {
            within(key, value.into(), 1, 100_000)?;
        }
        for (key, value) in [
            (
                "login.time_to_unblock_by_user_in_minutes",
                login.time_to_unblock_by_user_in_minutes,
            ),
            (
                "login.time_to_unblock_by_ip_in_minutes",
                login.time_to_unblock_by_ip_in_minutes,
            ),
        ] {
            within(key, value.into(), 1, 10_080)?;
        }
        for address in &login.ip_whitelist {
            address
                .parse::<std::net::IpAddr>()
                .with_context(|| format!("login.ip_whitelist: `{address}` is not an IP address"))?;
        }
        if let Some(threads) = login.password_check_threads {
            within("login.password_check_threads", threads as u64, 1, 256)?;
        }
        within(
            "login.password_check_queue",
            login.password_check_queue as u64,
            0,
            100_000,
        )?;
        let limits = &self.rate_limit;
        within(
            "rate_limit.limit_calls_default",
            limits.limit_calls_default.into(),
            1,
            1_000_000,
        )?;
        within(
            "rate_limit.limit_time_default_ms",
            limits.limit_time_default_ms,
            1_000,
            86_400_000,
        )?;
        for route in &limits.routes {
            anyhow::ensure!(
                crate::routes::API_ROUTES.contains(&route.route.as_str()),
                "rate_limit.routes: `{}` is not one of {:?}",
                route.route,
                crate::routes::API_ROUTES
            );
            within("rate_limit.routes.calls", route.calls.into(), 1, 1_000_000)?;
            if let Some(ms) = route.time_ms {
                within("rate_limit.routes.time_ms", ms, 1_000, 86_400_000)?;
            }
        }
        within(
            "accounts.login_expiration_days",
            self.accounts.login_expiration_days.into(),
            1,
            36_500,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::env;

    #[test]
    fn login_and_rate_limits_default_to_rocket_chats_settings() {
        let s = Settings::default();
        assert_eq!(s.login.protection(), LoginProtection::default());
        assert_eq!(s.accounts.token_lifetime(), TokenLifetime::default());
        let ten_a_minute = Some(RateRule {
            calls: 10,
            window: chrono::Duration::seconds(60),
        });
        assert_eq!(s.rate_limit.rule_for("login"), ten_a_minute);
        assert_eq!(s.rate_limit.rule_for("me"), ten_a_minute);
        assert_eq!(
            s.rate_limit
                .rule_for("users.requestDataDownload")
                .map(|r| r.calls),
            Some(1_200),
            "the polled route allows ten calls a second"
        );
        assert!(s.login.password_check_threads() >= 1);

        let off = LoginSettings {
            block_failed_logins: false,
            ..LoginSettings::default()
        };
        assert_eq!(off.protection(), LoginProtection::off());
        let disabled = RateLimitSettings {
            enabled: false,
            ..RateLimitSettings::default()
        };
        assert_eq!(disabled.rule_for("login"), None);
    }

    #[test]
    fn the_whitelist_is_a_comma_separated_list_in_the_environment() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let s = Settings::load_from(
            Some(&write(&dir, "[rate_limit]\nenabled = false\n")?),
            env(&[
                ("UDD__LOGIN__IP_WHITELIST", "10.0.0.1,::1"),
                ("UDD__LOGIN__ATTEMPTS_UNTIL_BLOCK_BY_USER", "3"),
                ("UDD__ACCOUNTS__LOGIN_EXPIRATION_DAYS", "30"),
            ]),
        )?;
        assert_eq!(s.login.ip_whitelist, ["10.0.0.1", "::1"]);
        assert_eq!(s.login.attempts_until_block_by_user, 3);
        assert_eq!(s.accounts.login_expiration_days, 30);
        assert!(!s.rate_limit.enabled);
        Ok(())
    }

    #[test]
    fn the_documented_example_loads() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let example = "[login]\nattempts_until_block_by_user = 5\n\
            time_to_unblock_by_user_in_minutes = 15\nip_whitelist = [\"203.0.113.10\"]\n\
            [rate_limit]\nroutes = [\n  { route = \"users.requestDataDownload\", calls = 1200 },\n\
            \x20 { route = \"me\", calls = 60 },\n]\n[accounts]\nlogin_expiration_days = 30\n";
        let s = Settings::load_from(Some(&write(&dir, example)?), env(&[]))?;
        assert_eq!(
            s.login.protection().by_user.map(|r| r.attempts_until_block),
            Some(5)
        );
        assert_eq!(s.rate_limit.rule_for("me").map(|r| r.calls), Some(60));
        assert_eq!(s.rate_limit.rule_for("logout").map(|r| r.calls), Some(10));
        assert_eq!(s.accounts.login_expiration_days, 30);
        Ok(())
    }

    fn write(dir: &tempfile::TempDir, toml: &str) -> anyhow::Result<std::path::PathBuf> {
        let file = dir.path().join("udd.toml");
        std::fs::write(&file, toml)?;
        Ok(file)
    }
}

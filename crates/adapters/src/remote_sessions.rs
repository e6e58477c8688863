//! Rocket.Chat's own sessions: a login token is checked by asking the workspace who
//! owns it, `GET {url}/api/v1/me` with the same `X-User-Id` and `X-Auth-Token` headers.
//!
//! Whatever the workspace's login was (password, SSO, LDAP, SAML, 2FA), the token it
//! issued is good here exactly as long as it is good there. Only Rocket.Chat's clear "no"
//! (401 or 403) refuses a token; anything else that is not a proper answer (refused
//! connection, timeout, 5xx, a redirect, a body that is not Rocket.Chat's) is
//! [`SessionError::Unavailable`], so an outage never looks like a logout.

use std::io::Read;
use std::time::Duration;
use udd_domain::UserId;

use anyhow::{anyhow, Context};
use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::Value;
use udd_ports::{RemoteSessions, RemoteUser, SessionError};

/// The most of `/me`'s body that is read: a profile is a few kilobytes.
const MAX_BODY: u64 = 1024 * 1024;

/// Checks tokens with one Rocket.Chat workspace.
pub struct RocketChatSessions {
    client: Client,
    me_url: String,
}

impl std::fmt::Debug for RocketChatSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocketChatSessions")
            .field("me_url", &self.me_url)
            .finish()
    }
}

/// A blocking HTTP client for udd's calls to Rocket.Chat's services: `timeout` bounds
/// the connection and each read or write, redirects are not followed (credentials go
/// to the configured host only), and udd names itself.
///
/// Errors: the TLS setup failing.
pub(crate) fn http_client(timeout: std::time::Duration) -> anyhow::Result<Client> {
    let builder = Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("udd/", env!("CARGO_PKG_VERSION")));
    // The blocking client runs its own runtime on a thread of its own; building it
    // there keeps this callable from inside an async runtime.
    std::thread::scope(|scope| scope.spawn(|| builder.build()).join())
        .map_err(|_| anyhow!("building the HTTP client panicked"))?
        .map_err(Into::into)
}

impl RocketChatSessions {
    /// Asks the workspace at `base_url` (`https://chat.example.com`, with or without a
    /// trailing slash), giving up on a connection or answer after `timeout`. Redirects
    /// are not followed: the token goes to the configured host only.
    ///
    /// Errors: a URL that is not `http(s)://`, or the TLS setup failing.
    pub fn new(base_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let base = base_url.trim().trim_end_matches('/');
        anyhow::ensure!(
            base.starts_with("http://") || base.starts_with("https://"),
            "the Rocket.Chat URL `{base}` must start with http:// or https://"
        );
        let me_url = format!("{base}/api/v1/me");
        reqwest::Url::parse(&me_url).with_context(|| format!("the Rocket.Chat URL `{base}`"))?;
        let client = http_client(timeout).context("building the HTTP client for Rocket.Chat")?;
        Ok(Self { client, me_url })
    }

    fn unavailable(&self, err: anyhow::Error) -> SessionError {
        SessionError::Unavailable(err.context(format!("asking {}", self.me_url)))
    }
}

/// A value that can travel in an HTTP header as it is (visible ASCII and spaces).
fn header_safe(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn text(value: &Value, key: &str) -> Option<String> {
    value[key]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The user in `/me`'s answer; `None` when it is not Rocket.Chat's shape.
fn remote_user(me: &Value) -> Option<RemoteUser> {
    let id = text(me, "_id")?;
    let emails = crate::rocketchat::user_emails(me);
    let roles = me["roles"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Some(RemoteUser {
        // A user who has not picked a username yet (possible after an SSO sign-up) is
        // known by their id until they do.
        username: text(me, "username").unwrap_or_else(|| id.clone()),
        name: text(me, "name"),
        emails,
        active: me["active"].as_bool().unwrap_or(true),
        roles,
        language: text(me, "language"),
        id,
    })
}

impl RemoteSessions for RocketChatSessions {
    fn verify(&self, user_id: &UserId, token: &str) -> Result<Option<RemoteUser>, SessionError> {
        if !header_safe(user_id) || !header_safe(token) {
            // Nothing Rocket.Chat issues looks like this, and it could not be sent.
            return Ok(None);
        }
        let response = self
            .client
            .get(&self.me_url)
            .header("X-User-Id", user_id.as_str())
            .header("X-Auth-Token", token)
            .header("Accept", "application/json")
            .send()
            .map_err(|e| self.unavailable(anyhow::Error::new(e)))?;
        let status = response.status();
        match status {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Ok(None),
            other => return Err(self.unavailable(anyhow!("the answer was {other}"))),
        }
        let mut body = Vec::new();
        response
            .take(MAX_BODY)
            .read_to_end(&mut body)
            .map_err(|e| self.unavailable(anyhow::Error::new(e).context("reading the answer")))?;
        let me: Value = serde_json::from_slice(&body).map_err(|e| {
            self.unavailable(anyhow::Error::new(e).context("the answer is not JSON"))
        })?;
        let Some(user) = remote_user(&me) else {
            return Err(self.unavailable(anyhow!(
                "the answer has no `_id`: is this Rocket.Chat's URL?"
            )));
        };
        if user.id != *user_id {
            tracing::warn!(claimed = %user_id, owner = %user.id, "a token of another user was presented");
            return Ok(None);
        }
        Ok(Some(user))
    }
}

#[cfg(test)]
mod tests;

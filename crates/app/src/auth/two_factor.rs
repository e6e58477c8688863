//! The second factor of a password login, as Rocket.Chat asks for it: after the
//! password matched, a user with TOTP must give a code from their authenticator app (or
//! a backup code); a user with e-mail codes is sent one and must give it back.
//!
//! Rocket.Chat's REST login carries the code as `code`. Without it the login is answered
//! `totp-required` (naming the method; for e-mail, the code has just been sent); a wrong,
//! replayed or expired code is `totp-invalid`; an e-mailed code that took too many wrong
//! tries is `totp-max-attempts`.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use udd_domain::i18n::Catalogue;
use udd_domain::render::escape_html;
use udd_domain::two_factor::{backup_code_hash, email_code_hash, is_backup_code};
use udd_domain::{EmailCode, EmailCodeCheck, SecondFactorMethod, TotpRule, User};
use udd_ports::{Clock, Mailer, OneTimeCodes, OutgoingMail, SecondFactorStore, StoreError};

/// Rocket.Chat's `Accounts_TwoFactorAuthentication_*` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwoFactorConfig {
    /// `Accounts_TwoFactorAuthentication_Enabled`: off lets every password login through
    /// on the password alone.
    pub enabled: bool,
    /// How TOTP codes are made and how far off the clock may be
    /// (`Accounts_TwoFactorAuthentication_MaxDelta`).
    pub totp: TotpRule,
    /// How long an e-mailed code works
    /// (`Accounts_TwoFactorAuthentication_By_Email_Code_Expiration`).
    pub email_code_lifetime: Duration,
    /// Wrong codes that kill an e-mailed code
    /// (`Accounts_TwoFactorAuthentication_Max_Invalid_Email_Code_Attempts`).
    pub email_code_max_attempts: u32,
}

impl Default for TwoFactorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            totp: TotpRule::default(),
            email_code_lifetime: Duration::minutes(10),
            email_code_max_attempts: 5,
        }
    }
}

/// What a client is told about the second factor it must give (Rocket.Chat's
/// `details` of a `totp-*` error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The method the login must pass.
    pub method: SecondFactorMethod,
    /// Every method the user has.
    pub available: Vec<SecondFactorMethod>,
    /// For e-mail: who the code went to (the username, as Rocket.Chat says it).
    pub email_or_username: Option<String>,
    /// For e-mail: whether a new code was sent with this answer.
    pub code_generated: Option<bool>,
    /// For e-mail, when no new code was sent: when the earlier one expires.
    pub code_expires: Option<DateTime<Utc>>,
}

/// Why the second factor did not let a login through.
#[derive(Debug, thiserror::Error)]
pub enum SecondFactorError {
    /// No code was given (`totp-required`).
    #[error("TOTP Required")]
    Required(Challenge),
    /// A wrong, replayed or expired code (`totp-invalid`).
    #[error("TOTP Invalid")]
    Invalid(Challenge),
    /// The e-mailed code took too many wrong tries (`totp-max-attempts`).
    #[error("TOTP Maximun Failed Attempts Reached")]
    MaxAttempts(Challenge),
    /// The backend (or the mail server) failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn unexpected(err: StoreError) -> SecondFactorError {
    SecondFactorError::Unexpected(anyhow::Error::new(err))
}

use_case! {
    /// Checks the second factor of a login whose password matched.
    pub struct SecondFactorCheck {
        store: Arc<dyn SecondFactorStore>,
        codes: Arc<dyn OneTimeCodes>,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
        config: TwoFactorConfig,
    }
    /// Builds the check from its ports.
    pub fn new;
}

impl SecondFactorCheck {
    /// Lets the login of `user` through, or says what is missing. `code` is the
    /// login body's `code`, if any.
    pub fn check(&self, user: &User, code: Option<&str>) -> Result<(), SecondFactorError> {
        if !self.config.enabled {
            return Ok(());
        }
        let factors = self.store.of(&user.id).map_err(unexpected)?;
        let available = factors.available(user.emails.iter().any(|e| e.verified));
        let Some(&method) = available.first() else {
            return Ok(());
        };
        let mut challenge = Challenge {
            method,
            available,
            email_or_username: None,
            code_generated: None,
            code_expires: None,
        };
        let code = code.map(str::trim).filter(|c| !c.is_empty());
        match (method, code, factors.totp) {
            (SecondFactorMethod::Totp, None, _) => Err(SecondFactorError::Required(challenge)),
            (SecondFactorMethod::Totp, Some(code), Some(secret)) => {
                let accepted = if is_backup_code(code) {
                    self.store
                        .use_backup_code(&user.id, &backup_code_hash(code))
                        .map_err(unexpected)?
                } else {
                    match self
                        .config
                        .totp
                        .matching_step(&secret, code, self.clock.now())
                    {
                        // A code works once: its step must be later than any used before.
                        Some(step) => self
                            .store
                            .claim_totp_step(&user.id, step)
                            .map_err(unexpected)?,
                        None => false,
                    }
                };
                if accepted {
                    Ok(())
                } else {
                    Err(SecondFactorError::Invalid(challenge))
                }
            }
            (SecondFactorMethod::Totp, Some(_), None) => Err(SecondFactorError::Invalid(challenge)),
            (SecondFactorMethod::Email, None, _) => {
                challenge.email_or_username = Some(user.username.clone());
                self.send_or_reuse_code(user, &mut challenge)?;
                Err(SecondFactorError::Required(challenge))
            }
            (SecondFactorMethod::Email, Some(code), _) => {
                challenge.email_or_username = Some(user.username.clone());
                let checked = self
                    .store
                    .check_email_code(
                        &user.id,
                        &email_code_hash(&user.id, code),
                        self.clock.now(),
                        self.config.email_code_max_attempts,
                    )
                    .map_err(unexpected)?;
                match checked {
                    EmailCodeCheck::Accepted => Ok(()),
                    EmailCodeCheck::Invalid | EmailCodeCheck::NoCode => {
                        Err(SecondFactorError::Invalid(challenge))
                    }
                    EmailCodeCheck::TooManyAttempts => {
                        Err(SecondFactorError::MaxAttempts(challenge))
                    }
                }
            }
        }
    }

    /// Sends a new code unless one that still works was sent already (as Rocket.Chat
    /// does, so asking twice does not flood the mailbox).
    fn send_or_reuse_code(
        &self,
        user: &User,
        challenge: &mut Challenge,
    ) -> Result<(), SecondFactorError> {
        let now = self.clock.now();
        let max = self.config.email_code_max_attempts;
        if let Some(pending) = self.store.email_code(&user.id).map_err(unexpected)? {
            if pending.is_usable(now, max) {
                challenge.code_generated = Some(false);
                challenge.code_expires = Some(pending.expires_at);
                return Ok(());
            }
        }
        let code = self.codes.six_digits();
        let stored = EmailCode {
            hash: email_code_hash(&user.id, &code),
            expires_at: now + self.config.email_code_lifetime,
            failed_attempts: 0,
        };
        self.store
            .put_email_code(&user.id, &stored)
            .map_err(unexpected)?;
        for address in user.emails.iter().filter(|e| e.verified) {
            if let Err(e) = self.mailer.send(&code_mail(&address.address, user, &code)) {
                // Nobody can enter a code that never arrived: kill it, so the next
                // attempt sends a new one instead of waiting for this one to expire.
                let dead = EmailCode {
                    expires_at: now,
                    ..stored.clone()
                };
                if let Err(store) = self.store.put_email_code(&user.id, &dead) {
                    tracing::warn!(error = %store, "could not withdraw an e-mailed code");
                }
                return Err(anyhow::Error::new(e)
                    .context("sending a login code by e-mail")
                    .into());
            }
        }
        challenge.code_generated = Some(true);
        Ok(())
    }
}

/// The mail carrying a login code, worded as Rocket.Chat words it (`123-456`), in the
/// user's language.
fn code_mail(to: &str, user: &User, code: &str) -> OutgoingMail {
    let shown = if code.len() == 6 {
        format!("{}-{}", &code[..3], &code[3..])
    } else {
        code.to_owned()
    };
    let words = Catalogue::for_language(user.language.as_deref());
    let [intro, keep, not_you] =
        ["code.intro", "code.keep", "code.not_you"].map(|key| words.text(key, &[]));
    OutgoingMail {
        to: to.to_owned(),
        to_name: user.name.clone(),
        from_name: None,
        subject: words.text("code.subject", &[]),
        text: format!("{intro}\n\n{shown}\n\n{keep}\n{not_you}\n"),
        html: format!(
            "<p>{}</p><p style=\"font-size: 30px;\"><b>{}</b></p><p>{}</p><p>{}</p>",
            escape_html(&intro),
            escape_html(&shown),
            escape_html(&keep),
            escape_html(&not_you)
        ),
        link: None,
    }
}

#[cfg(test)]
mod tests;

//! Users' second factors (TOTP secret, backup codes, e-mail codes) in the users table,
//! and users refreshed from the chat server's word.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use udd_domain::time::{from_millis, to_millis};
use udd_domain::UserId;
use udd_domain::{EmailCode, EmailCodeCheck, SecondFactors, TotpSecret, User};
use udd_ports::{RemoteUser, SecondFactorStore, StoreError, UserProfiles};

use super::schema::{user_second_factors, users};
use super::users::{load_credentials, UserRow};
use super::workspace::take_over;
use super::{json_list, store_error, to_json, DbConnection, SqliteUsers};
use crate::dialect::Dialect;

fn unexpected(err: diesel::result::Error, what: &str) -> StoreError {
    StoreError::Unexpected(anyhow::Error::new(err).context(what.to_owned()))
}

type EmailCodeRow = (Option<String>, Option<i64>, i32);

fn email_code_of(row: EmailCodeRow) -> Option<EmailCode> {
    let (hash, expires_at, attempts) = row;
    Some(EmailCode {
        hash: hash?,
        expires_at: from_millis(expires_at?),
        failed_attempts: u32::try_from(attempts).unwrap_or(0),
    })
}

/// The e-mailed code stored for `user_id`, if any.
fn stored_email_code(conn: &mut DbConnection, user_id: &UserId) -> QueryResult<Option<EmailCode>> {
    let row: Option<EmailCodeRow> = user_second_factors::table
        .find(user_id.as_str())
        .select((
            user_second_factors::email_code_hash,
            user_second_factors::email_code_expires_at,
            user_second_factors::email_code_attempts,
        ))
        .first(conn)
        .optional()?;
    Ok(row.and_then(email_code_of))
}

impl SecondFactorStore for SqliteUsers {
    fn of(&self, user_id: &UserId) -> Result<SecondFactors, StoreError> {
        let mut conn = self.db().conn()?;
        let row: Option<(Option<String>, bool)> = user_second_factors::table
            .find(user_id.as_str())
            .select((
                user_second_factors::totp_secret,
                user_second_factors::email2fa_enabled,
            ))
            .first(&mut conn)
            .optional()
            .map_err(|e| unexpected(e, "loading a user's second factors"))?;
        let Some((secret, email)) = row else {
            return Ok(SecondFactors::default());
        };
        let totp = secret
            .map(|text| {
                TotpSecret::from_base32(&text).map_err(|e| {
                    StoreError::Unexpected(
                        anyhow::Error::new(e).context(format!("the TOTP secret of user {user_id}")),
                    )
                })
            })
            .transpose()?;
        Ok(SecondFactors { totp, email })
    }

    fn claim_totp_step(&self, user_id: &UserId, step: u64) -> Result<bool, StoreError> {
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        let mut conn = self.db().conn()?;
        // One statement: of two logins with the same code, exactly one moves the step.
        let claimed = diesel::update(
            user_second_factors::table.find(user_id.as_str()).filter(
                user_second_factors::totp_last_step
                    .is_null()
                    .or(user_second_factors::totp_last_step.lt(step)),
            ),
        )
        .set(user_second_factors::totp_last_step.eq(step))
        .execute(&mut conn)
        .map_err(|e| unexpected(e, "recording a used TOTP step"))?;
        Ok(claimed == 1)
    }

    fn use_backup_code(&self, user_id: &UserId, hash: &str) -> Result<bool, StoreError> {
        let mut conn = self.db().conn()?;
        conn.write_transaction(
            Some(&format!("second-factor:{}", user_id.as_str())),
            |conn| {
                let row: Option<(String, String)> = user_second_factors::table
                    .find(user_id.as_str())
                    .select((
                        user_second_factors::totp_backup_codes,
                        user_second_factors::totp_backup_used,
                    ))
                    .first(conn)
                    .optional()?;
                let Some((codes, used)) = row else {
                    return Ok(false);
                };
                let mut used = json_list(&used);
                if !json_list(&codes).iter().any(|c| c == hash) || used.iter().any(|c| c == hash) {
                    return Ok(false);
                }
                used.push(hash.to_owned());
                diesel::update(user_second_factors::table.find(user_id.as_str()))
                    .set(user_second_factors::totp_backup_used.eq(to_json(&used)))
                    .execute(conn)?;
                Ok(true)
            },
        )
        .map_err(|e| unexpected(e, "using a backup code"))
    }

    fn email_code(&self, user_id: &UserId) -> Result<Option<EmailCode>, StoreError> {
        let mut conn = self.db().conn()?;
        stored_email_code(&mut conn, user_id).map_err(|e| unexpected(e, "loading an e-mailed code"))
    }

    fn put_email_code(&self, user_id: &UserId, code: &EmailCode) -> Result<(), StoreError> {
        let mut conn = self.db().conn()?;
        let changed = diesel::update(user_second_factors::table.find(user_id.as_str()))
            .set((
                user_second_factors::email_code_hash.eq(&code.hash),
                user_second_factors::email_code_expires_at.eq(to_millis(code.expires_at)),
                user_second_factors::email_code_attempts
                    .eq(i32::try_from(code.failed_attempts).unwrap_or(i32::MAX)),
            ))
            .execute(&mut conn)
            .map_err(|e| unexpected(e, "storing an e-mailed code"))?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    fn check_email_code(
        &self,
        user_id: &UserId,
        presented_hash: &str,
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<EmailCodeCheck, StoreError> {
        let mut conn = self.db().conn()?;
        conn.write_transaction(
            Some(&format!("second-factor:{}", user_id.as_str())),
            |conn| {
                let Some(code) = stored_email_code(conn, user_id)? else {
                    return Ok(EmailCodeCheck::NoCode);
                };
                let outcome = code.check(presented_hash, now, max_attempts);
                let target = user_second_factors::table.find(user_id.as_str());
                match outcome {
                    EmailCodeCheck::Accepted | EmailCodeCheck::NoCode => {
                        diesel::update(target)
                            .set((
                                user_second_factors::email_code_hash.eq(None::<String>),
                                user_second_factors::email_code_expires_at.eq(None::<i64>),
                                user_second_factors::email_code_attempts.eq(0),
                            ))
                            .execute(conn)?;
                    }
                    EmailCodeCheck::Invalid | EmailCodeCheck::TooManyAttempts => {
                        let attempts = code.failed_attempts.saturating_add(1).min(max_attempts);
                        diesel::update(target)
                            .set(
                                user_second_factors::email_code_attempts
                                    .eq(i32::try_from(attempts).unwrap_or(i32::MAX)),
                            )
                            .execute(conn)?;
                    }
                }
                Ok(outcome)
            },
        )
        .map_err(|e| unexpected(e, "checking an e-mailed code"))
    }
}

impl UserProfiles for SqliteUsers {
    fn refresh(&self, profile: &RemoteUser, at: DateTime<Utc>) -> Result<User, StoreError> {
        let user = User {
            id: profile.id.clone().into(),
            username: profile.username.clone(),
            name: profile.name.clone(),
            emails: profile.emails.clone(),
            roles: profile.roles.clone(),
            status_text: None,
            services: Vec::new(),
            active: profile.active,
            created_at: at,
            language: profile.language.clone(),
        };
        let mut conn = self.db().conn()?;
        let row = conn
            .write_transaction(Some(super::USERS_LOCK), |conn| -> QueryResult<UserRow> {
                take_over(conn, &user)?;
                diesel::insert_into(users::table)
                    .values((
                        users::id.eq(user.id.as_str()),
                        users::username.eq(&user.username),
                        users::name.eq(&user.name),
                        users::roles.eq(to_json(&user.roles)),
                        users::services.eq(to_json(&user.services)),
                        users::active.eq(user.active),
                        users::language.eq(&user.language),
                        users::created_at.eq(to_millis(at)),
                        users::updated_at.eq(to_millis(at)),
                    ))
                    .on_conflict(users::id)
                    .do_update()
                    .set((
                        users::username.eq(&user.username),
                        users::name.eq(&user.name),
                        users::roles.eq(to_json(&user.roles)),
                        users::active.eq(user.active),
                        users::language.eq(&user.language),
                        users::updated_at.eq(to_millis(at)),
                    ))
                    .execute(conn)?;
                super::users::replace_emails(conn, &user.id, &user.emails)?;
                users::table
                    .find(user.id.as_str())
                    .select(UserRow::as_select())
                    .first(conn)
            })
            .map_err(|e| store_error(e, "refreshing a user from Rocket.Chat"))?;
        Ok(load_credentials(&mut conn, row)?.user)
    }
}

#[cfg(test)]
#[path = "second_factors/tests.rs"]
mod tests;

//! RFC 6238 time-based one-time passwords (over RFC 4226's HOTP), as authenticator apps
//! and Rocket.Chat (speakeasy) compute them: HMAC-SHA-1, 6 digits, 30-second steps, the
//! secret written in RFC 4648 base32.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// A shared TOTP secret. It unlocks an account's second factor: its `Debug` never shows
/// it, it has no `Display`, and the only way to read it back is
/// [`TotpSecret::expose_base32`], for storage.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret {
    base32: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret([REDACTED])")
    }
}

/// A secret that is not base32, or is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the TOTP secret is not a non-empty base32 text")]
pub struct InvalidSecret;

impl TotpSecret {
    /// Reads a base32 secret (RFC 4648 alphabet, any case; spaces, dashes and `=`
    /// padding ignored), as Rocket.Chat keeps it in `services.totp.secret`.
    ///
    /// Errors: [`InvalidSecret`] for any other character, a dangling partial byte that
    /// is not zero, or an empty secret.
    pub fn from_base32(text: &str) -> Result<Self, InvalidSecret> {
        let key = base32_decode(text).ok_or(InvalidSecret)?;
        if key.is_empty() {
            return Err(InvalidSecret);
        }
        Ok(Self {
            base32: text.trim().to_owned(),
            key,
        })
    }

    /// The secret as it was given, for storing it again. Never log it.
    pub fn expose_base32(&self) -> &str {
        &self.base32
    }
}

/// RFC 4648 base32 decoding, forgiving about case, spaces, dashes and padding;
/// `None` for a character outside the alphabet or leftover bits that are not zero.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u64 = 0;
    let mut bits = 0u32;
    for c in text.chars() {
        let value = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u64 - 'A' as u64,
            c @ '2'..='7' => c as u64 - '2' as u64 + 26,
            ' ' | '-' | '=' | '\t' | '\n' | '\r' => continue,
            _ => return None,
        };
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    (buffer == 0).then_some(out)
}

/// RFC 4226 HOTP: the `digits`-digit code of `key` for `counter` (HMAC-SHA-1, dynamic
/// truncation), zero-padded.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    let modulus = 10u64.pow(digits.min(9));
    format!(
        "{:0width$}",
        u64::from(binary) % modulus,
        width = digits as usize
    )
}

/// How codes are made and which are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpRule {
    /// Seconds per step (30).
    pub step_seconds: u64,
    /// Digits per code (6).
    pub digits: u32,
    /// Steps before and after the current one whose codes are also accepted, for clock
    /// drift and slow typing: Rocket.Chat's `Accounts_TwoFactorAuthentication_MaxDelta`, 1.
    pub max_delta: u32,
}

impl Default for TotpRule {
    fn default() -> Self {
        Self {
            step_seconds: 30,
            digits: 6,
            max_delta: 1,
        }
    }
}

impl TotpRule {
    /// The step that `at` falls in (0 before 1970).
    pub fn step_at(&self, at: DateTime<Utc>) -> u64 {
        u64::try_from(at.timestamp()).unwrap_or(0) / self.step_seconds.max(1)
    }

    /// The code of `secret` for `step`.
    pub fn code_at_step(&self, secret: &TotpSecret, step: u64) -> String {
        hotp(&secret.key, step, self.digits)
    }

    /// The code of `secret` at `at`.
    pub fn code_at(&self, secret: &TotpSecret, at: DateTime<Utc>) -> String {
        self.code_at_step(secret, self.step_at(at))
    }

    /// The step whose code `code` is, among the current step at `now` and `max_delta`
    /// steps either side; `None` when it is none of them. Spaces and dashes in `code`
    /// are ignored. The caller must still refuse a step already used (replay).
    pub fn matching_step(
        &self,
        secret: &TotpSecret,
        code: &str,
        now: DateTime<Utc>,
    ) -> Option<u64> {
        let code: String = code.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if code.len() != self.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = self.step_at(now);
        let delta = u64::from(self.max_delta);
        // Every candidate is computed and compared, so the time taken does not tell
        // which step (if any) matched.
        (current.saturating_sub(delta)..=current.saturating_add(delta))
            .map(|step| (step, same(&self.code_at_step(secret, step), &code)))
            .fold(
                None,
                |found, (step, equal)| if equal { Some(step) } else { found },
            )
    }
}

/// Compares two texts without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The RFC's seed for SHA-1, "12345678901234567890", in base32.
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    fn secret() -> TotpSecret {
        TotpSecret::from_base32(RFC_SECRET).unwrap()
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).unwrap()
    }

    #[test]
    fn base32_decodes_the_rfc_4648_vectors() {
        for (text, plain) in [
            ("", ""),
            ("MY======", "f"),
            ("MZXQ====", "fo"),
            ("MZXW6===", "foo"),
            ("MZXW6YQ=", "foob"),
            ("MZXW6YTB", "fooba"),
            ("MZXW6YTBOI======", "foobar"),
            ("mzxw 6ytb-oi", "foobar"),
        ] {
            assert_eq!(
                base32_decode(text).as_deref(),
                Some(plain.as_bytes()),
                "{text}"
            );
        }
        assert_eq!(base32_decode(RFC_SECRET).unwrap(), b"12345678901234567890");
        for bad in ["MZXW1", "MZ!W", "é"] {
            assert_eq!(base32_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn hotp_matches_rfc_4226_appendix_d() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(b"12345678901234567890", counter as u64, 6), *code);
        }
    }

    #[test]
    fn totp_matches_rfc_6238_appendix_b_for_sha1() {
        let rule = TotpRule {
            digits: 8,
            ..TotpRule::default()
        };
        for (seconds, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(rule.code_at(&secret(), at(seconds)), code, "T = {seconds}");
        }
    }

    #[test]
    fn codes_of_the_neighbouring_steps_are_accepted_and_older_ones_are_not() {
        let rule = TotpRule::default();
        let now = at(1_234_567_890);
        let step = rule.step_at(now);
        let code = |s: u64| rule.code_at_step(&secret(), s);
        assert_eq!(rule.matching_step(&secret(), &code(step), now), Some(step));
        assert_eq!(
            rule.matching_step(&secret(), &code(step - 1), now),
            Some(step - 1)
        );
        assert_eq!(
            rule.matching_step(&secret(), &code(step + 1), now),
            Some(step + 1)
        );
        // Five minutes ago is ten steps back: refused.
        assert_eq!(rule.matching_step(&secret(), &code(step - 10), now), None);
        assert_eq!(rule.matching_step(&secret(), &code(step - 2), now), None);
        // Spaces as apps show them are fine; anything else is not a code.
        let spaced = format!("{} {}", &code(step)[..3], &code(step)[3..]);
        assert_eq!(rule.matching_step(&secret(), &spaced, now), Some(step));
        for bad in ["", "12345", "1234567", "abcdef"] {
            assert_eq!(rule.matching_step(&secret(), bad, now), None, "{bad}");
        }
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let shown = format!("{:?}", secret());
        assert!(!shown.contains("GEZD"), "{shown}");
        assert_eq!(secret().expose_base32(), RFC_SECRET);
        assert_eq!(TotpSecret::from_base32("").unwrap_err(), InvalidSecret);
        assert_eq!(
            TotpSecret::from_base32("not base32!").unwrap_err(),
            InvalidSecret
        );
    }
}

//! The signed download link token (`udd_adapters::links::HmacDownloadLinks`).
//!
//! `verify` reads `<expiry>.<tag>` from a query string anyone can type. It never
//! panics; it accepts a token only for the exact file, owner and expiry that were
//! signed (and only before that expiry); it says `Expired` only for a token whose
//! signature is good, so an attacker learns nothing from the difference; and a signed
//! token changed in any way, or checked against another file, owner or secret, is
//! refused.

#![no_main]

use arbitrary::Arbitrary;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use udd_adapters::HmacDownloadLinks;
use udd_domain::{FileId, UserId};
use udd_ports::{DownloadLinks, LinkError};

const SECRET: &[u8] = b"fuzzing-secret-0123456789abcdef";
const OTHER_SECRET: &[u8] = b"another-secret-0123456789abcdef";

#[derive(Debug, Arbitrary)]
enum Edit {
    None,
    /// Overwrite the byte at a position.
    Set(u16, u8),
    /// Insert a byte at a position.
    Insert(u16, u8),
    /// Remove the byte at a position.
    Remove(u16),
    /// Replace the expiry with another number, keeping the tag.
    Expiry(i64),
    /// Put arbitrary text in front of or behind the token.
    Wrap(String, String),
}

#[derive(Debug, Arbitrary)]
struct Input {
    file_id: String,
    owner: String,
    other_file_id: String,
    other_owner: String,
    expires: i64,
    now: i64,
    /// A token the fuzzer makes up from nothing.
    token: String,
    /// A change to a genuinely signed token.
    edit: Edit,
}

/// Clamps seconds into chrono's range.
fn instant(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or(if secs < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// A token `verify` did not reject as invalid must carry a signature over exactly
/// (file, owner, the expiry it states): the canonical token for those inputs has the
/// same expiry value and the same tag.
fn assert_genuine(
    links: &HmacDownloadLinks,
    token: &str,
    file_id: &FileId,
    owner: &UserId,
    now: DateTime<Utc>,
    result: Result<(), LinkError>,
) {
    if result == Err(LinkError::Invalid) {
        return;
    }
    let (expiry, tag) = token
        .split_once('.')
        .unwrap_or_else(|| panic!("{token:?} accepted ({result:?}) without a dot"));
    let expiry: i64 = expiry
        .parse()
        .unwrap_or_else(|_| panic!("{token:?} accepted ({result:?}) without a number"));
    let signed_until = DateTime::from_timestamp(expiry, 0).unwrap_or_else(|| {
        panic!("{token:?} accepted ({result:?}) with an expiry chrono cannot hold")
    });
    let canonical = links.sign(file_id, owner, signed_until);
    let (_, canonical_tag) = canonical.split_once('.').unwrap_or_default();
    assert_eq!(
        tag, canonical_tag,
        "{token:?} accepted ({result:?}) for {file_id:?}/{owner:?} with another tag"
    );
    assert_eq!(
        result,
        if now.timestamp() < expiry {
            Ok(())
        } else {
            Err(LinkError::Expired)
        },
        "{token:?} at {now}"
    );
}

fn edited(token: &str, edit: &Edit) -> String {
    let mut bytes = token.as_bytes().to_vec();
    match edit {
        Edit::None => {}
        Edit::Set(at, byte) => {
            let at = usize::from(*at) % bytes.len();
            bytes[at] = *byte;
        }
        Edit::Insert(at, byte) => {
            let at = usize::from(*at) % (bytes.len() + 1);
            bytes.insert(at, *byte);
        }
        Edit::Remove(at) => {
            let at = usize::from(*at) % bytes.len();
            bytes.remove(at);
        }
        Edit::Expiry(expiry) => {
            let (_, tag) = token.split_once('.').unwrap_or_default();
            return format!("{expiry}.{tag}");
        }
        Edit::Wrap(before, after) => return format!("{before}{token}{after}"),
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fuzz_target!(|input: Input| {
    let links = HmacDownloadLinks::new(SECRET).unwrap_or_else(|e| panic!("{e}"));
    let other = HmacDownloadLinks::new(OTHER_SECRET).unwrap_or_else(|e| panic!("{e}"));
    let now = instant(input.now);
    let expires = instant(input.expires);
    let (file_id, owner) = (FileId::from(&input.file_id), UserId::from(&input.owner));
    let (other_file_id, other_owner) = (
        FileId::from(&input.other_file_id),
        UserId::from(&input.other_owner),
    );

    // A token made up from nothing: never a panic, accepted only if it is genuine.
    let result = links.verify(&input.token, &file_id, &owner, now);
    assert_genuine(
        &links,
        &input.token,
        &file_id,
        &owner,
        now,
        result,
    );

    // A signed token opens its own file until it expires, in its one canonical form.
    let token = links.sign(&file_id, &owner, expires);
    let (expiry, tag) = token.split_once('.').unwrap_or_else(|| panic!("{token:?}"));
    assert_eq!(expiry, expires.timestamp().to_string());
    assert_eq!(
        URL_SAFE_NO_PAD.decode(tag).map(|t| t.len()),
        Ok(32),
        "{token:?}"
    );
    let expected = if now.timestamp() < expires.timestamp() {
        Ok(())
    } else {
        Err(LinkError::Expired)
    };
    assert_eq!(
        links.verify(&token, &file_id, &owner, now),
        expected,
        "{token:?} at {now}"
    );

    // Nowhere else: another file, another owner, another secret.
    if (&other_file_id, &other_owner) != (&file_id, &owner) {
        assert_eq!(
            links.verify(&token, &other_file_id, &other_owner, now),
            Err(LinkError::Invalid),
            "{token:?} for {:?}/{:?} opened {:?}/{:?}",
            input.file_id,
            input.owner,
            input.other_file_id,
            input.other_owner
        );
    }
    assert_eq!(
        other.verify(&token, &file_id, &owner, now),
        Err(LinkError::Invalid)
    );

    // A changed token still names the same file, owner and expiry, or is refused.
    let changed = edited(&token, &input.edit);
    let result = links.verify(&changed, &file_id, &owner, now);
    assert_genuine(&links, &changed, &file_id, &owner, now, result);
});

//! Form tokens (CSRF protection) signed with HMAC-SHA256 under a key derived from the
//! download link secret, so every process that shares the link secret accepts the
//! forms the others showed, and no token can be mistaken for a download link.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use udd_ports::FormTokens;

/// What the link secret is bound to when the form key is derived from it.
const DERIVATION_LABEL: &[u8] = b"udd form tokens v1";

/// Form tokens: `base64url(HMAC-SHA256(key, binding))`.
#[derive(Clone)]
pub struct HmacFormTokens {
    key: Vec<u8>,
}

impl std::fmt::Debug for HmacFormTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacFormTokens").finish_non_exhaustive()
    }
}

fn hmac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

impl HmacFormTokens {
    /// Tokens under a key derived from `link_secret` (never the secret itself).
    pub fn derived_from(link_secret: &[u8]) -> Self {
        let mut mac = hmac(link_secret);
        mac.update(DERIVATION_LABEL);
        Self {
            key: mac.finalize().into_bytes().to_vec(),
        }
    }

    fn mac(&self, binding: &str) -> Hmac<Sha256> {
        let mut mac = hmac(&self.key);
        mac.update(binding.as_bytes());
        mac
    }
}

impl FormTokens for HmacFormTokens {
    fn issue(&self, binding: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(binding).finalize().into_bytes())
    }

    fn verify(&self, binding: &str, token: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(token.trim())
            .is_ok_and(|tag| self.mac(binding).verify_slice(&tag).is_ok())
    }

    fn nonce(&self) -> String {
        let mut bytes = [0_u8; 24];
        rand::rng().fill_bytes(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_only_the_forms_of_its_binding_and_key() {
        let tokens = HmacFormTokens::derived_from(b"0123456789abcdef-secret");
        let token = tokens.issue("session-a");
        assert!(tokens.verify("session-a", &token));
        assert!(!tokens.verify("session-b", &token));
        assert!(!tokens.verify("session-a", ""));
        assert!(!tokens.verify("session-a", "not base64 !"));
        let other = HmacFormTokens::derived_from(b"another-secret-of-length");
        assert!(!other.verify("session-a", &token));
    }

    #[test]
    fn the_form_key_is_not_the_link_secret() {
        let secret = b"0123456789abcdef-secret";
        let tokens = HmacFormTokens::derived_from(secret);
        assert_ne!(tokens.key, secret.to_vec());
    }

    #[test]
    fn nonces_differ() {
        let tokens = HmacFormTokens::derived_from(b"0123456789abcdef-secret");
        assert_ne!(tokens.nonce(), tokens.nonce());
        assert!(tokens.nonce().len() >= 32);
    }
}

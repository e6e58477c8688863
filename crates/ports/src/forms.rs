//! Tokens that tie a web form to the visitor it was shown to (protection against
//! cross-site request forgery).

/// Issues and checks form tokens. A token is bound to a `binding` string (a session
/// token, or a random value kept in a cookie of a visitor who is not signed in), so a
/// page on another site, which cannot read either, cannot forge a valid form.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait FormTokens: Send + Sync {
    /// The token for forms shown to whoever holds `binding`.
    fn issue(&self, binding: &str) -> String;

    /// Whether `token` was issued for `binding` (compared in constant time).
    fn verify(&self, binding: &str, token: &str) -> bool;

    /// A fresh random value to bind a signed-out visitor's forms to.
    fn nonce(&self) -> String;
}

//! The size and SHA-256 of a stream of bytes, as manifests, file records and ETags
//! state them.

use std::io::Read;

use sha2::{Digest, Sha256};

/// Reads `content` to its end: its size in bytes and its SHA-256, lowercase hex.
pub fn sha256_of(content: &mut dyn Read) -> std::io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let size = std::io::copy(content, &mut hasher)?;
    Ok((size, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_of_a_known_text() -> std::io::Result<()> {
        let (size, sha) = sha256_of(&mut &b"second"[..])?;
        assert_eq!(size, 6);
        assert_eq!(
            sha,
            "16367aacb67a4a017c8da8ab95682ccb390863780f7114dda0a0e0c55644c7c4"
        );
        Ok(())
    }
}

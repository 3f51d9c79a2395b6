//! The token format: `tsr_` + 32 random base62 characters + a 6-character
//! base62 CRC32 of everything before it (GitHub's scheme), 42 characters.
//! The checksum lets secret scanners recognise a Tessera token and lets the
//! server reject a mistyped or made-up one without a database query.

use rand::{distributions::Alphanumeric, Rng as _};
use sha2::{Digest, Sha256};

/// NEVER CHANGE: every token ever issued starts with it, and secret scanners
/// are configured to look for it.
pub const PREFIX: &str = "tsr_";
/// Random base62 characters after the prefix.
pub const RANDOM_LEN: usize = 32;
/// Base62 characters of the checksum at the end.
pub const CHECKSUM_LEN: usize = 6;
/// Length of a whole token (42 characters).
pub const TOKEN_LEN: usize = PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;
/// Random characters kept in the display hint.
pub const HINT_RANDOM_LEN: usize = 4;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The checksum characters of `body` (ASCII; no allocation).
fn base62_checksum(body: &str) -> [u8; CHECKSUM_LEN] {
    let mut n = crc32fast::hash(body.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// A token in the clear: exists only between creation and the response that
/// shows it once. `Debug` never prints it.
pub struct Plaintext(String);

impl Plaintext {
    /// The token text, for the one response that shows it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The token text, consuming the wrapper.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Plaintext(<redacted>)")
    }
}

/// What is stored for a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The token's sha256, which a presented token is looked up by.
    pub hash: Vec<u8>,
    /// `tsr_` and the first random characters, to tell tokens apart.
    pub hint: String,
}

/// A new random token and what to store for it.
pub fn generate() -> (Plaintext, Stored) {
    let random: String = rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(RANDOM_LEN)
        .map(char::from)
        .collect();
    let mut token = format!("{PREFIX}{random}");
    let checksum = base62_checksum(&token);
    token.extend(checksum.map(char::from));
    let stored = Stored {
        hash: hash(&token),
        hint: format!("{PREFIX}{}", &random[..HINT_RANDOM_LEN]),
    };
    (Plaintext(token), stored)
}

/// A random id for a rendered create form (not a secret).
pub fn form_id() -> String {
    rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}

/// The stored hash of a token: sha256.
pub fn hash(token: &str) -> Vec<u8> {
    digest(token).to_vec()
}

/// [`hash`] as a fixed-size array (no allocation; the verifier's lookup).
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// True when `candidate` has the shape and checksum of a Tessera token.
/// Works on bytes: any input, of any length or encoding, is answered
/// without panicking (nothing is sliced inside a character).
pub fn is_well_formed(candidate: &str) -> bool {
    let bytes = candidate.as_bytes();
    if bytes.len() != TOKEN_LEN
        || !bytes.starts_with(PREFIX.as_bytes())
        || !bytes[PREFIX.len()..].iter().all(u8::is_ascii_alphanumeric)
    {
        return false;
    }
    // all ASCII from here on, so the split is on a character boundary
    let (body, checksum) = candidate.split_at(PREFIX.len() + RANDOM_LEN);
    base62_checksum(body) == checksum.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_never_changes() {
        assert_eq!(PREFIX, "tsr_");
        assert_eq!(TOKEN_LEN, 42);
    }

    #[test]
    fn the_checksum_is_base62_crc32_of_the_body() {
        // a known answer (computed independently: zlib.crc32, base62 digits)
        // so that issued tokens keep verifying whatever the code becomes
        assert!(is_well_formed("tsr_0123456789abcdefghijABCDEFGHIJxy2HQKvj"));
        assert!(!is_well_formed(
            "tsr_0123456789abcdefghijABCDEFGHIJxy2HQKvk"
        ));
    }

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let (a, sa) = generate();
        let (b, _) = generate();
        assert_ne!(a.expose(), b.expose());
        assert!(is_well_formed(a.expose()));
        assert_eq!(a.expose().len(), 42);
        assert_eq!(sa.hash, hash(a.expose()));
        assert_eq!(sa.hint, a.expose()[..8]);
        assert_eq!(format!("{a:?}"), "Plaintext(<redacted>)");
    }

    #[test]
    fn a_mistyped_token_fails_the_checksum() {
        let (t, _) = generate();
        let s = t.expose();
        let mut chars: Vec<char> = s.chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert!(!is_well_formed(&typo));
        assert!(!is_well_formed(&s[..41]));
        assert!(!is_well_formed(&s.replace("tsr_", "ghp_")));
        assert!(!is_well_formed(""));
    }

    #[test]
    fn non_ascii_of_the_right_length_is_refused_without_panicking() {
        // 42 bytes with a two-byte character across the checksum boundary
        let sneaky = format!("tsr_{}é{}", "a".repeat(31), "b".repeat(5));
        assert_eq!(sneaky.len(), TOKEN_LEN);
        assert!(!is_well_formed(&sneaky));
        let tail = format!("tsr_{}{}é", "a".repeat(32), "b".repeat(4));
        assert_eq!(tail.len(), TOKEN_LEN);
        assert!(!is_well_formed(&tail));
    }
}

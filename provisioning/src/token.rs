//! One-time join tokens. IT hands a token to whoever sets up a Pi; the cloud keeps only its
//! hash, so a copy of the database lets no one join.

use onestop_credentials::crockford;
use sha2::{Digest, Sha256};

/// Every token starts with this, so a token is recognisable in a config file or a log.
pub const PREFIX: &str = "ostk_";

/// The number of base32 characters after the prefix (130 random bits).
const BODY_LEN: usize = 26;

/// A new one-time join token: `ostk_` and 26 lower-case Crockford base32 characters, 130
/// bits from the operating system's random source.
///
/// # Panics
/// If the operating system has no random source (it always has on Linux).
pub fn new_token() -> String {
    let mut bytes = [0u8; BODY_LEN];
    getrandom::fill(&mut bytes).expect("the operating system has no random source");
    let mut token = String::with_capacity(PREFIX.len() + BODY_LEN);
    token.push_str(PREFIX);
    // 256 is a multiple of 32: each byte's low 5 bits are uniform.
    token.extend(
        bytes.iter().map(|b| (crockford::ALPHABET[usize::from(b & 31)] as char).to_ascii_lowercase()),
    );
    token
}

/// Whether `token` has the shape of a join token (after the same normalisation as
/// [`token_hash`]); says nothing about whether it is valid.
pub fn looks_like_token(token: &str) -> bool {
    let t = normalise(token);
    t.strip_prefix(PREFIX)
        .is_some_and(|body| body.len() == BODY_LEN && body.chars().all(|c| crockford::value(c).is_some()))
}

/// The hex SHA-256 of the token: what the registry stores and looks up. The token is first
/// trimmed and lower-cased, and after the prefix O is read as 0 and I or L as 1, so a token
/// typed by hand from a printout still matches.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(normalise(token).as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn normalise(token: &str) -> String {
    let t = token.trim().to_ascii_lowercase();
    match t.strip_prefix(PREFIX) {
        Some(body) => {
            let body: String = body
                .chars()
                .map(|c| match c {
                    'o' => '0',
                    'i' | 'l' => '1',
                    c => c,
                })
                .collect();
            format!("{PREFIX}{body}")
        }
        None => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_prefix_and_26_base32_characters_and_differ() {
        let a = new_token();
        assert!(a.starts_with("ostk_"), "{a}");
        assert_eq!(a.len(), 5 + 26, "{a}");
        assert!(a[5..].chars().all(|c| "0123456789abcdefghjkmnpqrstvwxyz".contains(c)), "{a}");
        assert!(looks_like_token(&a));
        let many: std::collections::BTreeSet<String> = (0..1000).map(|_| new_token()).collect();
        assert_eq!(many.len(), 1000);
        // All 32 symbols turn up: the body is not from a smaller alphabet.
        let symbols: std::collections::BTreeSet<char> = many.iter().flat_map(|t| t[5..].chars()).collect();
        assert_eq!(symbols.len(), 32);
    }

    #[test]
    fn the_hash_is_hex_sha256_and_forgives_hand_typing() {
        let t = "ostk_0123456789abcdefghjkmnpqrs";
        let h = token_hash(t);
        assert_eq!(h.len(), 64);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        // `printf %s ostk_0123456789abcdefghjkmnpqrs | sha256sum`
        assert_eq!(h, "1e0cba584a7385b72bf1b144cb0632beeef673010c2e4820b816ac008dde9fb1");
        assert_eq!(token_hash(" OSTK_O123456789ABCDEFGHJKMNPQRS\n"), h);
        assert_eq!(token_hash("ostk_0l23456789abcdefghjkmnpqrs"), h);
        assert_ne!(token_hash("ostk_0123456789abcdefghjkmnpqrt"), h);
        assert!(!looks_like_token("ostk_short"));
        assert!(!looks_like_token("0123456789abcdefghjkmnpqrs"));
    }
}

//! Window PINs and back-office passwords (argon2id), pseudonymous visitor ids (a keyed hash of
//! the card number), short codes people read aloud, random tokens and comparing secrets in
//! constant time.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use hmac::{Hmac, KeyInit, Mac};
use onestop_model::VisitorId;
use sha2::Sha256;

/// A PIN that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("PIN 须为 4 到 12 位数字 / a PIN is 4 to 12 digits")]
    Shape,
    #[error("密码须为 10 到 128 个字符 / a password is 10 to 128 characters")]
    PasswordShape,
    #[error("无法计算 PIN 散列 / could not hash the PIN: {0}")]
    Hash(String),
}

/// The argon2id PHC string of a window PIN.
pub fn hash_pin(pin: &str) -> Result<String, PinError> {
    if !(4..=12).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PinError::Shape);
    }
    Argon2::default()
        .hash_password(pin.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PinError::Hash(e.to_string()))
}

/// Does `pin` match the stored `hash`? A malformed hash matches nothing.
pub fn verify_pin(hash: &str, pin: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(pin.as_bytes(), &h).is_ok())
}

/// The argon2id PHC string of a back-office password (10 to 128 characters).
pub fn hash_password(password: &str) -> Result<String, PinError> {
    let n = password.chars().count();
    if !(10..=128).contains(&n) {
        return Err(PinError::PasswordShape);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PinError::Hash(e.to_string()))
}

/// Does `password` match the stored `hash`? A malformed hash matches nothing.
pub fn verify_password(hash: &str, password: &str) -> bool {
    verify_pin(hash, password)
}

/// The campus-wide key that turns card numbers into visitor pseudonyms.
#[derive(Clone)]
pub struct VisitorKey([u8; 32]);

impl std::fmt::Debug for VisitorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VisitorKey(…)")
    }
}

impl VisitorKey {
    pub fn new(bytes: [u8; 32]) -> VisitorKey {
        VisitorKey(bytes)
    }

    /// Reads a key written as 64 hexadecimal digits.
    pub fn from_hex(s: &str) -> Option<VisitorKey> {
        let s = s.trim();
        if s.len() != 64 {
            return None;
        }
        let mut key = [0u8; 32];
        for (i, b) in key.iter_mut().enumerate() {
            *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(VisitorKey(key))
    }

    /// The pseudonym of a card: 10 base-32 characters (50 bits) of HMAC-SHA256. The same card
    /// gives the same pseudonym in every hall; the card number cannot be read back from it.
    /// 50 bits keep a campus of 100,000 cards free of collisions (about 1 chance in 200,000)
    /// while every day document carries thousands of them.
    pub fn pseudonym(&self, card: &str) -> VisitorId {
        const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("any key length");
        mac.update(card.trim().as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut bits: u64 = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        let mut out = String::with_capacity(10);
        for _ in 0..10 {
            out.push(ALPHABET[(bits >> 59) as usize] as char);
            bits <<= 5;
        }
        VisitorId(out)
    }
}

/// A short code people can read aloud and type: no 0/O, 1/I/L.
pub fn random_code(len: usize) -> String {
    const ALPHABET: &[u8; 31] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut out = String::with_capacity(len);
    let mut byte = [0u8; 1];
    while out.len() < len {
        getrandom::fill(&mut byte).expect("the OS random source");
        // 248 = 8 × 31: reject the rest so every character is equally likely.
        if byte[0] < 248 {
            out.push(ALPHABET[usize::from(byte[0] % 31)] as char);
        }
    }
    out
}

/// `bytes` random bytes as lowercase hex (twice as many digits): session, CSRF and one-time
/// tokens.
pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).expect("the OS random source");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Compares two secrets (tokens, codes) in a time that does not depend on where they differ:
/// every byte is looked at; only a difference in length answers early (lengths are not secret).
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    // `black_box` keeps the optimiser from turning the fold into an early exit.
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| std::hint::black_box(acc | (x ^ y)));
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins() {
        let h = hash_pin("482913").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_pin(&h, "482913"));
        assert!(!verify_pin(&h, "482914"));
        assert!(!verify_pin("garbage", "482913"));
        assert_eq!(hash_pin("12a4"), Err(PinError::Shape));
        assert_eq!(hash_pin("123"), Err(PinError::Shape));
    }

    #[test]
    fn pseudonyms_are_keyed_and_stable() {
        let k1 = VisitorKey::new([1; 32]);
        let k2 = VisitorKey::new([2; 32]);
        let a = k1.pseudonym("2023010203");
        assert_eq!(a, k1.pseudonym(" 2023010203 "));
        assert_eq!(a.as_str().len(), 10);
        assert_ne!(a, k1.pseudonym("2023010204"));
        assert_ne!(a, k2.pseudonym("2023010203"));
        assert!(!a.as_str().contains("2023"));
        assert!(VisitorKey::from_hex(&"ab".repeat(32)).is_some());
        assert!(VisitorKey::from_hex("abc").is_none());
    }

    #[test]
    fn codes() {
        let c = random_code(6);
        assert_eq!(c.len(), 6);
        assert!(c.chars().all(|c| c.is_ascii_uppercase() || ('2'..='9').contains(&c)));
        assert!(!c.contains(['0', 'O', '1', 'I', 'L']));
    }

    #[test]
    fn random_hex_is_hex_of_the_asked_length() {
        let t = random_hex(16);
        assert_eq!(t.len(), 32);
        assert!(t.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(random_hex(32).len(), 64);
        assert_ne!(random_hex(16), t);
    }

    #[test]
    fn secrets_compare_exactly() {
        let t = random_hex(16);
        assert!(same_secret(&t, &t.clone()));
        assert!(same_secret("", ""));
        assert!(!same_secret(&t, &random_hex(16)));
        assert!(!same_secret(&t, &t[..31]), "a prefix is not the secret");
        assert!(!same_secret(&t[..31], &t));
        assert!(!same_secret("", "a"));
        // A difference at either end, or only in case, is a difference.
        assert!(!same_secret("abcdef", "bbcdef"));
        assert!(!same_secret("abcdef", "abcdeg"));
        assert!(!same_secret("abcdef", "ABCDEF"));
    }
}

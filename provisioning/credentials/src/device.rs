//! Device ids: who a device is, derived from its own public key, in a form people can read
//! aloud and compare.
//!
//! A device id is the first 80 bits of SHA-256 over the key's SubjectPublicKeyInfo (DER),
//! written as 16 Crockford base32 characters in groups of four plus one check character
//! (Luhn mod 32 over the same alphabet): `7K2M-9QXA-C4TZ-H81B-R`. Any single mistyped
//! character is caught by the check.

use crate::CredentialError;
use crate::crockford;
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// The Luhn mod 32 check value of `digits` (each 0..32).
fn luhn_check(digits: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut add = u32::from(d) * if i % 2 == 0 { 2 } else { 1 };
        add = add / 32 + add % 32;
        sum += add;
    }
    ((32 - sum % 32) % 32) as u8
}

/// A device's id, derived from its public key. [`Display`](fmt::Display) gives the canonical
/// form `XXXX-XXXX-XXXX-XXXX-C` (upper case, dashes, check character last); two ids are equal
/// exactly when their canonical forms are.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(String);

impl DeviceId {
    /// The id of the device whose public key is `spki_der` (a DER SubjectPublicKeyInfo).
    pub fn of_public_key(spki_der: &[u8]) -> DeviceId {
        let hash = Sha256::digest(spki_der);
        // 80 bits → 16 characters of 5 bits.
        let bits = hash[..10].iter().fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
        let digits: Vec<u8> = (0..16).rev().map(|i| ((bits >> (i * 5)) & 31) as u8).collect();
        DeviceId::from_digits(&digits)
    }

    /// The id of the device that signed the CSR (PEM). The CSR's signature is verified first:
    /// a CSR not signed by the key it carries has no device id.
    pub fn of_csr(csr_pem: &str) -> Result<DeviceId, CredentialError> {
        Ok(DeviceId::of_public_key(&crate::csr::verified_public_key(csr_pem)?))
    }

    /// The id of the device whose private key (PKCS#8 PEM, `PRIVATE KEY`) is `key_pem`.
    pub fn of_key_pem(key_pem: &str) -> Result<DeviceId, CredentialError> {
        use rcgen::PublicKeyData;
        let key = rcgen::KeyPair::from_pem(key_pem).map_err(|e| CredentialError::BadKey(e.to_string()))?;
        Ok(DeviceId::of_public_key(&key.subject_public_key_info()))
    }

    /// The id of the device a certificate (DER) was issued to, e.g. a node's TLS client
    /// certificate: equal to the id of the CSR it was made from.
    pub fn of_certificate(cert_der: &[u8]) -> Result<DeviceId, CredentialError> {
        let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
            .map_err(|e| CredentialError::BadCertificate(format!("unreadable certificate: {e}")))?;
        Ok(DeviceId::of_public_key(cert.public_key().raw))
    }

    /// The canonical form, as [`Display`](fmt::Display) writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn from_digits(digits: &[u8]) -> DeviceId {
        let check = luhn_check(digits);
        let mut s = String::with_capacity(21);
        for (i, &d) in digits.iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                s.push('-');
            }
            s.push(crockford::ALPHABET[usize::from(d)] as char);
        }
        s.push('-');
        s.push(crockford::ALPHABET[usize::from(check)] as char);
        DeviceId(s)
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DeviceId {
    type Err = CredentialError;

    /// Reads a device id as a person types it: any case, with or without dashes or spaces,
    /// O for 0 and I or L for 1. A wrong check character is an error that says a character
    /// was mistyped.
    fn from_str(s: &str) -> Result<DeviceId, CredentialError> {
        let bad = |why: String| CredentialError::BadDeviceId { input: s.to_string(), why };
        let mut digits = Vec::with_capacity(17);
        for c in s.chars().filter(|c| *c != '-' && !c.is_whitespace()) {
            match crockford::value(c) {
                Some(v) => digits.push(v),
                None => return Err(bad(format!("含无效字符 / {c:?} is not a device id character"))),
            }
        }
        if digits.len() != 17 {
            return Err(bad(format!(
                "应为 16 个字符加 1 个校验字符 / a device id has 16 characters and a check character, this has {}",
                digits.len()
            )));
        }
        let id = DeviceId::from_digits(&digits[..16]);
        if luhn_check(&digits[..16]) != digits[16] {
            return Err(bad(
                "校验字符不符，有字符输错 / the check character does not match: a character was mistyped"
                    .into(),
            ));
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DeviceId {
        DeviceId::of_public_key(b"some public key")
    }

    #[test]
    fn the_canonical_form_is_four_groups_and_a_check_character() {
        let id = sample().to_string();
        assert_eq!(id.len(), 21, "{id}");
        let groups: Vec<&str> = id.split('-').collect();
        assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), [4, 4, 4, 4, 1], "{id}");
        assert!(id.chars().all(|c| c == '-' || crockford::ALPHABET.contains(&(c as u8))), "{id}");
        assert_eq!(id.parse::<DeviceId>().unwrap(), sample());
        // Deterministic, and different keys give different ids.
        assert_eq!(sample(), DeviceId::of_public_key(b"some public key"));
        assert_ne!(sample(), DeviceId::of_public_key(b"another public key"));
    }

    #[test]
    fn typing_is_forgiving_about_case_dashes_and_look_alikes() {
        let id = sample();
        let plain: String = id.as_str().chars().filter(|c| *c != '-').collect();
        assert_eq!(plain.parse::<DeviceId>().unwrap(), id);
        assert_eq!(id.as_str().to_lowercase().parse::<DeviceId>().unwrap(), id);
        assert_eq!(id.as_str().replace('-', " ").parse::<DeviceId>().unwrap(), id);
        let known = DeviceId::from_digits(&[0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
        let typed = known.as_str().replacen('0', "o", 1).replacen('1', "l", 1).replacen('1', "I", 1);
        assert_eq!(typed.parse::<DeviceId>().unwrap(), known, "{typed}");
    }

    #[test]
    fn every_single_character_typo_is_caught() {
        for key in [&b"one"[..], b"two", b"three", b"a much longer public key, as DER would be"] {
            let id = DeviceId::of_public_key(key);
            let chars: Vec<char> = id.as_str().chars().collect();
            for pos in (0..chars.len()).filter(|&p| chars[p] != '-') {
                for &other in crockford::ALPHABET.iter().filter(|&&c| c as char != chars[pos]) {
                    let mut typo = chars.clone();
                    typo[pos] = other as char;
                    let typo: String = typo.into_iter().collect();
                    let err = typo.parse::<DeviceId>().expect_err(&typo).to_string();
                    assert!(err.contains("check character does not match"), "{typo}: {err}");
                }
            }
        }
    }

    #[test]
    fn wrong_characters_and_lengths_are_refused_with_a_reason() {
        let id = sample();
        let err = id.as_str().replacen(|c: char| c.is_ascii_alphanumeric(), "U", 1).parse::<DeviceId>();
        assert!(err.unwrap_err().to_string().contains("'U' is not a device id character"));
        let short = &id.as_str()[..id.as_str().len() - 2];
        assert!(short.parse::<DeviceId>().unwrap_err().to_string().contains("this has 16"));
        assert!("".parse::<DeviceId>().is_err());
    }

    #[test]
    fn the_key_its_csr_and_its_certificate_give_the_same_id() {
        let key = rcgen::KeyPair::generate().unwrap();
        let id = DeviceId::of_key_pem(&key.serialize_pem()).unwrap();
        let params = rcgen::CertificateParams::new(vec!["asks-for-a-name".to_string()]).unwrap();
        let csr = params.serialize_request(&key).unwrap().pem().unwrap();
        assert_eq!(DeviceId::of_csr(&csr).unwrap(), id);
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(DeviceId::of_certificate(cert.der()).unwrap(), id);
        let other = rcgen::KeyPair::generate().unwrap();
        assert_ne!(DeviceId::of_key_pem(&other.serialize_pem()).unwrap(), id);

        assert!(matches!(DeviceId::of_key_pem("not a key"), Err(CredentialError::BadKey(_))));
        assert!(matches!(DeviceId::of_certificate(b"not DER"), Err(CredentialError::BadCertificate(_))));
        assert!(matches!(DeviceId::of_csr("not a CSR"), Err(CredentialError::BadCsr(_))));
        let err = DeviceId::of_csr(&cert.pem()).unwrap_err();
        assert!(err.to_string().contains("not a CERTIFICATE REQUEST"), "{err}");
    }
}

//! Booking tokens: what the QR code on a booking confirmation carries, signed by the cloud and
//! verified by a hall offline with the public key published in the catalogue.
//!
//! A token is `OSB1.` followed by the payload and its Ed25519 signature in base 32 (RFC 4648,
//! upper case, no padding): only capital letters, digits and a dot, so a QR code holds it in
//! its compact alphanumeric mode and a scanner that types like a keyboard types it as it is
//! (lower case is read too). Decoding is strict (no stray bits, no padding), so a token has
//! exactly one spelling and any changed character fails.
//!
//! The payload (version 1), every string as a length byte and UTF-8 bytes: booking id, hall,
//! day (i32 days since 1970), service, slot start (u32 minutes since 1970), slot length (u16
//! minutes), code, then 0 or 1 and the visitor (pseudonym, kind as a byte, college).

use onestop_model::{
    Booking, BookingId, Day, HallId, PersonKind, ServiceId, Source, Timestamp, Visitor, VisitorId,
};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

/// What every token of this version starts with.
pub const PREFIX: &str = "OSB1.";

/// Signed together with the payload, so a signature over something else never passes.
const CONTEXT: &[u8] = b"onestop booking token v1\0";

/// What a token says: a booking, as the cloud made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingClaim {
    pub booking: BookingId,
    pub hall: HallId,
    pub day: Day,
    pub service: ServiceId,
    /// Whole minutes (a token keeps minutes).
    pub slot_start: Timestamp,
    pub slot_end: Timestamp,
    pub code: String,
    pub visitor: Option<Visitor>,
}

impl BookingClaim {
    /// The claim of a booking (its history is not part of it).
    pub fn of(b: &Booking) -> BookingClaim {
        BookingClaim {
            booking: b.id.clone(),
            hall: b.hall.clone(),
            day: b.day,
            service: b.service.clone(),
            slot_start: b.slot_start,
            slot_end: b.slot_end,
            code: b.code.clone(),
            visitor: b.visitor.clone(),
        }
    }

    /// The ticket source a check-in with this booking gets.
    pub fn source(&self) -> Source {
        Source::Booking {
            booking: self.booking.clone(),
            slot_start: self.slot_start,
            slot_end: self.slot_end,
            visitor: self.visitor.clone(),
        }
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(
        "预约二维码无法识别，请重新扫码或输入预约码 / the booking QR code cannot be read: scan it again or type the booking code"
    )]
    Malformed,
    #[error(
        "预约二维码版本 {0} 过新，本大厅无法识别 / booking QR code version {0} is newer than this hall understands"
    )]
    Version(String),
    #[error(
        "预约二维码签名无效，请使用预约确认页上的二维码 / the booking QR code's signature is not valid: use the code on your confirmation page"
    )]
    BadSignature,
    #[error(
        "本大厅尚未收到预约验证密钥 / this hall has not received the booking key yet: type the 6-character booking code instead"
    )]
    NoKey,
    #[error("预约内容过长，无法生成二维码 / the booking is too long to put in a QR code: {0}")]
    TooLong(&'static str),
}

/// Does `text` look like a booking token (rather than a 6-character code)?
pub fn is_token(text: &str) -> bool {
    text.trim().get(..3).is_some_and(|p| p.eq_ignore_ascii_case("OSB"))
}

/// The cloud's signing key.
pub struct BookingSigner {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for BookingSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BookingSigner({})", self.public_hex())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim();
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl BookingSigner {
    /// A new key: the signer and its seed (64 hexadecimal digits) to keep.
    pub fn generate() -> (BookingSigner, String) {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the OS random source");
        let hex_seed = hex(&seed);
        (BookingSigner::from_seed_hex(&hex_seed).expect("a fresh seed"), hex_seed)
    }

    /// The signer of a seed kept as 64 hexadecimal digits.
    pub fn from_seed_hex(s: &str) -> Option<BookingSigner> {
        let seed: [u8; 32] = unhex(s)?;
        Ed25519KeyPair::from_seed_unchecked(&seed).ok().map(|pair| BookingSigner { pair })
    }

    /// The public key as 64 hexadecimal digits, as the catalogue carries it.
    pub fn public_hex(&self) -> String {
        hex(self.pair.public_key().as_ref())
    }

    /// The verifier for this key.
    pub fn verifier(&self) -> BookingVerifier {
        BookingVerifier::from_hex(&self.public_hex()).expect("our own public key")
    }

    /// The token of a claim.
    pub fn sign(&self, claim: &BookingClaim) -> Result<String, TokenError> {
        let payload = encode(claim)?;
        let mut message = CONTEXT.to_vec();
        message.extend_from_slice(&payload);
        let sig = self.pair.sign(&message);
        let mut all = payload;
        all.extend_from_slice(sig.as_ref());
        Ok(format!("{PREFIX}{}", base32(&all)))
    }
}

/// A hall's copy of the cloud's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingVerifier {
    public: [u8; 32],
}

impl BookingVerifier {
    /// The verifier of a public key written as 64 hexadecimal digits (the catalogue's
    /// `booking_key`).
    pub fn from_hex(s: &str) -> Option<BookingVerifier> {
        unhex(s).map(|public| BookingVerifier { public })
    }

    /// What a token says, if the cloud signed it.
    pub fn verify(&self, token: &str) -> Result<BookingClaim, TokenError> {
        let t = token.trim();
        if !is_token(t) {
            return Err(TokenError::Malformed);
        }
        let Some((version, body)) = t.split_once('.') else { return Err(TokenError::Malformed) };
        if !version.eq_ignore_ascii_case(&PREFIX[..4]) {
            return Err(TokenError::Version(version[3..].to_string()));
        }
        let all = unbase32(body).ok_or(TokenError::Malformed)?;
        if all.len() < 64 {
            return Err(TokenError::Malformed);
        }
        let (payload, sig) = all.split_at(all.len() - 64);
        let mut message = CONTEXT.to_vec();
        message.extend_from_slice(payload);
        UnparsedPublicKey::new(&ED25519, &self.public)
            .verify(&message, sig)
            .map_err(|_| TokenError::BadSignature)?;
        decode(payload).ok_or(TokenError::Malformed)
    }
}

fn put_str(out: &mut Vec<u8>, s: &str, what: &'static str) -> Result<(), TokenError> {
    let len = u8::try_from(s.len()).map_err(|_| TokenError::TooLong(what))?;
    out.push(len);
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn kind_byte(k: PersonKind) -> u8 {
    match k {
        PersonKind::Undergraduate => 1,
        PersonKind::Graduate => 2,
        PersonKind::Staff => 3,
        PersonKind::Other => 0,
    }
}

fn encode(c: &BookingClaim) -> Result<Vec<u8>, TokenError> {
    let mut out = Vec::with_capacity(96);
    put_str(&mut out, c.booking.as_str(), "booking id")?;
    put_str(&mut out, c.hall.as_str(), "hall")?;
    out.extend_from_slice(&c.day.days_since_epoch().to_be_bytes());
    put_str(&mut out, c.service.as_str(), "service")?;
    let start = u32::try_from(c.slot_start.0.div_euclid(60_000)).map_err(|_| TokenError::TooLong("slot"))?;
    let len = u16::try_from(c.slot_end.since(c.slot_start).div_euclid(60_000))
        .map_err(|_| TokenError::TooLong("slot"))?;
    out.extend_from_slice(&start.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    put_str(&mut out, &c.code, "code")?;
    match &c.visitor {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            put_str(&mut out, v.id.as_str(), "visitor")?;
            out.push(kind_byte(v.kind));
            put_str(&mut out, &v.college, "college")?;
        }
    }
    Ok(out)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn str(&mut self) -> Option<String> {
        let n = usize::from(self.byte()?);
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
}

fn decode(payload: &[u8]) -> Option<BookingClaim> {
    let mut r = Reader(payload);
    let booking = BookingId::new(r.str()?);
    let hall = HallId::new(r.str()?);
    let day = Day::from_days_since_epoch(i32::from_be_bytes(r.array()?));
    let service = ServiceId::new(r.str()?);
    let start = Timestamp(i64::from(u32::from_be_bytes(r.array()?)) * 60_000);
    let len = i64::from(u16::from_be_bytes(r.array()?));
    let code = r.str()?;
    let visitor = match r.byte()? {
        0 => None,
        1 => {
            let id = VisitorId::new(r.str()?);
            let kind = match r.byte()? {
                0 => PersonKind::Other,
                1 => PersonKind::Undergraduate,
                2 => PersonKind::Graduate,
                3 => PersonKind::Staff,
                _ => return None,
            };
            Some(Visitor { id, kind, college: r.str()? })
        }
        _ => return None,
    };
    if !r.0.is_empty() {
        return None;
    }
    Some(BookingClaim {
        booking,
        hall,
        day,
        service,
        slot_start: start,
        slot_end: start.plus_minutes(len),
        code,
        visitor,
    })
}

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Strict: every character from the alphabet (either case), a length a byte string can have,
/// and the unused last bits zero.
fn unbase32(s: &str) -> Option<Vec<u8>> {
    if matches!(s.len() % 8, 1 | 3 | 6) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c.to_ascii_uppercase())? as u32;
        acc = ((acc << 5) | v) & 0xffff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    (acc & ((1 << bits) - 1) == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn claim(visitor: bool) -> BookingClaim {
        let day = Day::new(2026, 11, 26).unwrap();
        let start = day.start(480).plus_minutes(9 * 60);
        BookingClaim {
            booking: BookingId::new("K7PM2XQ9RA"),
            hall: HallId::new("main"),
            day,
            service: ServiceId::new("enrolment-cert"),
            slot_start: start,
            slot_end: start.plus_minutes(30),
            code: "H4TK9W".into(),
            visitor: visitor.then(|| Visitor {
                id: VisitorId::new("abcdefghjk"),
                kind: PersonKind::Graduate,
                college: "法学院".into(),
            }),
        }
    }

    fn signer() -> BookingSigner {
        BookingSigner::from_seed_hex(&"42".repeat(32)).unwrap()
    }

    #[test]
    fn a_token_round_trips_and_is_typeable() {
        let s = signer();
        for c in [claim(true), claim(false)] {
            let t = s.sign(&c).unwrap();
            assert!(t.starts_with(PREFIX));
            assert!(t.chars().all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '.'), "{t}");
            assert!(t.len() < 260, "small enough for a QR code: {} characters", t.len());
            assert!(is_token(&t));
            assert_eq!(s.verifier().verify(&t).unwrap(), c);
            assert_eq!(s.verifier().verify(&t.to_lowercase()).unwrap(), c, "lower case is read too");
            assert_eq!(s.verifier().verify(&format!(" {t}\n")).unwrap(), c, "a scanner's Enter is ignored");
        }
        assert!(!is_token("H4TK9W"));
    }

    #[test]
    fn refusals_are_named() {
        let s = signer();
        let t = s.sign(&claim(true)).unwrap();
        let other = BookingSigner::generate().0;
        assert_eq!(other.verifier().verify(&t), Err(TokenError::BadSignature));
        assert_eq!(s.verifier().verify("OSB2.AAAA"), Err(TokenError::Version("2".into())));
        assert_eq!(s.verifier().verify("OSB1.!!"), Err(TokenError::Malformed));
        assert_eq!(s.verifier().verify("OSB1."), Err(TokenError::Malformed));
        assert_eq!(s.verifier().verify("H4TK9W"), Err(TokenError::Malformed));
        // A signature over another payload, glued to this one.
        let t2 = s.sign(&claim(false)).unwrap();
        let body1 = unbase32(&t[5..]).unwrap();
        let body2 = unbase32(&t2[5..]).unwrap();
        let mut glued = body1[..body1.len() - 64].to_vec();
        glued.extend_from_slice(&body2[body2.len() - 64..]);
        assert_eq!(
            s.verifier().verify(&format!("{PREFIX}{}", base32(&glued))),
            Err(TokenError::BadSignature)
        );
        assert!(TokenError::BadSignature.to_string().contains("签名无效"));
        assert!(BookingVerifier::from_hex("xyz").is_none());
        assert_eq!(BookingVerifier::from_hex(&s.public_hex()), Some(s.verifier()));
    }

    #[test]
    fn base32_is_strict() {
        for n in 0..40usize {
            let bytes: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(unbase32(&base32(&bytes)).unwrap(), bytes);
        }
        // "AB" decodes to one byte only if B's low bits are zero: "AB" has stray bits.
        assert_eq!(unbase32("AA"), Some(vec![0]));
        assert_eq!(unbase32("AB"), None);
        assert_eq!(unbase32("A"), None);
    }

    proptest! {
        #[test]
        fn any_changed_character_fails(pos in 0usize..400, with in 0usize..37, visitor: bool) {
            let s = signer();
            let t = s.sign(&claim(visitor)).unwrap();
            let pos = pos % t.len();
            let chars = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.";
            let new = chars[with] as char;
            let old = t.as_bytes()[pos] as char;
            prop_assume!(!new.eq_ignore_ascii_case(&old));
            let mut m = t.clone().into_bytes();
            m[pos] = new as u8;
            let m = String::from_utf8(m).unwrap();
            prop_assert!(s.verifier().verify(&m).is_err(), "{m}");
        }

        #[test]
        fn any_deleted_or_added_character_fails(pos in 0usize..400, with in 0usize..32, add: bool) {
            let s = signer();
            let t = s.sign(&claim(true)).unwrap();
            let pos = pos % t.len();
            let mut m = t.clone();
            if add {
                m.insert(pos, ALPHABET[with] as char);
            } else {
                m.remove(pos);
            }
            prop_assert!(s.verifier().verify(&m).is_err(), "{m}");
        }

        #[test]
        fn arbitrary_text_never_panics(text in "OSB1\\.[A-Z2-7a-z]{0,300}") {
            let _ = signer().verifier().verify(&text);
        }
    }
}

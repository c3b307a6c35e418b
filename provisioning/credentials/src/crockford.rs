//! Crockford's base32, in which device ids and join tokens are written.

/// Crockford's base32 alphabet: no I, L, O or U.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The value of a Crockford character, accepting lower case and the look-alikes Crockford
/// maps (O → 0, I and L → 1).
pub fn value(c: char) -> Option<u8> {
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        c => c,
    };
    ALPHABET.iter().position(|&a| a as char == c).map(|v| v as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_character_reads_back_and_look_alikes_are_forgiven() {
        for (i, &c) in ALPHABET.iter().enumerate() {
            assert_eq!(value(c as char), Some(i as u8));
            assert_eq!(value((c as char).to_ascii_lowercase()), Some(i as u8));
        }
        assert_eq!(value('o'), Some(0));
        assert_eq!(value('I'), Some(1));
        assert_eq!(value('l'), Some(1));
        assert_eq!(value('U'), None);
        assert_eq!(value('-'), None);
    }
}

//! Text forms of bytes: base64url for what travels in URLs, lenient base64 for keys people paste,
//! hex for signatures and secrets (the request's own forms are `feedkit::web`'s).

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Base64url without padding: tokens and reply keys, safe in a URL query as they are.
pub const URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub fn encode_url_safe(bytes: &[u8]) -> String {
    URL_SAFE.encode(bytes)
}

pub fn decode_url_safe(text: &str) -> Option<Vec<u8>> {
    URL_SAFE.decode(text.trim()).ok()
}

/// Standard or URL-safe base64, padded or not, whitespace ignored: what `openssl rand -base64 32`
/// prints, copied by hand.
pub fn decode_base64_lenient(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD_LENIENT
        .decode(&compact)
        .or_else(|_| URL_SAFE_LENIENT.decode(&compact))
        .ok()
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// Hex digits (either case) to bytes; `None` for anything else.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            u8::try_from(high * 16 + low).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_non_hex() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(from_hex("00ABff"), Some(vec![0x00, 0xab, 0xff]));
        assert_eq!(from_hex("0g"), None);
        assert_eq!(from_hex("abc"), None);
    }

    #[test]
    fn base64_forms_people_paste_all_decode() {
        let bytes: Vec<u8> = (0..=40).collect();
        let standard = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let url = encode_url_safe(&bytes);
        for text in [
            standard.clone(),
            standard.trim_end_matches('=').to_owned(),
            format!(" {} \n", &standard),
            url.clone(),
        ] {
            assert_eq!(decode_base64_lenient(&text), Some(bytes.clone()), "{text}");
        }
        assert_eq!(decode_url_safe(&url), Some(bytes.clone()));
        assert!(decode_url_safe(&format!("{url}=")).is_none());
        assert!(decode_base64_lenient("not base64!").is_none());
    }
}

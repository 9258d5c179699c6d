//! Text forms of bytes: base64url for what travels in URLs, lenient base64 for keys people paste,
//! hex for signatures and secrets, and percent-decoding for paths and form bodies.

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

/// Standard base64 as OpenWhisk uses for `__ow_body`.
pub fn decode_standard(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD_LENIENT.decode(compact).ok()
}

/// How many bytes a base64 text decodes to, without decoding it: every four significant
/// characters are three bytes, and a final group of two or three characters is one or two
/// bytes. Padding and whitespace are not significant (as [`decode_standard`] reads them).
pub fn base64_decoded_len(text: &str) -> usize {
    let significant = text
        .bytes()
        .filter(|byte| *byte != b'=' && !byte.is_ascii_whitespace())
        .count();
    significant / 4 * 3 + (significant % 4).saturating_sub(1)
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

/// Percent-decodes; with `plus_is_space`, `+` is a space (form bodies and queries).
pub fn percent_decode(text: &str, plus_is_space: bool) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let escaped = (byte == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (escaped, byte) {
            (Some(decoded), _) => {
                out.push(decoded);
                index += 3;
            }
            (None, b'+') if plus_is_space => {
                out.push(b' ');
                index += 1;
            }
            (None, other) => {
                out.push(other);
                index += 1;
            }
        }
    }
    out
}

/// The value of `name` in an `a=1&b=2` query or form body, decoded.
pub fn form_value(text: &str, name: &str) -> Option<Vec<u8>> {
    text.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key, true) == name.as_bytes()).then(|| percent_decode(value, true))
    })
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
        assert!(base64_decoded_len(&standard) >= bytes.len());
    }

    #[test]
    fn decoded_lengths_are_exact_with_or_without_padding() {
        for len in 0..50 {
            let bytes = vec![7u8; len];
            let padded = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let bare = padded.trim_end_matches('=');
            let (head, tail) = padded.split_at(padded.len() / 2);
            let wrapped = format!("{head}\n{tail}");
            for text in [padded.as_str(), bare, wrapped.as_str()] {
                assert_eq!(base64_decoded_len(text), len, "{text:?}");
                assert_eq!(
                    decode_standard(text).map(|d| d.len()),
                    Some(len),
                    "{text:?}"
                );
            }
        }
        let limit = 512 * 1024;
        let at_limit = base64::engine::general_purpose::STANDARD.encode(vec![0u8; limit]);
        assert_eq!(base64_decoded_len(&at_limit), limit);
    }

    #[test]
    fn percent_and_form_decoding() {
        assert_eq!(percent_decode("a%20b+c%2", false), b"a b+c%2");
        assert_eq!(percent_decode("a%20b+c", true), b"a b c");
        assert_eq!(
            form_value("x=1&payload=%7B%22a%22%3A%22b+c%22%7D", "payload"),
            Some(br#"{"a":"b c"}"#.to_vec())
        );
        assert_eq!(form_value("x=1", "payload"), None);
    }
}

//! Webhook signatures: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, keyed with
//! the hook's secret, as GitHub (and Gitea and Forgejo, which also send the bare hex as
//! `X-Gitea-Signature`) sign deliveries; Gitea and Forgejo sign the JSON payload even when they
//! send it as a form's `payload` field (see `deliver`). Verification is `ring::hmac::verify`,
//! constant-time.

use feedkit::Secret;
use ring::hmac;

use crate::encoding::{from_hex, hex};

/// The headers carrying the signature, by preference (names as OpenWhisk gives them, lower
/// case).
pub const SIGNATURE_HEADERS: [&str; 4] = [
    "x-hub-signature-256",
    "x-gitea-signature",
    "x-forgejo-signature",
    "x-gogs-signature",
];

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error(
        "the delivery is not signed (no X-Hub-Signature-256 header); the hook must keep the secret \
         hook-feed registered with it"
    )]
    Missing,
    #[error("the delivery's X-Hub-Signature-256 is not `sha256=` and 64 hex digits")]
    Malformed,
    #[error("the delivery's signature does not match its body")]
    Mismatch,
}

/// The signature header's value for `body`.
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    format!("sha256={}", hex(hmac::sign(&key, body).as_ref()))
}

/// Checks `header` (the signature header's value, if any) against `body`.
pub fn verify(secret: &Secret, body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .ok_or(SignatureError::Missing)?;
    let digits = match header.split_once('=') {
        Some((scheme, digits)) if scheme.eq_ignore_ascii_case("sha256") => digits,
        Some(_) => return Err(SignatureError::Malformed),
        None => header,
    };
    let expected = from_hex(digits)
        .filter(|bytes| bytes.len() == hmac::HMAC_SHA256.digest_algorithm().output_len())
        .ok_or(SignatureError::Malformed)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    hmac::verify(&key, body, &expected).map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rfc_4231_vector() {
        let signature = sign(&Secret::new("Jefe"), b"what do ya want for nothing?");
        assert_eq!(
            signature,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verifies_good_signatures_and_refuses_the_rest() {
        let secret = Secret::new("hook-secret");
        let body = br#"{"zen":"Design for failure."}"#;
        let good = sign(&secret, body);
        assert_eq!(verify(&secret, body, Some(&good)), Ok(()));
        assert_eq!(verify(&secret, body, Some(&good.to_uppercase())), Ok(()));
        let bare = good.trim_start_matches("sha256=");
        assert_eq!(
            verify(&secret, body, Some(bare)),
            Ok(()),
            "Gitea's bare hex"
        );
        assert_eq!(verify(&secret, body, None), Err(SignatureError::Missing));
        assert_eq!(
            verify(&secret, body, Some(" ")),
            Err(SignatureError::Missing)
        );
        for malformed in [
            "sha1=abcd",
            "sha256=xyz",
            "sha256=abcd",
            &good[..good.len() - 2],
        ] {
            assert_eq!(
                verify(&secret, body, Some(malformed)),
                Err(SignatureError::Malformed),
                "{malformed}"
            );
        }
        let other = sign(&Secret::new("other"), body);
        assert_eq!(
            verify(&secret, body, Some(&other)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&secret, b"{\"zen\":\"x\"}", Some(&good)),
            Err(SignatureError::Mismatch)
        );
    }
}

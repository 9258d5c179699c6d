//! The token a relay hook URL carries: the trigger owner's OpenWhisk key sealed with
//! ChaCha20-Poly1305 under a key derived from one relay key, and bound to one trigger.
//!
//! Bytes, then base64url without padding:
//!
//! ```text
//! version (1) | key id length n (1) | key id (n, ASCII) | nonce (12, random) | ciphertext | tag (16)
//! ```
//!
//! The additional authenticated data is the header before the nonce followed by the trigger's
//! fully qualified name `/namespace/name`, so a token opens only on the URL of the trigger it was
//! sealed for, and any change to it (truncation included) fails authentication. The random nonce
//! also salts the hook's signing secret (see [`crate::RelayKey`]): every seal gives a new one.

use feedkit::{AuthKey, Secret};
use ring::aead::{self, Aad, NONCE_LEN, Nonce};
use ring::rand::SecureRandom;

use crate::encoding::{decode_url_safe, encode_url_safe};
use crate::keys::{CryptoError, MAX_KEY_ID_CHARS, RelayKey, RelayKeys, check_key_id};

/// The token layout this relay writes and reads.
pub const TOKEN_VERSION: u8 = 1;
/// Longer query values are refused before decoding: a sealed `uuid:key` is far shorter.
pub const MAX_TOKEN_CHARS: usize = 1024;
/// ChaCha20-Poly1305's tag.
const TAG_LEN: usize = aead::MAX_TAG_LEN;

/// A fresh seal: the token for the hook URL, the key that sealed it and the hook's secret.
#[derive(Debug)]
pub struct Sealed {
    pub token: String,
    pub key_id: String,
    pub secret: Secret,
}

/// An opened token: the owner's key and the hook's signing secret.
#[derive(Debug)]
pub struct Opened {
    pub auth_key: AuthKey,
    pub secret: Secret,
    pub key_id: String,
}

/// Why a token was refused. The messages never quote the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the hook URL carries no token")]
    Missing,
    #[error("the hook URL's token is malformed (truncated or altered)")]
    Malformed,
    #[error(
        "the hook URL's token was sealed with relay key {0:?}, which this relay no longer holds; \
         UPDATE the trigger's feed to seal it again"
    )]
    UnknownKey(String),
    #[error(
        "the hook URL's token does not authenticate for this trigger (truncated, altered, or sealed \
         for another trigger)"
    )]
    Rejected,
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// Seals `auth_key` for `trigger` (`/namespace/name`, resolved) with `key`.
pub fn seal(
    key: &RelayKey,
    trigger: &str,
    auth_key: &AuthKey,
    random: &dyn SecureRandom,
) -> Result<Sealed, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    random.fill(&mut nonce)?;
    let header = header(key.id());
    let mut sealed = auth_key.expose().into_bytes();
    key.sealing_key()?.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad(&header, trigger)),
        &mut sealed,
    )?;
    let mut bytes = header;
    bytes.extend_from_slice(&nonce);
    bytes.extend_from_slice(&sealed);
    Ok(Sealed {
        token: encode_url_safe(&bytes),
        key_id: key.id().to_owned(),
        secret: key.signing_secret(&nonce, trigger)?,
    })
}

/// Opens a token found on the URL of `trigger` (`/namespace/name`).
pub fn open(keys: &RelayKeys, trigger: &str, token: &str) -> Result<Opened, TokenError> {
    let parts = Parts::parse(token)?;
    let key = keys
        .find(&parts.key_id)
        .ok_or_else(|| TokenError::UnknownKey(parts.key_id.clone()))?;
    let mut in_out = parts.sealed().to_vec();
    let nonce =
        Nonce::try_assume_unique_for_key(parts.nonce()).map_err(|_| TokenError::Malformed)?;
    let plain = key
        .sealing_key()?
        .open_in_place(nonce, Aad::from(aad(parts.header(), trigger)), &mut in_out)
        .map_err(|_| TokenError::Rejected)?;
    let auth_key = std::str::from_utf8(plain)
        .ok()
        .and_then(|text| AuthKey::parse(text).ok())
        .ok_or(TokenError::Rejected)?;
    Ok(Opened {
        auth_key,
        secret: key.signing_secret(parts.nonce(), trigger)?,
        key_id: key.id().to_owned(),
    })
}

/// The id of the key a token was sealed with, read without opening it (READ shows it, so
/// hooks still sealed with a retiring key can be found).
pub fn key_id(token: &str) -> Result<String, TokenError> {
    Parts::parse(token).map(|parts| parts.key_id)
}

/// A decoded token, checked for its structure only.
struct Parts {
    bytes: Vec<u8>,
    key_id: String,
}

impl Parts {
    fn parse(token: &str) -> Result<Self, TokenError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        if token.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::Malformed);
        }
        let bytes = decode_url_safe(token).ok_or(TokenError::Malformed)?;
        let [version, id_len, rest @ ..] = bytes.as_slice() else {
            return Err(TokenError::Malformed);
        };
        let id_len = usize::from(*id_len);
        if *version != TOKEN_VERSION
            || id_len == 0
            || id_len > MAX_KEY_ID_CHARS
            || rest.len() < id_len + NONCE_LEN + TAG_LEN
        {
            return Err(TokenError::Malformed);
        }
        let key_id = std::str::from_utf8(&rest[..id_len])
            .map_err(|_| TokenError::Malformed)?
            .to_owned();
        check_key_id(&key_id).map_err(|_| TokenError::Malformed)?;
        Ok(Self { bytes, key_id })
    }

    fn header_len(&self) -> usize {
        2 + self.key_id.len()
    }

    fn header(&self) -> &[u8] {
        &self.bytes[..self.header_len()]
    }

    fn nonce(&self) -> &[u8] {
        &self.bytes[self.header_len()..self.header_len() + NONCE_LEN]
    }

    fn sealed(&self) -> &[u8] {
        &self.bytes[self.header_len() + NONCE_LEN..]
    }
}

fn header(key_id: &str) -> Vec<u8> {
    let mut header = vec![TOKEN_VERSION];
    // Key ids are checked to be at most 32 ASCII bytes.
    header.push(u8::try_from(key_id.len()).unwrap_or(u8::MAX));
    header.extend_from_slice(key_id.as_bytes());
    header
}

fn aad(header: &[u8], trigger: &str) -> Vec<u8> {
    let mut aad = header.to_vec();
    aad.extend_from_slice(trigger.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use serde_json::json;

    const KEY: &str = "uuid-1234:s3cr3t-owner-key";

    fn keys(list: serde_json::Value) -> RelayKeys {
        RelayKeys::from_param(Some(&list)).expect("keys")
    }

    fn material(byte: u8) -> String {
        crate::encoding::encode_url_safe(&[byte; 32])
    }

    fn sealed(keys: &RelayKeys, trigger: &str) -> Sealed {
        let auth_key = AuthKey::parse(KEY).expect("key");
        seal(keys.sealing(), trigger, &auth_key, &SystemRandom::new()).expect("sealed")
    }

    #[test]
    fn a_sealed_key_opens_only_for_its_trigger() {
        let keys = keys(json!([{"id": "k1", "key": material(1)}]));
        let sealed = sealed(&keys, "/guest/t");
        assert!(!sealed.token.contains("s3cr3t"));
        assert_eq!(key_id(&sealed.token), Ok("k1".to_owned()));
        let opened = open(&keys, "/guest/t", &sealed.token).expect("opens");
        assert_eq!(opened.auth_key.expose(), KEY);
        assert_eq!(opened.secret.expose(), sealed.secret.expose());
        assert_eq!(opened.key_id, "k1");
        assert_eq!(
            open(&keys, "/guest/t2", &sealed.token).map(|_| ()),
            Err(TokenError::Rejected)
        );
        assert_eq!(
            open(&keys, "/other/t", &sealed.token).map(|_| ()),
            Err(TokenError::Rejected)
        );
        let again = self::sealed(&keys, "/guest/t");
        assert_ne!(again.token, sealed.token, "random nonces");
        assert_ne!(
            again.secret.expose(),
            sealed.secret.expose(),
            "fresh secret per seal"
        );
    }

    #[test]
    fn truncated_and_altered_tokens_fail() {
        let keys = keys(json!([{"id": "k1", "key": material(1)}]));
        let token = sealed(&keys, "/guest/t").token;
        for cut in [1, 2, 5, 20, token.len() - 3] {
            let truncated = &token[..token.len() - cut];
            let error = open(&keys, "/guest/t", truncated)
                .map(|_| ())
                .expect_err("truncated");
            assert!(
                matches!(error, TokenError::Malformed | TokenError::Rejected),
                "{cut}: {error:?}"
            );
        }
        let mut bytes = crate::encoding::decode_url_safe(&token).expect("base64url");
        for index in 0..bytes.len() {
            bytes[index] ^= 0x01;
            let altered = encode_url_safe(&bytes);
            assert!(open(&keys, "/guest/t", &altered).is_err(), "byte {index}");
            bytes[index] ^= 0x01;
        }
        assert_eq!(
            open(&keys, "/guest/t", "").map(|_| ()),
            Err(TokenError::Missing)
        );
        let long = "A".repeat(MAX_TOKEN_CHARS + 1);
        assert_eq!(
            open(&keys, "/guest/t", &long).map(|_| ()),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn rotation_keeps_old_tokens_until_their_key_is_dropped() {
        let old = keys(json!([{"id": "k1", "key": material(1)}]));
        let token = sealed(&old, "/guest/t").token;
        let rotated =
            keys(json!([{"id": "k2", "key": material(2)}, {"id": "k1", "key": material(1)}]));
        assert!(open(&rotated, "/guest/t", &token).is_ok());
        assert_eq!(sealed(&rotated, "/guest/t").key_id, "k2");
        let retired = keys(json!([{"id": "k2", "key": material(2)}]));
        assert_eq!(
            open(&retired, "/guest/t", &token).map(|_| ()),
            Err(TokenError::UnknownKey("k1".into()))
        );
        // The same id with other material: the token does not authenticate.
        let replaced = keys(json!([{"id": "k1", "key": material(3)}]));
        assert_eq!(
            open(&replaced, "/guest/t", &token).map(|_| ()),
            Err(TokenError::Rejected)
        );
    }
}

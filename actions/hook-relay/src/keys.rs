//! The relay's keys (the `relayKeys` parameter bound on the private relay package) and what is
//! derived from each with HKDF-SHA256: the key that seals tokens and every hook's signing secret.
//!
//! `relayKeys` is a list `[{"id": "k2", "key": "<base64, 32 random bytes or more>"}, ...]`. The
//! first key seals new tokens; every key listed opens tokens sealed with it. So a rotation adds
//! the new key first and keeps the old one until every hook has been sealed again.

use std::fmt;

use feedkit::{ParamError, Secret};
use ring::{aead, hkdf};
use serde_json::Value;

use crate::encoding::{decode_base64_lenient, hex};

/// The parameter holding the keys.
pub const RELAY_KEYS: &str = "relayKeys";
/// Less key material than this is refused: 256 bits is what the derived keys need.
pub const MIN_KEY_BYTES: usize = 32;
// Key ids travel in every token, so they are short: the kit's rule for key ids.
pub use feedkit::secret::{MAX_KEY_ID_CHARS, check_key_id};
/// Bytes of a hook's signing secret (shown to the service as 64 hex digits).
pub const SIGNING_SECRET_BYTES: usize = 32;

/// Names the scheme and its version, so nothing derived here equals anything derived from the
/// same key material for another purpose.
const HKDF_SALT: &[u8] = b"feedkit hook-relay v1";
const INFO_SEAL: &[u8] = b"seal";
const INFO_SIGN: &[u8] = b"sign";

const EXPECTED: &str = "a list of relay keys [{\"id\": \"k1\", \"key\": \"<base64 of 32 random bytes, \
                        e.g. from `openssl rand -base64 32`>\"}], the first one sealing";

/// The cryptography library refused an operation (it only does for impossible lengths, or when
/// the system has no randomness).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a cryptographic operation failed")]
pub struct CryptoError;

impl From<ring::error::Unspecified> for CryptoError {
    fn from(_: ring::error::Unspecified) -> Self {
        CryptoError
    }
}

/// One relay key: its id and the HKDF pseudo-random key extracted from its material (the
/// material itself is not kept).
pub struct RelayKey {
    id: String,
    prk: hkdf::Prk,
}

impl fmt::Debug for RelayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// An HKDF output length that is not an algorithm's key.
struct Length(usize);

impl hkdf::KeyType for Length {
    fn len(&self) -> usize {
        self.0
    }
}

impl RelayKey {
    /// A key from its id and material; `problem` says what is wrong without quoting the material.
    pub fn new(id: &str, material: &[u8]) -> Result<Self, String> {
        check_key_id(id)?;
        if material.len() < MIN_KEY_BYTES {
            return Err(format!(
                "key {id:?} has {} bytes; a relay key needs at least {MIN_KEY_BYTES} random bytes",
                material.len()
            ));
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(material);
        Ok(Self {
            id: id.to_owned(),
            prk,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The ChaCha20-Poly1305 key that seals and opens tokens.
    pub(crate) fn sealing_key(&self) -> Result<aead::LessSafeKey, CryptoError> {
        let okm = self.prk.expand(&[INFO_SEAL], &aead::CHACHA20_POLY1305)?;
        Ok(aead::LessSafeKey::new(aead::UnboundKey::from(okm)))
    }

    /// The signing secret of the hook whose token was sealed with `nonce` for `trigger`
    /// (`/namespace/name`): the relay derives it again from the token on every delivery, so it is
    /// stored nowhere but at the service, and every seal gives a fresh one.
    pub(crate) fn signing_secret(
        &self,
        nonce: &[u8],
        trigger: &str,
    ) -> Result<Secret, CryptoError> {
        let mut bytes = [0u8; SIGNING_SECRET_BYTES];
        self.prk
            .expand(
                &[INFO_SIGN, nonce, trigger.as_bytes()],
                Length(SIGNING_SECRET_BYTES),
            )?
            .fill(&mut bytes)?;
        Ok(Secret::new(hex(&bytes)))
    }
}

/// The relay's keys: the sealing one first, then those kept for opening older tokens.
#[derive(Debug)]
pub struct RelayKeys {
    sealing: RelayKey,
    older: Vec<RelayKey>,
}

impl RelayKeys {
    /// Reads `relayKeys` (a JSON list, or a string holding one as wskdeploy may pass it).
    pub fn from_param(value: Option<&Value>) -> Result<Self, ParamError> {
        let value = value
            .filter(|value| !value.is_null())
            .ok_or_else(|| ParamError::missing(RELAY_KEYS, EXPECTED))?;
        let parsed;
        let value = match value {
            Value::String(text) => {
                parsed = serde_json::from_str::<Value>(text).map_err(|_| {
                    ParamError::invalid(RELAY_KEYS, format!("expected {EXPECTED}, found a string"))
                })?;
                &parsed
            }
            other => other,
        };
        let Value::Array(items) = value else {
            return Err(ParamError::invalid(
                RELAY_KEYS,
                format!("expected {EXPECTED}"),
            ));
        };
        let mut keys = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let key = parse_entry(item).map_err(|problem| {
                ParamError::invalid(format!("{RELAY_KEYS}[{index}]"), problem)
            })?;
            if keys.iter().any(|known: &RelayKey| known.id == key.id) {
                return Err(ParamError::invalid(
                    format!("{RELAY_KEYS}[{index}]"),
                    format!("key id {:?} is listed twice", key.id),
                ));
            }
            keys.push(key);
        }
        let mut keys = keys.into_iter();
        let sealing = keys.next().ok_or_else(|| {
            ParamError::invalid(
                RELAY_KEYS,
                format!("the list is empty; expected {EXPECTED}"),
            )
        })?;
        Ok(Self {
            sealing,
            older: keys.collect(),
        })
    }

    /// The key that seals new tokens (the first listed).
    pub fn sealing(&self) -> &RelayKey {
        &self.sealing
    }

    /// The key a token names, if the relay still holds it.
    pub fn find(&self, id: &str) -> Option<&RelayKey> {
        std::iter::once(&self.sealing)
            .chain(&self.older)
            .find(|key| key.id == id)
    }
}

/// One `{"id", "key"}` entry; never quotes the key.
fn parse_entry(item: &Value) -> Result<RelayKey, String> {
    let id = item
        .get("id")
        .and_then(Value::as_str)
        .ok_or("expected an object with a string `id` and a base64 `key`")?;
    let material = match item.get("key") {
        Some(Value::String(text)) => {
            decode_base64_lenient(text).ok_or_else(|| format!("the key of {id:?} is not base64"))?
        }
        _ => return Err(format!("key {id:?} has no base64 string `key`")),
    };
    RelayKey::new(id.trim(), &material)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) const MATERIAL: &str = "m0Wl2cXo4g8pQ1b3Jk9zR7t5Vy2Nf6Hd8As0Lq4Ue1I=";

    #[test]
    fn the_first_key_seals_and_every_key_is_found_by_id() {
        let keys = RelayKeys::from_param(Some(&json!([
            {"id": "k2", "key": MATERIAL},
            {"id": "k1", "key": MATERIAL.trim_end_matches('=')},
        ])))
        .expect("keys");
        assert_eq!(keys.sealing().id(), "k2");
        assert_eq!(keys.find("k1").map(RelayKey::id), Some("k1"));
        assert!(keys.find("k3").is_none());
        let as_text = json!(format!(r#"[{{"id": "k1", "key": "{MATERIAL}"}}]"#));
        assert_eq!(
            RelayKeys::from_param(Some(&as_text))
                .expect("string")
                .sealing()
                .id(),
            "k1"
        );
        assert!(!format!("{keys:?}").contains(MATERIAL));
    }

    #[test]
    fn derivations_depend_on_key_nonce_and_trigger() {
        let one = RelayKey::new("a", &[7u8; 32]).expect("key");
        let other = RelayKey::new("b", &[8u8; 32]).expect("key");
        let secret = |key: &RelayKey, nonce: &[u8], trigger: &str| {
            key.signing_secret(nonce, trigger)
                .expect("derived")
                .expose()
                .to_owned()
        };
        let base = secret(&one, &[1; 12], "/guest/t");
        assert_eq!(base.len(), 64);
        assert_eq!(base, secret(&one, &[1; 12], "/guest/t"), "deterministic");
        assert_ne!(base, secret(&one, &[2; 12], "/guest/t"));
        assert_ne!(base, secret(&one, &[1; 12], "/guest/t2"));
        assert_ne!(base, secret(&other, &[1; 12], "/guest/t"));
    }

    #[test]
    fn bad_key_lists_name_the_entry_and_never_quote_material() {
        let short = "c2hvcnQta2V5";
        let cases = [
            (None, "missing parameter `relayKeys`"),
            (Some(json!("not json")), "invalid parameter `relayKeys`"),
            (Some(json!({"id": "k1"})), "invalid parameter `relayKeys`"),
            (Some(json!([])), "the list is empty"),
            (
                Some(json!([{"id": "k1", "key": short}])),
                "`relayKeys[0]`: key \"k1\" has 9 bytes",
            ),
            (Some(json!([{"id": "k1", "key": "%%%"}])), "is not base64"),
            (
                Some(json!([{"id": "k 1", "key": MATERIAL}])),
                "key id \"k 1\" is not valid",
            ),
            (Some(json!([{"key": MATERIAL}])), "`relayKeys[0]`"),
            (
                Some(json!([{"id": "k1", "key": MATERIAL}, {"id": "k1", "key": MATERIAL}])),
                "`relayKeys[1]`: key id \"k1\" is listed twice",
            ),
        ];
        for (value, expected) in cases {
            let error = RelayKeys::from_param(value.as_ref()).expect_err(expected);
            let text = error.to_string();
            assert!(text.contains(expected), "{value:?}: {text}");
            assert!(!text.contains(MATERIAL) && !text.contains(short), "{text}");
        }
    }
}

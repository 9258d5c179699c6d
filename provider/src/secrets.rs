//! Secrets at rest: the owner's key and the sources' credentials are sealed with
//! ChaCha20-Poly1305 under the provider key before they reach a store, bound to the feed they
//! belong to (the feed's id is the additional authenticated data, so a sealed box copied onto
//! another feed does not open).
//!
//! The provider key file holds one key per line, `ID BASE64` (at least 32 random bytes, e.g.
//! `openssl rand -base64 32`); `#` starts a comment. The first key seals; every key listed opens
//! what was sealed with it. Rotation: put a new key first and keep the old one below it; every
//! instance seals each feed again under the new key (see [`crate::Node`]), and `/metrics` counts
//! the feeds still sealed with an older key (`provider_feeds_sealed_with_old_key`): once it is 0
//! on every instance, the old key can go.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use base64::Engine as _;
use ring::aead::{self, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// Less key material than this is refused.
pub const MIN_KEY_BYTES: usize = 32;
/// Names the scheme, so the sealing key differs from anything else derived from the same bytes.
const HKDF_SALT: &[u8] = b"feedkit changes-provider secrets v1";

/// A sealed box as stored: the key that sealed it and `base64(nonce | ciphertext | tag)`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedBox {
    pub key: String,
    #[serde(rename = "box")]
    pub sealed: String,
}

impl fmt::Debug for SealedBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedBox")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error(
        "the secrets of {feed} were sealed with provider key {key:?}, which this instance does not hold; add it to the key file (below the current key)"
    )]
    UnknownKey { feed: String, key: String },
    #[error("the sealed secrets of {0} do not open (altered, or sealed for another feed)")]
    Rejected(String),
    #[error("the system has no randomness to seal with")]
    Random,
}

struct ProviderKey {
    id: String,
    key: LessSafeKey,
}

/// The provider's keys: the sealing one first.
pub struct Keyring {
    keys: Vec<ProviderKey>,
    random: SystemRandom,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|key| key.id.as_str()).collect();
        f.debug_struct("Keyring").field("keys", &ids).finish()
    }
}

fn derive(material: &[u8]) -> Result<LessSafeKey, String> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(material);
    let okm = prk
        .expand(&[b"seal"], &aead::CHACHA20_POLY1305)
        .map_err(|_| "deriving the sealing key failed".to_owned())?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

impl Keyring {
    /// Reads the key file's text; the messages name lines, never key material.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys: Vec<ProviderKey> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let number = index + 1;
            let (id, material) = line
                .split_once(|c: char| c.is_whitespace() || c == ':')
                .ok_or_else(|| format!("line {number}: expected `ID BASE64-KEY`"))?;
            feedkit::secret::check_key_id(id)
                .map_err(|problem| format!("line {number}: {problem}"))?;
            let compact: String = material.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact.trim_end_matches('='))
                .or_else(|_| {
                    base64::engine::general_purpose::STANDARD_NO_PAD
                        .decode(compact.trim_end_matches('='))
                })
                .map_err(|_| format!("line {number}: key {id:?} is not base64"))?;
            if bytes.len() < MIN_KEY_BYTES {
                return Err(format!(
                    "line {number}: key {id:?} has {} bytes; use at least {MIN_KEY_BYTES} random bytes",
                    bytes.len()
                ));
            }
            if keys.iter().any(|known| known.id == id) {
                return Err(format!("line {number}: key id {id:?} is listed twice"));
            }
            keys.push(ProviderKey {
                id: id.to_owned(),
                key: derive(&bytes)?,
            });
        }
        if keys.is_empty() {
            return Err(
                "no key: write one line `ID BASE64-KEY` (e.g. `k1 $(openssl rand -base64 32)`)"
                    .into(),
            );
        }
        Ok(Self {
            keys,
            random: SystemRandom::new(),
        })
    }

    /// Reads a key file.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("the provider key file {}: {error}", path.display()))?;
        Self::parse(&text)
            .map_err(|problem| format!("the provider key file {}: {problem}", path.display()))
    }

    /// A key file's text with one fresh random key `k1` (the embedded store's default).
    pub fn generate_file_text() -> Result<String, SealError> {
        let mut bytes = [0_u8; MIN_KEY_BYTES];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| SealError::Random)?;
        Ok(format!(
            "# The changes provider's key: seals the secrets in its store. Keep it private.\nk1 {}\n",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ))
    }

    /// The id of the key that seals.
    pub fn current(&self) -> &str {
        &self.keys[0].id
    }

    /// Seals `plain` for `feed` under the current key.
    pub fn seal(&self, feed: &str, plain: &[u8]) -> Result<SealedBox, SealError> {
        let key = &self.keys[0];
        let mut nonce = [0_u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let mut in_out = plain.to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(feed.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| SealError::Random)?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&in_out);
        Ok(SealedBox {
            key: key.id.clone(),
            sealed: base64::engine::general_purpose::STANDARD.encode(bytes),
        })
    }

    /// Opens a box sealed for `feed`.
    pub fn open(&self, feed: &str, sealed: &SealedBox) -> Result<Vec<u8>, SealError> {
        let key = self
            .keys
            .iter()
            .find(|key| key.id == sealed.key)
            .ok_or_else(|| SealError::UnknownKey {
                feed: feed.to_owned(),
                key: sealed.key.clone(),
            })?;
        let rejected = || SealError::Rejected(feed.to_owned());
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&sealed.sealed)
            .map_err(|_| rejected())?;
        if bytes.len() < NONCE_LEN {
            return Err(rejected());
        }
        let (nonce, cipher) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| rejected())?;
        let mut in_out = cipher.to_vec();
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(feed.as_bytes()), &mut in_out)
            .map_err(|_| rejected())?;
        Ok(plain.to_vec())
    }

    /// Seals a map of secrets (the owner's key and the source's credentials) as one JSON box.
    pub fn seal_map(
        &self,
        feed: &str,
        secrets: &BTreeMap<String, String>,
    ) -> Result<SealedBox, SealError> {
        let plain = serde_json::to_vec(secrets).map_err(|_| SealError::Random)?;
        self.seal(feed, &plain)
    }

    pub fn open_map(
        &self,
        feed: &str,
        sealed: &SealedBox,
    ) -> Result<BTreeMap<String, String>, SealError> {
        let plain = self.open(feed, sealed)?;
        serde_json::from_slice(&plain).map_err(|_| SealError::Rejected(feed.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "k2 ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

    #[test]
    fn seals_for_one_feed_and_opens_after_a_rotation() {
        let old = Keyring::parse(K1).expect("keys");
        let sealed = old.seal("/guest/a", b"uuid:secret").expect("seal");
        assert_eq!(sealed.key, "k1");
        assert!(!sealed.sealed.contains("secret"));
        assert_eq!(old.open("/guest/a", &sealed).expect("open"), b"uuid:secret");
        // Bound to its feed.
        assert_eq!(
            old.open("/guest/b", &sealed),
            Err(SealError::Rejected("/guest/b".into()))
        );
        // After a rotation the old key still opens; new seals use the new one.
        let rotated = Keyring::parse(&format!("# rotated\n{K2}\n{K1}\n")).expect("keys");
        assert_eq!(rotated.current(), "k2");
        assert_eq!(
            rotated.open("/guest/a", &sealed).expect("open"),
            b"uuid:secret"
        );
        assert_eq!(rotated.seal("/guest/a", b"x").expect("seal").key, "k2");
        // Without the old key, the message names the key and what to do.
        let only_new = Keyring::parse(K2).expect("keys");
        let error = only_new.open("/guest/a", &sealed).expect_err("unknown");
        assert!(error.to_string().contains("\"k1\""), "{error}");
        let mut altered = sealed.clone();
        let other = if &altered.sealed[20..21] == "A" {
            "B"
        } else {
            "A"
        };
        altered.sealed.replace_range(20..21, other);
        assert!(old.open("/guest/a", &altered).is_err());
    }

    #[test]
    fn key_files_say_what_is_wrong_without_quoting_keys() {
        for (text, expected) in [
            ("", "no key"),
            ("k1", "expected `ID BASE64-KEY`"),
            ("k1 c2hvcnQ=", "at least 32"),
            ("k/1 AAAA", "not valid"),
            (&format!("{K1}\n{K1}"), "listed twice"),
            ("k1 !!!not-base64!!!", "not base64"),
        ] {
            let error = Keyring::parse(text).expect_err(expected);
            assert!(error.contains(expected), "{text}: {error}");
            assert!(!error.contains("AAECAwQF"), "{error}");
        }
        let generated = Keyring::generate_file_text().expect("random");
        assert_eq!(Keyring::parse(&generated).expect("keys").current(), "k1");
        assert!(!format!("{:?}", Keyring::parse(K1).expect("keys")).contains("AAEC"));
    }
}

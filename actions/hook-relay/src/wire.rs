//! What hook-feed and the relay say to each other, and the relay's URLs. hook-feed links this
//! module, so both sides speak exactly one protocol.
//!
//! - `POST {relayUrl}/seal` with `{"trigger": "/ns/t", "authKey": "uuid:key", "replyKey": "..."}`
//!   (over HTTPS: the body carries the owner's key). The relay checks that the key may read the
//!   trigger, seals it, and answers `{"token", "keyId", "sealedSecret"}`: the hook's signing
//!   secret comes back encrypted under the one-time `replyKey` that hook-feed chose, so not even
//!   the relay's activation record holds it in clear.
//! - The hook delivers to `{relayUrl}/deliver/{ns}/{t}?token={token}`.

use feedkit::{AuthKey, QualifiedName, Secret};
use ring::aead::{self, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::SecureRandom;
use serde_json::{Value, json};

use crate::encoding::{decode_url_safe, encode_url_safe};
use crate::keys::CryptoError;
use feedkit::percent_encode;

/// The relay's seal endpoint, under its web action URL.
pub const SEAL_PATH: &str = "/seal";
/// The relay's delivery endpoints: `/deliver/{namespace}/{trigger}`.
pub const DELIVER_PATH: &str = "/deliver";
/// The query parameter holding the token.
pub const TOKEN_PARAM: &str = "token";

const REPLY_KEY_BYTES: usize = 32;
const REPLY_AAD: &[u8] = b"feedkit hook-relay v1 reply ";

/// Where `trigger`'s deliveries go, without the token: the same for every seal, so hook-feed
/// recognises the trigger's hooks by it, and safe to show.
pub fn delivery_url(relay_url: &str, trigger: &QualifiedName) -> String {
    format!(
        "{}{DELIVER_PATH}/{}/{}",
        relay_url.trim_end_matches('/'),
        percent_encode(trigger.namespace()),
        percent_encode(trigger.name())
    )
}

/// The URL registered with the service: the delivery URL with the token.
pub fn hook_url(relay_url: &str, trigger: &QualifiedName, token: &str) -> String {
    format!("{}?{TOKEN_PARAM}={token}", delivery_url(relay_url, trigger))
}

/// The token in a hook URL's query, if there is one.
pub fn token_of(url: &str) -> Option<&str> {
    let query = url.split_once('?')?.1.split('#').next().unwrap_or_default();
    query
        .split('&')
        .find_map(|pair| match pair.split_once('=') {
            Some((TOKEN_PARAM, token)) if !token.is_empty() => Some(token),
            _ => None,
        })
}

/// The JSON body of a seal request.
pub fn seal_request(trigger: &QualifiedName, auth_key: &AuthKey, reply_key: &ReplyKey) -> Value {
    json!({
        "trigger": trigger.to_string(),
        "authKey": auth_key.expose(),
        "replyKey": encode_url_safe(&reply_key.0),
    })
}

/// A one-time key hook-feed sends with a seal request: the relay encrypts the hook's secret
/// under it.
pub struct ReplyKey([u8; REPLY_KEY_BYTES]);

impl std::fmt::Debug for ReplyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplyKey(********)")
    }
}

/// A sealed secret could not be opened, or a reply key read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("`replyKey` is not 32 bytes of base64url")]
    BadKey,
    #[error("the relay's sealed secret does not open with the reply key")]
    Rejected,
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl ReplyKey {
    /// A fresh key from the system's randomness.
    pub fn new_random() -> Result<Self, CryptoError> {
        Self::generate(&ring::rand::SystemRandom::new())
    }

    pub fn generate(random: &dyn SecureRandom) -> Result<Self, CryptoError> {
        let mut bytes = [0u8; REPLY_KEY_BYTES];
        random.fill(&mut bytes).map_err(CryptoError::from)?;
        Ok(Self(bytes))
    }

    /// Reads the `replyKey` of a seal request.
    pub fn parse(text: &str) -> Result<Self, ReplyError> {
        let bytes = decode_url_safe(text).ok_or(ReplyError::BadKey)?;
        let bytes: [u8; REPLY_KEY_BYTES] = bytes.try_into().map_err(|_| ReplyError::BadKey)?;
        Ok(Self(bytes))
    }

    fn aead_key(&self) -> Result<LessSafeKey, CryptoError> {
        let key = UnboundKey::new(&aead::CHACHA20_POLY1305, &self.0)?;
        Ok(LessSafeKey::new(key))
    }

    /// `nonce | ciphertext | tag` of `secret`, bound to `token`, as base64url.
    pub fn seal_secret(
        &self,
        token: &str,
        secret: &Secret,
        random: &dyn SecureRandom,
    ) -> Result<String, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        random.fill(&mut nonce)?;
        let mut sealed = secret.expose().as_bytes().to_vec();
        self.aead_key()?.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(reply_aad(token)),
            &mut sealed,
        )?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(encode_url_safe(&bytes))
    }

    /// Opens what [`ReplyKey::seal_secret`] made for `token`.
    pub fn open_secret(&self, token: &str, sealed: &str) -> Result<Secret, ReplyError> {
        let bytes = decode_url_safe(sealed).ok_or(ReplyError::Rejected)?;
        if bytes.len() < NONCE_LEN {
            return Err(ReplyError::Rejected);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| ReplyError::Rejected)?;
        let mut in_out = sealed.to_vec();
        let plain = self
            .aead_key()?
            .open_in_place(nonce, Aad::from(reply_aad(token)), &mut in_out)
            .map_err(|_| ReplyError::Rejected)?;
        let text = std::str::from_utf8(plain).map_err(|_| ReplyError::Rejected)?;
        Ok(Secret::new(text))
    }
}

fn reply_aad(token: &str) -> Vec<u8> {
    let mut aad = REPLY_AAD.to_vec();
    aad.extend_from_slice(token.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    #[test]
    fn urls_carry_the_trigger_in_clear_and_the_token_in_the_query() {
        let trigger = QualifiedName::parse("/guest/my hook").expect("name");
        let relay = "https://ow.example/api/v1/web/ops/feedkit-relay/hook-relay.http/";
        assert_eq!(
            delivery_url(relay, &trigger),
            "https://ow.example/api/v1/web/ops/feedkit-relay/hook-relay.http/deliver/guest/my%20hook"
        );
        let url = hook_url(relay, &trigger, "AQJrMQ");
        assert!(
            url.ends_with("/deliver/guest/my%20hook?token=AQJrMQ"),
            "{url}"
        );
        assert_eq!(token_of(&url), Some("AQJrMQ"));
        assert_eq!(token_of("https://h/x?a=1&token=T#f"), Some("T"));
        assert_eq!(token_of("https://h/x?token="), None);
        assert_eq!(token_of("https://h/x"), None);
    }

    #[test]
    fn the_secret_comes_back_sealed_for_the_caller_and_its_token() {
        let random = SystemRandom::new();
        let reply = ReplyKey::generate(&random).expect("key");
        let secret = Secret::new("0123abcd");
        let sealed = reply
            .seal_secret("TOKEN", &secret, &random)
            .expect("sealed");
        assert!(!sealed.contains("0123abcd"));
        let encoded = encode_url_safe(&reply.0);
        let parsed = ReplyKey::parse(&encoded).expect("parsed");
        assert_eq!(
            parsed
                .open_secret("TOKEN", &sealed)
                .expect("opens")
                .expose(),
            "0123abcd"
        );
        assert_eq!(
            parsed.open_secret("OTHER", &sealed).map(|_| ()),
            Err(ReplyError::Rejected)
        );
        let stranger = ReplyKey::generate(&random).expect("key");
        assert!(stranger.open_secret("TOKEN", &sealed).is_err());
        assert!(
            parsed
                .open_secret("TOKEN", &sealed[..sealed.len() - 2])
                .is_err()
        );
        assert_eq!(
            ReplyKey::parse("c2hvcnQ").map(|_| ()),
            Err(ReplyError::BadKey)
        );
        assert_eq!(format!("{reply:?}"), "ReplyKey(********)");
    }

    #[test]
    fn the_seal_request_names_its_fields() {
        let random = SystemRandom::new();
        let body = seal_request(
            &QualifiedName::parse("/guest/t").expect("name"),
            &AuthKey::parse("u:k").expect("key"),
            &ReplyKey::generate(&random).expect("key"),
        );
        assert_eq!(body["trigger"], "/guest/t");
        assert_eq!(body["authKey"], "u:k");
        assert!(ReplyKey::parse(body["replyKey"].as_str().expect("text")).is_ok());
    }
}

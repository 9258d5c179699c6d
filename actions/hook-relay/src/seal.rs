//! `POST /seal`: hook-feed asks the relay to seal the trigger owner's key for a hook URL (the
//! relay key never leaves the private package). The relay first checks, with that key, that it
//! may read the trigger: nobody gets a token or a secret for a trigger they could not fire.

use feedkit::{Activation, AuthKey, QualifiedName};
use ring::rand::SystemRandom;
use serde_json::{Value, json};

use crate::deliver::not_configured;
use crate::keys::RelayKeys;
use crate::token::seal as seal_token;
use crate::wire::ReplyKey;
use feedkit::web::{WebError, WebRequest};

/// A seal request is three short strings.
pub const MAX_SEAL_BODY_BYTES: usize = 8 * 1024;

/// What a seal came to: the answer and a line for the log.
pub struct SealAnswer {
    pub body: Value,
    pub log: String,
}

pub fn seal<P>(
    request: &WebRequest,
    keys: Option<&Value>,
    activation: &mut Activation<'_, P>,
) -> Result<SealAnswer, WebError> {
    if request.body_len() > MAX_SEAL_BODY_BYTES {
        return Err(WebError::new(
            413,
            format!("a seal request is at most {MAX_SEAL_BODY_BYTES} bytes"),
        ));
    }
    let body: Value = serde_json::from_slice(&request.body_bytes()?).map_err(|_| {
        WebError::new(
            400,
            "the seal request must be a JSON object {trigger, authKey, replyKey}",
        )
    })?;
    let field = |name: &str, expected: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .ok_or_else(|| WebError::new(400, format!("missing `{name}`: expected {expected}")))
    };
    let trigger_text = field("trigger", "the trigger's resolved name /namespace/trigger")?;
    let trigger = QualifiedName::parse(trigger_text)
        .ok()
        .filter(|name| !name.is_default_namespace() && name.package().is_none())
        .ok_or_else(|| {
            WebError::new(
                400,
                format!("invalid `trigger`: {trigger_text:?} is not /namespace/trigger"),
            )
        })?;
    let auth_key = AuthKey::parse(field("authKey", "the trigger owner's key uuid:key")?)
        .map_err(|problem| WebError::new(400, format!("invalid `authKey`: {problem}")))?;
    let reply_key = ReplyKey::parse(field("replyKey", "32 bytes of base64url")?)
        .map_err(|problem| WebError::new(400, format!("invalid `replyKey`: {problem}")))?;
    let keys = RelayKeys::from_param(keys).map_err(not_configured)?;

    let client = activation.client_as(auth_key.clone()).map_err(|error| {
        WebError::new(500, format!("the relay cannot reach OpenWhisk: {error}"))
    })?;
    client
        .get_trigger(&trigger)
        .map_err(|error| match error.status() {
            Some(401) => WebError::new(401, format!("`authKey` is not valid ({error})")),
            Some(403) => WebError::new(
                403,
                format!("`authKey` may not read trigger {trigger} ({error})"),
            ),
            Some(404) => WebError::new(404, format!("trigger {trigger} does not exist")),
            _ => WebError::new(502, format!("could not read trigger {trigger}: {error}")),
        })?;

    let random = SystemRandom::new();
    let crypto_failed = |_| WebError::new(500, "sealing failed in the cryptography library");
    let sealed = seal_token(keys.sealing(), &trigger.to_string(), &auth_key, &random)
        .map_err(crypto_failed)?;
    let sealed_secret = reply_key
        .seal_secret(&sealed.token, &sealed.secret, &random)
        .map_err(crypto_failed)?;
    Ok(SealAnswer {
        log: format!(
            "sealed a hook URL for {trigger} with relay key {}",
            sealed.key_id
        ),
        body: json!({
            "token": sealed.token,
            "keyId": sealed.key_id,
            "sealedSecret": sealed_secret,
        }),
    })
}

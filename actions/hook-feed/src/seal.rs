//! The relay mode's hook URL: hook-feed asks the relay web action to seal the owner's key for the
//! trigger (`POST {relayUrl}/seal`, see `hook_relay::wire`), since only the relay's private
//! package holds the relay keys. The hook's signing secret comes back encrypted under a one-time
//! key this activation chose.

use feedkit::http::{Http, HttpErrorKind, Method, Request};
use feedkit::{ActionError, AuthKey, QualifiedName, Secret};
use hook_relay::wire::{self, ReplyKey, SEAL_PATH};
use serde_json::Value;

use crate::delivery::{HookTarget, RelayUrl};

/// Seals `auth_key` for `trigger` (resolved) and returns the hook URL and its secret. The relay
/// is on the OpenWhisk API host, so this goes over the activation's connection to it.
pub fn seal(
    http: &Http,
    relay: &RelayUrl,
    trigger: &QualifiedName,
    auth_key: &AuthKey,
) -> Result<HookTarget, ActionError> {
    let doing = "sealing the hook URL with the relay";
    let reply_key =
        ReplyKey::new_random().map_err(|error| ActionError::from(error).context(doing))?;
    // The body carries the owner's key: it never leaves the relay's origin.
    let request = Request::new(Method::Post, format!("{relay}{SEAL_PATH}"))
        .header("Accept", "application/json")
        .json(&wire::seal_request(trigger, auth_key, &reply_key))
        .limit(64 * 1024);
    let response = http.send(&request).map_err(|error| {
        let said = match error.kind {
            HttpErrorKind::Deadline => {
                return ActionError::new(error.kind.to_string()).context(doing);
            }
            HttpErrorKind::Redirect(reason) => reason,
            other => format!("no answer from {relay} ({other})"),
        };
        ActionError::new(format!(
            "invalid parameter `relayUrl`: {said}; expected {}",
            RelayUrl::EXPECTED
        ))
        .context(doing)
    })?;
    let status = response.status();
    let answer = response.json_value().unwrap_or(Value::Null);
    if status != 200 {
        return Err(refused(relay, status, &answer).context(doing));
    }
    let field = |name: &str| answer.get(name).and_then(Value::as_str).map(str::to_owned);
    let (Some(token), Some(key_id), Some(sealed_secret)) =
        (field("token"), field("keyId"), field("sealedSecret"))
    else {
        return Err(ActionError::new(format!(
            "invalid parameter `relayUrl`: {relay} did not answer as the hook-relay web action \
             does; expected {}",
            RelayUrl::EXPECTED
        ))
        .context(doing));
    };
    let secret = reply_key
        .open_secret(&token, &sealed_secret)
        .map_err(|error| ActionError::from(error).context(doing))?;
    Ok(HookTarget {
        registered: Secret::new(wire::hook_url(relay.as_str(), trigger, &token)),
        shown: relay.delivery_url(trigger),
        secret: Some(secret),
        key_id: Some(key_id),
    })
}

/// What a refusal means for the user, with the relay's (or OpenWhisk's) own words.
fn refused(relay: &RelayUrl, status: u16, answer: &Value) -> ActionError {
    let said = match answer.get("error").and_then(Value::as_str) {
        Some(message) => format!("HTTP {status}: {message}"),
        None => format!("HTTP {status}"),
    };
    let message = match status {
        401 | 403 => format!("invalid parameter `authKey`: the relay refused it ({said})"),
        404 | 405 => format!(
            "invalid parameter `relayUrl`: {relay} is not the relay ({said}); expected {}",
            RelayUrl::EXPECTED
        ),
        500 => format!(
            "the relay at {relay} failed ({said}); its deployer must bind `relayKeys` on the \
             relay's package"
        ),
        _ => format!("the relay at {relay} could not seal the hook URL ({said})"),
    };
    ActionError::new(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refusals_name_the_parameter_to_fix() {
        let relay =
            RelayUrl::parse("https://ow.example/api/v1/web/ops/feedkit-relay/hook-relay.http")
                .expect("relay URL");
        let cases = [
            (
                401,
                json!({"error": "`authKey` is not valid"}),
                "invalid parameter `authKey`",
            ),
            (
                404,
                json!({"error": "The requested resource does not exist."}),
                "invalid parameter `relayUrl`",
            ),
            (
                500,
                json!({"error": "the relay is not configured: missing parameter `relayKeys`"}),
                "bind `relayKeys`",
            ),
            (502, Value::Null, "could not seal the hook URL (HTTP 502)"),
        ];
        for (status, answer, expected) in cases {
            let message = refused(&relay, status, &answer).to_string();
            assert!(message.contains(expected), "{status}: {message}");
        }
    }

    #[test]
    fn an_unreachable_relay_names_relay_url() {
        let relay =
            RelayUrl::parse("http://127.0.0.1:1/api/v1/web/ops/feedkit-relay/hook-relay.http")
                .expect("relay URL");
        let trigger = QualifiedName::parse("/guest/t").expect("name");
        let key = AuthKey::parse("u:secret-key").expect("key");
        let error = seal(&Http::new(None), &relay, &trigger, &key).expect_err("no relay there");
        assert!(
            error.message().contains("invalid parameter `relayUrl`"),
            "{error}"
        );
        assert!(!error.message().contains("secret-key"), "{error}");
        let past = Http::new(Some(std::time::SystemTime::now()));
        assert!(seal(&past, &relay, &trigger, &key).is_err());
    }
}

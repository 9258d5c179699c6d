//! The relay mode's hook URL: hook-feed asks the relay web action to seal the owner's key for the
//! trigger (`POST {relayUrl}/seal`, see `hook_relay::wire`), since only the relay's private
//! package holds the relay keys. The hook's signing secret comes back encrypted under a one-time
//! key this activation chose.

use std::time::{Duration, SystemTime};

use feedkit::outbound::{self, CrossOrigin, Outbound, SendError};
use feedkit::{ActionError, AuthKey, QualifiedName, Secret};
use hook_relay::wire::{self, ReplyKey, SEAL_PATH};
use serde_json::Value;
use ureq::http::Method;

use crate::delivery::{HookTarget, RelayUrl};

/// Bound on the call when the activation has no deadline.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Kept back from the deadline so the action can still write its result.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// Seals `auth_key` for `trigger` (resolved) and returns the hook URL and its secret.
pub fn seal(
    relay: &RelayUrl,
    trigger: &QualifiedName,
    auth_key: &AuthKey,
    deadline: Option<SystemTime>,
) -> Result<HookTarget, ActionError> {
    let doing = "sealing the hook URL with the relay";
    let reply_key =
        ReplyKey::new_random().map_err(|error| ActionError::from(error).context(doing))?;
    let timeout = time_left(deadline).ok_or_else(|| {
        ActionError::new("the activation's deadline leaves no time for the call").context(doing)
    })?;
    let agent: ureq::Agent = feedkit::http_agent(
        feedkit::http_agent_config()
            .user_agent(concat!("openwhisk-hook-feed/", env!("CARGO_PKG_VERSION")))
            .build(),
    );
    let url = format!("{relay}{SEAL_PATH}");
    // The body carries the owner's key: it never leaves the relay's origin.
    let request = Outbound::new(Method::POST, url)
        .header("Accept", "application/json")
        .json(&wire::seal_request(trigger, auth_key, &reply_key));
    let mut response =
        outbound::send(&agent, &request, CrossOrigin::Refuse, timeout).map_err(|error| {
            let said = match error {
                SendError::Redirect { .. } | SendError::TooManyRedirects => error.to_string(),
                other => format!("no answer from {relay} ({other})"),
            };
            ActionError::new(format!(
                "invalid parameter `relayUrl`: {said}; expected {}",
                RelayUrl::EXPECTED
            ))
            .context(doing)
        })?;
    let status = response.status().as_u16();
    let answer: Value = response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
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

fn time_left(deadline: Option<SystemTime>) -> Option<Duration> {
    let Some(deadline) = deadline else {
        return Some(CALL_TIMEOUT);
    };
    let left = deadline.duration_since(SystemTime::now()).ok()?;
    let left = left.checked_sub(DEADLINE_MARGIN)?;
    (!left.is_zero()).then_some(left.min(CALL_TIMEOUT))
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
        let error = seal(&relay, &trigger, &key, None).expect_err("no relay there");
        assert!(
            error.message().contains("invalid parameter `relayUrl`"),
            "{error}"
        );
        assert!(!error.message().contains("secret-key"), "{error}");
        let past = Some(SystemTime::now());
        assert!(seal(&relay, &trigger, &key, past).is_err());
    }
}

//! `POST /deliver/{namespace}/{trigger}?token=...`: a webhook delivery. Refused in this order,
//! cheapest first: too large (413, before any cryptography), unsigned (401), a token that does
//! not open for this trigger (403), a signature that does not match the body (401). Then the
//! trigger fires with `{event, delivery, payload}`, as its owner, with the key the token sealed.

use feedkit::{Activation, ClientError, FireOutcome, QualifiedName};
use serde_json::{Value, json};

use crate::keys::RelayKeys;
use crate::signature::{SIGNATURE_HEADERS, SignatureError, verify};
use crate::token::{TokenError, open};
use crate::wire::TOKEN_PARAM;
use feedkit::web::form_value;
use feedkit::web::{WebError, WebRequest};

/// The largest delivery body relayed (512 KiB). OpenWhisk refuses activations and trigger
/// events over 1 MiB, and a raw web action gets a JSON body in base64 (a third larger), so a
/// larger delivery could not fire the trigger anyway. GitHub caps payloads at 25 MB.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// The event name: GitHub's header, which Gitea and Forgejo send too, then their own.
const EVENT_HEADERS: [&str; 4] = [
    "x-github-event",
    "x-gitea-event",
    "x-forgejo-event",
    "x-gogs-event",
];
const DELIVERY_HEADERS: [&str; 4] = [
    "x-github-delivery",
    "x-gitea-delivery",
    "x-forgejo-delivery",
    "x-gogs-delivery",
];
const FORM: &str = "application/x-www-form-urlencoded";
/// Event names and delivery ids are short words and GUIDs.
const MAX_HEADER_VALUE_CHARS: usize = 200;

/// What a delivery came to: the HTTP answer and a line for the activation's log.
pub struct Delivered {
    pub status: u16,
    pub body: Value,
    pub log: String,
}

/// Verifies one delivery and fires `trigger`.
pub fn deliver<P>(
    request: &WebRequest,
    trigger: &QualifiedName,
    keys: Option<&Value>,
    activation: &mut Activation<'_, P>,
) -> Result<Delivered, WebError> {
    if request.body_len() > MAX_BODY_BYTES {
        return Err(WebError::new(
            413,
            format!("the delivery is larger than the relay's limit of {MAX_BODY_BYTES} bytes"),
        ));
    }
    let signature = request.first_header(&SIGNATURE_HEADERS);
    if signature.is_none_or(|value| value.trim().is_empty()) {
        return Err(WebError::new(
            401,
            crate::signature::SignatureError::Missing.to_string(),
        ));
    }
    let keys = RelayKeys::from_param(keys).map_err(not_configured)?;
    let token = request.query_param(TOKEN_PARAM).unwrap_or_default();
    let opened = open(&keys, &trigger.to_string(), &token).map_err(|error| match error {
        TokenError::Crypto(_) => WebError::new(500, error.to_string()),
        refused => WebError::new(403, refused.to_string()),
    })?;
    let body = request.body_bytes()?;
    verify_delivery(request, &opened.secret, &body, signature)
        .map_err(|error| WebError::new(401, error.to_string()))?;

    let event = header_value(request, &EVENT_HEADERS).ok_or_else(|| {
        WebError::new(
            400,
            "the delivery has no event name (X-GitHub-Event header)",
        )
    })?;
    let delivery = header_value(request, &DELIVERY_HEADERS);
    let payload = payload(request, &body)?;
    let fired = json!({ "event": event, "delivery": delivery, "payload": payload });

    let what = format!(
        "{event} delivery {} for {trigger}",
        delivery.as_deref().unwrap_or("(no id)")
    );
    let client = activation.client_as(opened.auth_key).map_err(|error| {
        WebError::new(500, format!("the relay cannot reach OpenWhisk: {error}"))
    })?;
    match client.fire_trigger(trigger, &fired) {
        Ok(FireOutcome::Fired { activation_id }) => Ok(Delivered {
            status: 202,
            log: format!("{what}: fired (trigger activation {activation_id})"),
            body: json!({ "activationId": activation_id }),
        }),
        Ok(FireOutcome::NoActiveRule) => Ok(Delivered {
            status: 200,
            log: format!("{what}: accepted, no active rule"),
            body: json!({ "message": format!("accepted; trigger {trigger} has no active rule") }),
        }),
        Err(error) => Err(fire_error(trigger, &error)),
    }
}

/// Checks the signature over the body as sent (GitHub signs that), or, for a form body, over its
/// `payload` field: Gitea and Forgejo sign the JSON payload itself, also when they send it in a
/// form. Either way only a holder of the hook's secret can sign what is fired.
fn verify_delivery(
    request: &WebRequest,
    secret: &feedkit::Secret,
    body: &[u8],
    signature: Option<&str>,
) -> Result<(), SignatureError> {
    match verify(secret, body, signature) {
        Err(SignatureError::Mismatch) if request.media_type() == FORM => {
            let payload = std::str::from_utf8(body)
                .ok()
                .and_then(|text| form_value(text, "payload"))
                .ok_or(SignatureError::Mismatch)?;
            verify(secret, &payload, signature)
        }
        outcome => outcome,
    }
}

/// `relayKeys` is the deployer's to fix; the caller learns only that the relay is not ready.
pub fn not_configured(error: feedkit::ParamError) -> WebError {
    WebError::new(500, format!("the relay is not configured: {error}"))
}

fn header_value(request: &WebRequest, names: &[&str]) -> Option<String> {
    request
        .first_header(names)
        .map(str::trim)
        .filter(|value| !value.is_empty() && value.len() <= MAX_HEADER_VALUE_CHARS)
        .map(str::to_owned)
}

/// The delivery's JSON: the body itself, or the `payload` field of a form body.
fn payload(request: &WebRequest, body: &[u8]) -> Result<Value, WebError> {
    let media = request.media_type();
    let json = match media.as_str() {
        FORM => {
            let text = std::str::from_utf8(body)
                .map_err(|_| WebError::new(400, "the form body is not UTF-8"))?;
            form_value(text, "payload")
                .ok_or_else(|| WebError::new(400, "the form body has no `payload` field"))?
        }
        "application/json" => body.to_vec(),
        other if other.ends_with("+json") => body.to_vec(),
        other => {
            return Err(WebError::new(
                415,
                format!("deliveries must be application/json or form-encoded, not {other}"),
            ));
        }
    };
    serde_json::from_slice(&json)
        .map_err(|error| WebError::new(400, format!("the delivery's payload is not JSON: {error}")))
}

/// Why OpenWhisk did not take the fire, as the answer the service records.
fn fire_error(trigger: &QualifiedName, error: &ClientError) -> WebError {
    match error.status() {
        Some(404) => WebError::new(
            404,
            format!(
                "trigger {trigger} does not exist; delete this hook or create the trigger again"
            ),
        ),
        Some(401 | 403) => WebError::new(
            502,
            format!(
                "OpenWhisk refused the key sealed in this hook's URL for {trigger} ({error}); \
                 UPDATE the trigger's feed to seal the owner's current key"
            ),
        ),
        Some(429) => WebError::new(429, format!("OpenWhisk is rate limiting fires: {error}")),
        Some(_) => WebError::new(502, format!("OpenWhisk did not fire {trigger}: {error}")),
        None => WebError::new(504, format!("OpenWhisk did not answer: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::sign;
    use crate::token::seal;
    use base64::Engine as _;
    use feedkit::AuthKey;
    use ring::rand::SystemRandom;

    fn keys_param() -> Value {
        json!([{"id": "k1", "key": crate::encoding::encode_url_safe(&[9u8; 32])}])
    }

    fn request(token: &str, signature: Option<&str>, body: &[u8], media: &str) -> WebRequest {
        let mut headers =
            json!({"content-type": media, "x-github-event": "push", "x-github-delivery": "guid-1"});
        if let Some(signature) = signature {
            headers["x-hub-signature-256"] = json!(signature);
        }
        let encoded = if media == "application/json" {
            base64::engine::general_purpose::STANDARD.encode(body)
        } else {
            String::from_utf8_lossy(body).into_owned()
        };
        let params = json!({
            "__ow_method": "post",
            "__ow_headers": headers,
            "__ow_path": "/deliver/guest/t",
            "__ow_query": format!("token={token}"),
            "__ow_body": encoded,
        });
        WebRequest::take(&mut params.as_object().cloned().expect("object")).expect("request")
    }

    fn status(request: &WebRequest, keys: Option<&Value>) -> u16 {
        let trigger = QualifiedName::parse("/guest/t").expect("name");
        // No API host: a request that passes every check fails to reach OpenWhisk (500).
        let context = feedkit::Context::default();
        let mut activation = Activation::new("hook-relay", (), &context);
        match deliver(request, &trigger, keys, &mut activation) {
            Ok(delivered) => delivered.status,
            Err(error) => error.status,
        }
    }

    #[test]
    fn refusals_come_in_order_with_their_status() {
        let keys = RelayKeys::from_param(Some(&keys_param())).expect("keys");
        let owner = AuthKey::parse("u:owner-key").expect("key");
        let sealed =
            seal(keys.sealing(), "/guest/t", &owner, &SystemRandom::new()).expect("sealed");
        let other =
            seal(keys.sealing(), "/guest/t2", &owner, &SystemRandom::new()).expect("sealed");
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = sign(&sealed.secret, body);
        let json = "application/json";
        let param = keys_param();
        let keys = Some(&param);

        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            status(&request(&sealed.token, Some(&good), &big, json), keys),
            413
        );
        assert_eq!(status(&request(&sealed.token, None, body, json), keys), 401);
        assert_eq!(
            status(&request(&sealed.token, Some(&good), body, json), None),
            500
        );
        assert_eq!(status(&request("", Some(&good), body, json), keys), 403);
        let truncated = &sealed.token[..sealed.token.len() - 4];
        assert_eq!(
            status(&request(truncated, Some(&good), body, json), keys),
            403
        );
        assert_eq!(
            status(&request(&other.token, Some(&good), body, json), keys),
            403
        );
        let wrong = sign(&other.secret, body);
        assert_eq!(
            status(&request(&sealed.token, Some(&wrong), body, json), keys),
            401
        );
        assert_eq!(
            status(&request(&sealed.token, Some("sha256=00"), body, json), keys),
            401
        );
        let text = request(
            &sealed.token,
            Some(&sign(&sealed.secret, b"hi")),
            b"hi",
            "text/plain",
        );
        assert_eq!(status(&text, keys), 415);
        let form_body = b"payload=not-json";
        let form = request(
            &sealed.token,
            Some(&sign(&sealed.secret, form_body)),
            form_body,
            "application/x-www-form-urlencoded",
        );
        assert_eq!(status(&form, keys), 400);
        // Every check passed: only the missing API host stops it.
        assert_eq!(
            status(&request(&sealed.token, Some(&good), body, json), keys),
            500
        );
    }

    #[test]
    fn form_deliveries_carry_their_json_in_payload() {
        let params = json!({
            "__ow_method": "post",
            "__ow_headers": {"content-type": "application/x-www-form-urlencoded"},
            "__ow_body": "payload=%7B%22a%22%3A%22b+c%22%7D",
        });
        let request =
            WebRequest::take(&mut params.as_object().cloned().expect("object")).expect("ok");
        let body = request.body_bytes().expect("body");
        assert_eq!(payload(&request, &body), Ok(json!({"a": "b c"})));
    }
}

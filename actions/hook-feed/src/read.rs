//! READ's answer, in the shape of the alarms feed: `{"config": {...}, "status": {"active",
//! "dateChanged", "dateChangedISO", "reason"}}`, plus what the service reports of the last
//! delivery. Secrets are shown as `********`, hook URLs without their userinfo or relay token.

use feedkit::{QualifiedName, iso_utc, now_ms};
use serde_json::{Value, json};

use crate::delivery::{DeliveryMode, shown};
use crate::service::Hook;
use crate::settings::{HookSettings, Stored};
use feedkit::secret::REDACTED as MASK;

/// Everything READ looked at.
pub struct Observed<'a> {
    pub trigger: &'a QualifiedName,
    pub settings: &'a HookSettings,
    pub stored: Option<&'a Stored>,
    /// The hook's delivery mode (as its URL shows, else as stored).
    pub mode: DeliveryMode,
    /// The relay key that sealed the hook's URL (relay mode).
    pub relay_key_id: Option<&'a str>,
    /// Where the feed's hook delivers, without credentials.
    pub target: &'a str,
    /// The feed's hook as the service lists it, if it still exists.
    pub hook: Option<&'a Hook>,
}

pub fn render(observed: &Observed<'_>) -> Value {
    let Observed {
        trigger,
        settings,
        stored,
        mode,
        relay_key_id,
        target,
        hook,
    } = observed;
    let hook_config = |field: &str| {
        hook.and_then(|hook| hook.config.get(field))
            .and_then(Value::as_str)
    };
    let has_secret = settings.secret.is_some() || hook_config("secret").is_some();
    let mut config = json!({
        "namespace": trigger.namespace(),
        "name": trigger.name(),
        "repository": settings.location.repository.to_string(),
        "baseUrl": settings.location.base_url.as_str(),
        "service": settings.location.service.as_str(),
        "accessToken": MASK,
        "events": hook.map_or(&settings.events, |hook| &hook.events),
        "contentType": hook_config("content_type").unwrap_or(settings.content_type.as_str()),
        "secret": if has_secret { Value::from(MASK) } else { Value::Null },
        "deliveryMode": mode.as_str(),
        "hookId": hook.map(|hook| hook.id),
        "hookUrl": hook.map_or_else(|| (*target).to_owned(), |hook| shown(hook.url())),
        "updatedAt": hook.and_then(|hook| hook.updated_at.clone()),
    });
    if *mode == DeliveryMode::Relay {
        config["relayKeyId"] = json!(relay_key_id);
    }
    let active = hook.is_some_and(|hook| hook.active);
    let date_changed = stored
        .map(|stored| stored.date_changed)
        .filter(|ms| *ms > 0)
        .unwrap_or_else(now_ms);
    let mut status = json!({
        "active": active,
        "dateChanged": date_changed,
        "dateChangedISO": iso_utc(date_changed),
        "last_response": hook.and_then(|hook| hook.last_response.clone()),
    });
    if !active {
        status["reason"] = reason(settings, *hook);
    }
    json!({ "config": config, "status": status })
}

/// Why the feed is not delivering, and what brings it back.
fn reason(settings: &HookSettings, hook: Option<&Hook>) -> Value {
    let repository = &settings.location.repository;
    match hook {
        None => json!({
            "kind": "MISSING",
            "message": format!(
                "no hook of {repository} delivers to this trigger (it was removed on the service, \
                 or never installed); UPDATE installs it again"
            ),
        }),
        Some(_) if !settings.active => json!({
            "kind": "PAUSED",
            "message": "paused with lifecycleEvent PAUSE; UNPAUSE reactivates the hook",
        }),
        Some(hook) => json!({
            "kind": "SERVICE",
            "message": format!(
                "hook {} was deactivated on {repository} outside this feed; UNPAUSE reactivates it",
                hook.id
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(active: bool) -> HookSettings {
        let params = crate::settings::test_params(json!({
            "repository": "o/r", "accessToken": "tok", "secret": "whsec", "active": active,
            "deliveryMode": "direct",
        }));
        crate::settings::hook_settings(&params, None).expect("settings")
    }

    fn hook(active: bool) -> Hook {
        Hook {
            id: 9,
            active,
            events: vec!["issues".into()],
            config: json!({"url": "http://u:key@ow/api/v1/namespaces/g/triggers/t", "content_type": "json", "secret": "********"})
                .as_object()
                .cloned()
                .expect("object"),
            updated_at: Some("2024-05-01T10:00:00Z".into()),
            last_response: Some(json!({"code": 202, "status": "active", "message": "OK"})),
            branch_filter: None,
        }
    }

    #[test]
    fn shows_the_hook_without_credentials_and_says_why_it_is_inactive() {
        let trigger = QualifiedName::parse("/g/t").expect("name");
        let target = "http://ow/api/v1/namespaces/g/triggers/t";
        let settings = settings(true);
        let live = hook(true);
        let observed = Observed {
            trigger: &trigger,
            settings: &settings,
            stored: None,
            mode: DeliveryMode::Direct,
            relay_key_id: None,
            target,
            hook: Some(&live),
        };
        let read = render(&observed);
        assert_eq!(read["config"]["hookUrl"], target);
        assert_eq!(read["config"]["events"], json!(["issues"]));
        assert_eq!(read["config"]["secret"], MASK);
        assert_eq!(read["config"]["accessToken"], MASK);
        assert_eq!(read["status"]["active"], true);
        assert_eq!(read["status"]["last_response"]["code"], 202);
        assert!(read["status"].get("reason").is_none());
        assert!(!read.to_string().contains("key@") && !read.to_string().contains("whsec"));

        let paused_settings = crate::settings::HookSettings {
            active: false,
            ..settings.clone()
        };
        let paused = hook(false);
        let read = render(&Observed {
            settings: &paused_settings,
            hook: Some(&paused),
            ..observed
        });
        assert_eq!(read["status"]["reason"]["kind"], "PAUSED");
        let read = render(&Observed {
            settings: &settings,
            hook: Some(&paused),
            ..observed
        });
        assert_eq!(read["status"]["reason"]["kind"], "SERVICE");
        let read = render(&Observed {
            hook: None,
            ..observed
        });
        assert_eq!(read["status"]["reason"]["kind"], "MISSING");
        assert_eq!(read["status"]["active"], false);
        assert!(read["config"].get("relayKeyId").is_none(), "direct mode");
    }

    #[test]
    fn a_relay_hook_shows_its_mode_and_key_but_not_its_token() {
        let trigger = QualifiedName::parse("/g/t").expect("name");
        let target = "http://ow/api/v1/web/ops/feedkit-relay/hook-relay.http/deliver/g/t";
        let params =
            crate::settings::test_params(json!({"repository": "o/r", "accessToken": "tok"}));
        let settings = crate::settings::hook_settings(&params, None).expect("settings");
        let mut live = hook(true);
        live.config.insert(
            "url".into(),
            json!(format!("{target}?token=AQJrMSECRETTOKEN")),
        );
        let read = render(&Observed {
            trigger: &trigger,
            settings: &settings,
            stored: None,
            mode: DeliveryMode::Relay,
            relay_key_id: Some("k1"),
            target,
            hook: Some(&live),
        });
        assert_eq!(read["config"]["deliveryMode"], "relay");
        assert_eq!(read["config"]["relayKeyId"], "k1");
        assert_eq!(read["config"]["hookUrl"], target);
        assert!(!read.to_string().contains("SECRETTOKEN"), "{read}");
    }
}

//! Where the service delivers events, and how the feed recognises its own hooks by that URL.
//!
//! This is the one seam between "which trigger" and "which hook URL". Two modes:
//!
//! - `relay` (the default): the hook delivers to the `hook-relay` web action,
//!   `{relayUrl}/deliver/{namespace}/{trigger}?token=...`, signed with a secret the relay derives;
//!   the relay verifies every delivery and fires the trigger with the owner's key, which travels
//!   sealed in the token (see the `hook_relay` crate). The URL reveals nothing usable.
//! - `direct`: the hook delivers to the trigger's fire URL with the owner's key as the URL's
//!   userinfo, and OpenWhisk verifies nothing but that key.
//!
//! The feed finds its hooks by where they deliver with credentials and token left out: the same
//! for every seal, in either mode.

use std::fmt;

use feedkit::params::Text;
use feedkit::{ActionError, ApiHost, AuthKey, ParamError, QualifiedName, Secret, without_userinfo};
use hook_relay::wire;
use serde::{Deserialize, Serialize};

use crate::settings::ContentType;

/// How a delivery reaches the trigger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "Text")]
pub enum DeliveryMode {
    /// The service POSTs to the trigger's fire URL on the OpenWhisk API host, authenticating
    /// with the trigger owner's key as the URL's userinfo (Basic auth).
    Direct,
    /// The service POSTs signed deliveries to the relay web action, which verifies them and
    /// fires the trigger.
    #[default]
    Relay,
}

/// A hook URL: the one registered with the service (it may carry a credential or a token),
/// the same URL without them (safe to show and to compare), and for the relay mode the signing
/// secret that goes with it and the id of the relay key that sealed it.
#[derive(Debug, Clone)]
pub struct HookTarget {
    pub registered: Secret,
    pub shown: String,
    pub secret: Option<Secret>,
    pub key_id: Option<String>,
}

impl DeliveryMode {
    /// The mode of records stored before the relay mode existed.
    pub fn stored_default() -> Self {
        Self::Direct
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "relay" => Ok(Self::Relay),
            "direct" => Ok(Self::Direct),
            _ => Err(format!(
                "{:?} is not a delivery mode; expected relay (signed deliveries through the \
                 relay, the default) or direct (the trigger's fire URL with the key in it)",
                text.trim()
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Relay => "relay",
        }
    }

    /// Refuses content types the receiving end cannot take.
    pub fn check_content_type(self, content_type: ContentType) -> Result<(), ParamError> {
        match (self, content_type) {
            (_, ContentType::Json) | (Self::Relay, ContentType::Form) => Ok(()),
            (Self::Direct, ContentType::Form) => Err(ParamError::invalid(
                "contentType",
                "form cannot fire a trigger directly: OpenWhisk's trigger API reads JSON bodies only \
                 and refuses form-encoded deliveries (415); use json, or the relay delivery mode",
            )),
        }
    }
}

impl TryFrom<Text> for DeliveryMode {
    type Error = String;
    fn try_from(text: Text) -> Result<Self, String> {
        Self::parse(text.as_str())
    }
}

impl fmt::Display for DeliveryMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The URL of the `hook-relay` web action (`relayUrl`, bound on the package by its deployer),
/// e.g. `https://HOST/api/v1/web/NAMESPACE/feedkit-relay/hook-relay.http`, without a trailing
/// slash.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Text")]
pub struct RelayUrl(String);

impl RelayUrl {
    pub const PARAMETER: &'static str = "relayUrl";
    pub const EXPECTED: &'static str = "the URL of the hook-relay web action, e.g. \
        https://HOST/api/v1/web/NAMESPACE/feedkit-relay/hook-relay.http (bound on the feed's \
        package by its deployer); or give deliveryMode direct";

    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim().trim_end_matches('/');
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(format!(
                "{text:?} is not a URL; expected {}",
                Self::EXPECTED
            ));
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains('@') {
            return Err(format!(
                "it must not carry credentials; expected {}",
                Self::EXPECTED
            ));
        }
        if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https")
            || authority.is_empty()
            || rest.contains(['?', '#', ' '])
        {
            return Err(format!(
                "{text:?} is not an http(s) URL without query; expected {}",
                Self::EXPECTED
            ));
        }
        Ok(Self(format!("{}://{rest}", scheme.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where `trigger`'s relayed deliveries go, without the token.
    pub fn delivery_url(&self, trigger: &QualifiedName) -> String {
        wire::delivery_url(&self.0, trigger)
    }
}

impl TryFrom<Text> for RelayUrl {
    type Error = String;
    fn try_from(text: Text) -> Result<Self, String> {
        Self::parse(text.as_str())
    }
}

impl fmt::Display for RelayUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The direct mode's hook URL for `trigger` (its namespace resolved).
pub fn direct_target(api_host: &ApiHost, trigger: &QualifiedName, key: &AuthKey) -> HookTarget {
    let shown = api_host.trigger_url(trigger);
    let registered = with_userinfo(&shown, key);
    HookTarget {
        registered: Secret::new(registered),
        shown,
        secret: None,
        key_id: None,
    }
}

/// Which mode a hook URL of this trigger's is in: relay when it carries a relay token, direct
/// when it is the trigger's fire URL.
pub fn mode_of(url: &str, direct_url: &str) -> Option<DeliveryMode> {
    if wire::token_of(url).is_some() {
        Some(DeliveryMode::Relay)
    } else if delivers_to(url, &[direct_url]) {
        Some(DeliveryMode::Direct)
    } else {
        None
    }
}

/// The id of the relay key that sealed a relay hook URL's token (READ shows it, so that hooks
/// still sealed with a retiring key can be found).
pub fn relay_key_id(url: &str) -> Option<String> {
    wire::token_of(url).and_then(|token| hook_relay::token::key_id(token).ok())
}

/// A hook URL as it may be shown: no userinfo, no token.
pub fn shown(url: &str) -> String {
    let plain = without_userinfo(url);
    let Some((base, query)) = plain.split_once('?') else {
        return plain;
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| pair.split('=').next() != Some(wire::TOKEN_PARAM))
        .collect();
    if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

/// The parameter error of a relay-mode event without `relayUrl`.
pub fn missing_relay_url() -> ActionError {
    ParamError::missing(RelayUrl::PARAMETER, RelayUrl::EXPECTED).into()
}

/// `scheme://user:password@rest`, each half percent-encoded.
fn with_userinfo(url: &str, key: &AuthKey) -> String {
    let exposed = key.expose();
    let (user, password) = exposed.split_once(':').unwrap_or((&exposed, ""));
    match url.split_once("://") {
        Some((scheme, rest)) => format!(
            "{scheme}://{}:{}@{rest}",
            feedkit::percent_encode(user),
            feedkit::percent_encode(password)
        ),
        None => url.to_owned(),
    }
}

/// A URL reduced to what says where it delivers: lower-case scheme and host, no userinfo, no
/// default port, no query, fragment or trailing slash. `None` for what is not an http(s) URL.
pub fn comparable(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let host_port = host_port.strip_suffix(default_port).unwrap_or(host_port);
    if host_port.is_empty() {
        return None;
    }
    Some(format!(
        "{scheme}://{}{}",
        host_port.to_ascii_lowercase(),
        path.trim_end_matches('/')
    ))
}

/// True when `hook_url` delivers to one of `targets` (URLs as [`HookTarget::shown`]), whatever
/// credentials it carries.
pub fn delivers_to(hook_url: &str, targets: &[&str]) -> bool {
    let Some(hook) = comparable(hook_url) else {
        return false;
    };
    targets
        .iter()
        .filter_map(|target| comparable(target))
        .any(|target| target == hook)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(text: &str) -> QualifiedName {
        QualifiedName::parse(text).expect("valid")
    }

    #[test]
    fn direct_targets_carry_the_key_only_where_registered() {
        let host = ApiHost::parse("http://127.0.0.1:3233").expect("host");
        let key = AuthKey::parse("23bc46b1-71f6:k3y/with+odd@chars").expect("key");
        let target = direct_target(&host, &trigger("/guest/my hook"), &key);
        assert_eq!(
            target.shown,
            "http://127.0.0.1:3233/api/v1/namespaces/guest/triggers/my%20hook"
        );
        assert_eq!(
            target.registered.expose(),
            "http://23bc46b1-71f6:k3y%2Fwith%2Bodd%40chars@127.0.0.1:3233/api/v1/namespaces/guest/triggers/my%20hook"
        );
        assert!(!format!("{target:?}").contains("k3y"));
        assert_eq!(without_userinfo(target.registered.expose()), target.shown);
    }

    #[test]
    fn hooks_are_recognised_by_where_they_deliver_whatever_the_credentials() {
        let ours = "https://ow.example/api/v1/namespaces/guest/triggers/t";
        for same in [
            "https://uuid:key@ow.example/api/v1/namespaces/guest/triggers/t",
            "HTTPS://OW.example:443/api/v1/namespaces/guest/triggers/t/",
            "https://other:creds@ow.example/api/v1/namespaces/guest/triggers/t?x=1",
        ] {
            assert!(delivers_to(same, &[ours]), "{same}");
        }
        for other in [
            "https://ow.example/api/v1/namespaces/guest/triggers/t2",
            "https://ow.example/api/v1/namespaces/other/triggers/t",
            "https://ow.example:8443/api/v1/namespaces/guest/triggers/t",
            "http://ow.example/api/v1/namespaces/guest/triggers/t",
            "https://example.com/my-own-ci",
            "not a url",
        ] {
            assert!(!delivers_to(other, &[ours]), "{other}");
        }
    }

    #[test]
    fn relay_urls_are_recognised_and_shown_without_their_token() {
        let relay =
            RelayUrl::parse("HTTPS://ow.example/api/v1/web/ops/feedkit-relay/hook-relay.http/")
                .expect("relay URL");
        assert_eq!(
            relay.as_str(),
            "https://ow.example/api/v1/web/ops/feedkit-relay/hook-relay.http"
        );
        let t = trigger("/guest/t");
        let shown_url = relay.delivery_url(&t);
        let registered = wire::hook_url(relay.as_str(), &t, "AQJrMQ");
        assert!(delivers_to(&registered, &[&shown_url]));
        assert!(!delivers_to(
            &registered,
            &[&relay.delivery_url(&trigger("/guest/t2"))]
        ));
        assert_eq!(shown(&registered), shown_url);
        assert_eq!(shown("https://u:p@h/x?a=1&token=T"), "https://h/x?a=1");
        let direct = "https://ow.example/api/v1/namespaces/guest/triggers/t";
        assert_eq!(mode_of(&registered, direct), Some(DeliveryMode::Relay));
        assert_eq!(
            mode_of(
                "https://u:k@ow.example/api/v1/namespaces/guest/triggers/t",
                direct
            ),
            Some(DeliveryMode::Direct)
        );
        assert_eq!(mode_of("https://ci.example/hook", direct), None);
        for bad in [
            "ow.example/x",
            "ftp://ow.example/x",
            "https://u:p@ow.example/x",
            "https://ow.example/x?y=1",
        ] {
            let error = RelayUrl::parse(bad).expect_err(bad);
            assert!(!error.contains("u:p"), "{error}");
        }
    }

    #[test]
    fn modes_parse_and_only_direct_refuses_form_deliveries() {
        assert_eq!(DeliveryMode::parse(" Relay "), Ok(DeliveryMode::Relay));
        assert_eq!(DeliveryMode::parse("direct"), Ok(DeliveryMode::Direct));
        assert!(DeliveryMode::parse("carrier-pigeon").is_err());
        assert_eq!(DeliveryMode::default(), DeliveryMode::Relay);
        assert!(
            DeliveryMode::Relay
                .check_content_type(ContentType::Form)
                .is_ok()
        );
        assert!(
            DeliveryMode::Direct
                .check_content_type(ContentType::Json)
                .is_ok()
        );
        let error = DeliveryMode::Direct
            .check_content_type(ContentType::Form)
            .expect_err("form");
        assert_eq!(error.path(), "contentType");
    }
}

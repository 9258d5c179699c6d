//! Where the service delivers events, and how the feed recognises its own hooks by that URL.
//!
//! This is the one seam between "which trigger" and "which hook URL": a later delivery mode (a
//! signed relay) adds a variant here and the lifecycle code stays as it is.

use feedkit::{ApiHost, AuthKey, ParamError, QualifiedName, Secret};
use serde::{Deserialize, Serialize};

use crate::settings::ContentType;

/// How a delivery reaches the trigger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryMode {
    /// The service POSTs to the trigger's fire URL on the OpenWhisk API host, authenticating
    /// with the trigger owner's key as the URL's userinfo (Basic auth).
    #[default]
    Direct,
}

/// A hook URL: the one registered with the service (it may carry a credential) and the same
/// URL without credentials, safe to show and to compare.
#[derive(Debug, Clone)]
pub struct HookTarget {
    pub registered: Secret,
    pub shown: String,
}

impl DeliveryMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
        }
    }

    /// The URL the hook delivers to for `trigger` (its namespace resolved).
    pub fn target(self, api_host: &ApiHost, trigger: &QualifiedName, key: &AuthKey) -> HookTarget {
        match self {
            Self::Direct => {
                let shown = api_host.trigger_url(trigger);
                let registered = with_userinfo(&shown, key);
                HookTarget {
                    registered: Secret::new(registered),
                    shown,
                }
            }
        }
    }

    /// Refuses content types the receiving end cannot take.
    pub fn check_content_type(self, content_type: ContentType) -> Result<(), ParamError> {
        match (self, content_type) {
            (_, ContentType::Json) => Ok(()),
            (Self::Direct, ContentType::Form) => Err(ParamError::invalid(
                "contentType",
                "form cannot fire a trigger directly: OpenWhisk's trigger API reads JSON bodies only \
                 and refuses form-encoded deliveries (415); use json",
            )),
        }
    }
}

/// `scheme://user:password@rest`, each half percent-encoded.
fn with_userinfo(url: &str, key: &AuthKey) -> String {
    let exposed = key.expose();
    let (user, password) = exposed.split_once(':').unwrap_or((&exposed, ""));
    match url.split_once("://") {
        Some((scheme, rest)) => format!(
            "{scheme}://{}:{}@{rest}",
            encode_userinfo(user),
            encode_userinfo(password)
        ),
        None => url.to_owned(),
    }
}

fn encode_userinfo(part: &str) -> String {
    let mut encoded = String::with_capacity(part.len());
    for byte in part.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
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

/// `url` with any userinfo removed, for showing.
pub fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
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
        let target = DeliveryMode::Direct.target(&host, &trigger("/guest/my hook"), &key);
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
    fn direct_mode_refuses_form_deliveries() {
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

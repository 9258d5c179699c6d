//! OpenWhisk names and API hosts, normalised once so that every request path is built the same way.

use std::fmt;

/// A fully qualified entity name: `/namespace/name` or `/namespace/package/name`.
///
/// The namespace may be `_`, OpenWhisk's "the caller's default namespace"; [`QualifiedName::resolve`]
/// replaces it. Parsing accepts what users type: `name`, `pkg/name`, `/ns/name`, `/ns/pkg/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QualifiedName {
    namespace: String,
    package: Option<String>,
    name: String,
}

/// The namespace OpenWhisk reads as "the caller's own".
pub const DEFAULT_NAMESPACE: &str = "_";

impl QualifiedName {
    pub fn new(namespace: &str, package: Option<&str>, name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            package: package.map(str::to_owned),
            name: name.to_owned(),
        }
    }

    /// Parses a name as the CLI does. A leading `/` means the first segment is the namespace;
    /// without it the namespace is `_`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (absolute, rest) = match text.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let segments: Vec<&str> = rest.split('/').collect();
        if segments.iter().any(|segment| segment.trim().is_empty()) {
            return Err(format!(
                "{text:?} is not an OpenWhisk name: expected `name`, `package/name`, `/namespace/name` or `/namespace/package/name`"
            ));
        }
        match (absolute, segments.as_slice()) {
            (false, [name]) => Ok(Self::new(DEFAULT_NAMESPACE, None, name)),
            (false, [package, name]) => Ok(Self::new(DEFAULT_NAMESPACE, Some(package), name)),
            (true, [namespace, name]) => Ok(Self::new(namespace, None, name)),
            (true, [namespace, package, name]) => Ok(Self::new(namespace, Some(package), name)),
            _ => Err(format!(
                "{text:?} is not an OpenWhisk name: it has too many `/` separated parts"
            )),
        }
    }

    /// The name an entity's `{"path": "ns[/pkg]", "name": "n"}` reference gives (how OpenWhisk
    /// shows a rule's `trigger` and `action`).
    pub fn from_path_name(path: &str, name: &str) -> Result<Self, String> {
        Self::parse(&format!("/{}/{name}", path.trim_matches('/')))
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn package(&self) -> Option<&str> {
        self.package.as_deref()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `pkg/name` or `name`: the entity's path inside its namespace.
    pub fn entity_path(&self) -> String {
        match &self.package {
            Some(package) => format!("{package}/{}", self.name),
            None => self.name.clone(),
        }
    }

    pub fn is_default_namespace(&self) -> bool {
        self.namespace == DEFAULT_NAMESPACE
    }

    /// The same name with `_` replaced by `namespace`.
    #[must_use]
    pub fn resolve(&self, namespace: &str) -> Self {
        let mut resolved = self.clone();
        if resolved.is_default_namespace() {
            resolved.namespace = namespace.to_owned();
        }
        resolved
    }

    /// The same name in another namespace (e.g. a helper entity beside the user's trigger).
    #[must_use]
    pub fn sibling(&self, name: &str) -> Self {
        Self::new(&self.namespace, None, name)
    }
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}/{}", self.namespace, self.entity_path())
    }
}

/// The OpenWhisk API host, normalised to `scheme://host[:port]` with no trailing slash or
/// `/api/v1`, whatever form `__OW_API_HOST` or a user gave it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiHost(String);

impl ApiHost {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let mut host = text.trim_end_matches('/').to_owned();
        if host.is_empty() {
            return Err("the OpenWhisk API host is not set (expected e.g. https://openwhisk.example or __OW_API_HOST)".into());
        }
        if !text.contains("://") {
            // The CLI's and the platform's convention: a bare host means HTTPS.
            host = format!("https://{host}");
        }
        for suffix in ["/api/v1", "/api"] {
            if let Some(stripped) = host.strip_suffix(suffix) {
                host = stripped.trim_end_matches('/').to_owned();
            }
        }
        let (scheme, rest) = host.split_once("://").unwrap_or(("", ""));
        if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains('@') {
            return Err(format!(
                "{:?} is not a usable OpenWhisk API host: expected http(s)://host[:port] without credentials",
                redact_userinfo(text)
            ));
        }
        Ok(Self(host))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `{host}/api/v1{path}`.
    pub fn api_url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.0)
    }

    /// The URL that fires `trigger` with a `POST`: `{host}/api/v1/namespaces/{ns}/triggers/{name}`,
    /// each segment percent-encoded. What a webhook registered with a third-party service points
    /// at. The namespace must be resolved (not `_`) for the URL to mean one trigger.
    pub fn trigger_url(&self, trigger: &QualifiedName) -> String {
        self.api_url(&format!(
            "/namespaces/{}/triggers/{}",
            percent_encode(trigger.namespace()),
            percent_encode(trigger.name())
        ))
    }
}

impl fmt::Display for ApiHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Replaces `user:pass@` in a URL with `***@`, for messages.
pub fn redact_userinfo(url: &str) -> String {
    replace_userinfo(url, "***@")
}

/// `url` with any `user:pass@` removed, for showing where something points.
pub fn without_userinfo(url: &str) -> String {
    replace_userinfo(url, "")
}

fn replace_userinfo(url: &str, with: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{with}{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Percent-encodes one URL path segment, query value or userinfo part: everything but RFC 3986's
/// unreserved characters (OpenWhisk names may hold spaces and `@`).
pub fn percent_encode(segment: &str) -> String {
    let mut encoded = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                encoded.push(byte as char);
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_the_cli_accepts() {
        let cases = [
            ("t", "/_/t"),
            ("pkg/a", "/_/pkg/a"),
            ("/guest/t", "/guest/t"),
            ("/guest/pkg/a", "/guest/pkg/a"),
            (" /_/t ", "/_/t"),
        ];
        for (text, expected) in cases {
            assert_eq!(
                QualifiedName::parse(text).expect(text).to_string(),
                expected
            );
        }
        for bad in ["", "/", "/guest", "a//b", "/a/b/c/d", "a/b/c"] {
            assert!(QualifiedName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn resolves_the_default_namespace_only() {
        let name = QualifiedName::parse("/_/t").expect("valid");
        assert_eq!(name.resolve("guest").to_string(), "/guest/t");
        let name = QualifiedName::parse("/other/t").expect("valid");
        assert_eq!(name.resolve("guest").to_string(), "/other/t");
        assert_eq!(name.sibling("t-poll").to_string(), "/other/t-poll");
        let from_rule = QualifiedName::from_path_name("guest/pkg", "a").expect("valid");
        assert_eq!(from_rule.to_string(), "/guest/pkg/a");
        let from_rule = QualifiedName::from_path_name("guest", "t").expect("valid");
        assert_eq!(from_rule.to_string(), "/guest/t");
        assert!(QualifiedName::from_path_name("", "t").is_err());
    }

    #[test]
    fn normalises_api_hosts() {
        for (text, expected) in [
            ("openwhisk.example", "https://openwhisk.example"),
            ("https://openwhisk.example/", "https://openwhisk.example"),
            ("http://127.0.0.1:3233/api/v1", "http://127.0.0.1:3233"),
            ("http://127.0.0.1:3233/api/v1/", "http://127.0.0.1:3233"),
            ("172.17.0.1:443/api", "https://172.17.0.1:443"),
        ] {
            assert_eq!(ApiHost::parse(text).expect(text).as_str(), expected);
        }
        assert_eq!(
            ApiHost::parse("http://h:1")
                .expect("valid")
                .api_url("/namespaces"),
            "http://h:1/api/v1/namespaces"
        );
        assert_eq!(
            ApiHost::parse("http://h:1")
                .expect("valid")
                .trigger_url(&QualifiedName::parse("/guest/my trigger").expect("valid")),
            "http://h:1/api/v1/namespaces/guest/triggers/my%20trigger"
        );
        for bad in ["", "ftp://x", "https://", "https://u:p@host"] {
            let error = ApiHost::parse(bad).expect_err(bad);
            assert!(!error.contains("u:p"), "{error}");
        }
    }

    #[test]
    fn encodes_segments_and_redacts_userinfo() {
        assert_eq!(percent_encode("my trigger@x"), "my%20trigger%40x");
        assert_eq!(redact_userinfo("https://u:p@h/x@y"), "https://***@h/x@y");
        assert_eq!(redact_userinfo("https://h/x@y"), "https://h/x@y");
    }
}

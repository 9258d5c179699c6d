//! Who is calling: Basic auth against the configured namespace keys, and what a key may reach.

use crate::model::config::NamespaceKey;
use crate::model::error::{Error, messages};
use base64::Engine;

/// The namespace a request acts as, with its key (absent for namespaces without one, such as
/// a catalog namespace populated through the library API).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub namespace: String,
    pub auth_key: Option<String>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The namespace a path segment names: `_` is the caller's own.
    pub fn resolve<'a>(&'a self, path_namespace: &'a str) -> &'a str {
        if path_namespace == crate::model::names::DEFAULT_NAMESPACE {
            &self.namespace
        } else {
            path_namespace
        }
    }
}

/// Checks an `Authorization` header value against the keys.
pub(crate) fn authenticate(header: Option<&str>, keys: &[NamespaceKey]) -> Result<Identity, Error> {
    let header = header.ok_or_else(|| Error::Unauthorized(messages::MISSING_AUTH.into()))?;
    let invalid = || Error::Unauthorized(messages::UNAUTHORIZED.into());
    let (scheme, encoded) = header.trim().split_once(' ').ok_or_else(invalid)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(invalid());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| invalid())?;
    let presented = String::from_utf8(decoded).map_err(|_| invalid())?;
    keys.iter()
        .find(|k| k.auth_key == presented)
        .map(|k| Identity {
            namespace: k.namespace.clone(),
            auth_key: Some(k.auth_key.clone()),
        })
        .ok_or_else(invalid)
}

/// Fails with 403 unless `namespace` is the caller's own.
pub(crate) fn own_namespace(identity: &Identity, namespace: &str) -> Result<(), Error> {
    if identity.namespace == namespace {
        Ok(())
    } else {
        Err(Error::forbidden())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(s: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    }

    #[test]
    fn authenticates_known_keys_only() {
        let keys = vec![NamespaceKey::new("guest", "u:k")];
        let id = authenticate(Some(&basic("u:k")), &keys).unwrap();
        assert_eq!(id.namespace, "guest");
        assert_eq!(id.resolve("_"), "guest");
        assert_eq!(id.resolve("other"), "other");
        for bad in [
            None,
            Some(basic("u:x")),
            Some("Bearer x".into()),
            Some("Basic !!".into()),
        ] {
            let err = authenticate(bad.as_deref(), &keys).unwrap_err();
            assert_eq!(err.status(), 401);
        }
    }
}

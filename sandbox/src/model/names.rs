//! Entity names: validation and fully qualified names (`/namespace[/package]/name`).

use crate::model::error::{Error, messages};
use serde_json::{Value, json};

/// The longest entity name or namespace the controller accepts.
const MAX_NAME_LEN: usize = 256;

/// `_` in a path or reference means "the namespace of the caller's key".
pub(crate) const DEFAULT_NAMESPACE: &str = "_";

/// The namespace of the packages OpenWhisk installs (here: the alarms package).
pub(crate) const SYSTEM_NAMESPACE: &str = "whisk.system";

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The controller's rule for names: `\A([\w]|[\w][\w@ .-]*[\w@.-]+)\z`, at most 256 characters.
pub(crate) fn is_valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    s.len() <= MAX_NAME_LEN
        && is_word(first)
        && s.chars().all(|c| is_word(c) || "@ .-".contains(c))
        && !s.ends_with(' ')
}

pub(crate) fn check_name(s: &str) -> Result<(), Error> {
    if is_valid_name(s) {
        Ok(())
    } else {
        Err(Error::bad(messages::ILLEGAL_NAME))
    }
}

pub(crate) fn check_namespace(s: &str) -> Result<(), Error> {
    if is_valid_name(s) {
        Ok(())
    } else {
        Err(Error::bad(messages::ILLEGAL_NAMESPACE))
    }
}

/// A fully qualified entity: namespace, optional package, name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct EntityName {
    pub ns: String,
    pub pkg: Option<String>,
    pub name: String,
}

impl EntityName {
    pub fn new(ns: &str, pkg: Option<&str>, name: &str) -> Self {
        EntityName {
            ns: ns.to_string(),
            pkg: pkg.map(str::to_string),
            name: name.to_string(),
        }
    }

    /// `ns` or `ns/pkg`: the `namespace` field of a packaged action, the `path` of a PathName.
    pub fn path(&self) -> String {
        match &self.pkg {
            Some(pkg) => format!("{}/{}", self.ns, pkg),
            None => self.ns.clone(),
        }
    }

    /// The entity's key inside its namespace: `name` or `pkg/name`.
    pub fn key(&self) -> String {
        match &self.pkg {
            Some(pkg) => format!("{pkg}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// `ns/pkg/name`, how the controller prints names inside rule links and activation paths.
    pub fn qualified(&self) -> String {
        format!("{}/{}", self.ns, self.key())
    }

    /// `/ns/pkg/name`.
    pub fn with_slash(&self) -> String {
        format!("/{}", self.qualified())
    }

    /// The swagger `PathName` object: `{"path": "ns/pkg", "name": "a"}`.
    pub fn path_name(&self) -> Value {
        json!({ "path": self.path(), "name": self.name })
    }

    /// Parses a reference as clients write it: `/ns/name`, `/ns/pkg/name` (`_` for the caller's
    /// namespace), or relative to `default_ns`: `name`, `pkg/name`.
    pub fn parse_reference(s: &str, default_ns: &str) -> Result<EntityName, Error> {
        let malformed = || Error::bad(messages::MALFORMED_FQN);
        let (absolute, rest) = match s.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let (ns, pkg, name) = match (absolute, parts.as_slice()) {
            (true, [ns, name]) => (*ns, None, *name),
            (true, [ns, pkg, name]) => (*ns, Some(*pkg), *name),
            (false, [name]) => (default_ns, None, *name),
            (false, [pkg, name]) => (default_ns, Some(*pkg), *name),
            _ => return Err(malformed()),
        };
        let ns = if ns == DEFAULT_NAMESPACE {
            default_ns
        } else {
            ns
        };
        if ns.is_empty() || name.is_empty() {
            return Err(malformed());
        }
        check_namespace(ns)?;
        if let Some(pkg) = pkg {
            check_name(pkg)?;
        }
        check_name(name)?;
        Ok(EntityName::new(ns, pkg, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_names_like_the_controller() {
        for ok in ["a", "my-trigger", "a.b@c", "x y", "_", "9"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a/b", "a ", ".a", "a\u{e9}", &"x".repeat(257)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn parses_references() {
        let r = EntityName::parse_reference("/_/pkg/a", "guest").unwrap();
        assert_eq!(r.qualified(), "guest/pkg/a");
        assert_eq!(r.path(), "guest/pkg");
        let r = EntityName::parse_reference("/other/T", "guest").unwrap();
        assert_eq!(
            (r.ns.as_str(), r.pkg.as_deref(), r.name.as_str()),
            ("other", None, "T")
        );
        assert_eq!(
            EntityName::parse_reference("pkg/a", "guest")
                .unwrap()
                .with_slash(),
            "/guest/pkg/a"
        );
        assert_eq!(
            EntityName::parse_reference("T", "guest").unwrap().key(),
            "T"
        );
        for bad in ["", "/", "/ns", "/a/b/c/d", "a/b/c", "/ns/", "/ns/bad name "] {
            assert!(EntityName::parse_reference(bad, "guest").is_err(), "{bad}");
        }
    }
}

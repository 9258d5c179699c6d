//! Values that must never print themselves: OpenWhisk keys and third-party credentials.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a redacted secret prints as, in logs, errors and READ results alike.
pub const REDACTED: &str = "********";

/// A credential. `Debug`, `Display` and `Serialize` all print [`REDACTED`]; only
/// [`Secret::expose`] gives the value, so every use of the real value is greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// An OpenWhisk API key, `uuid:key`: the user name is the subject's uuid (not secret), the
/// password half is the secret. Prints as `uuid:********`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey {
    user: String,
    password: Secret,
}

impl AuthKey {
    /// The longest key accepted. OpenWhisk's keys are about 100 characters (a uuid, `:`, 64
    /// characters); a far longer value is not a key, and as an `Authorization` header it could
    /// not even be sent.
    pub const MAX_CHARS: usize = 4096;

    /// Splits at the first `:` as OpenWhisk does; both halves must be non-empty.
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        if value.trim().len() > Self::MAX_CHARS {
            return Err(
                "expected an OpenWhisk API key `uuid:key` (about 100 characters); this value is \
                 over 4096 characters long, so it is not a key: check what is passed as the key",
            );
        }
        match value.trim().split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => Ok(Self {
                user: user.to_owned(),
                password: Secret::new(password),
            }),
            _ => Err("expected an OpenWhisk API key of the form `uuid:key`"),
        }
    }

    /// The subject's uuid, safe to show.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The whole key as OpenWhisk prints it (`uuid:key`). Handle with care.
    pub fn expose(&self) -> String {
        format!("{}:{}", self.user, self.password.expose())
    }

    /// The value of an `Authorization` header.
    pub fn basic_authorization(&self) -> String {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(self.expose());
        format!("Basic {encoded}")
    }
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{REDACTED}", self.user)
    }
}

impl fmt::Display for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_key_splits_at_first_colon_and_never_prints_the_secret() {
        let key = AuthKey::parse("abc:def:ghi").expect("valid");
        assert_eq!(key.user(), "abc");
        assert_eq!(key.expose(), "abc:def:ghi");
        assert_eq!(format!("{key:?} {key}"), "abc:******** abc:********");
        assert_eq!(key.basic_authorization(), "Basic YWJjOmRlZjpnaGk=");
    }

    #[test]
    fn auth_key_rejects_halves_that_are_missing() {
        for bad in ["", "abc", ":def", "abc:", "   "] {
            assert!(AuthKey::parse(bad).is_err(), "{bad:?}");
        }
        let huge = format!("uuid:{}", "k".repeat(AuthKey::MAX_CHARS));
        let error = AuthKey::parse(&huge).expect_err("too long");
        assert!(error.contains("over 4096 characters"), "{error}");
    }

    #[test]
    fn secret_serializes_redacted() {
        let secret = Secret::new("hunter2");
        assert_eq!(
            serde_json::to_string(&secret).expect("json"),
            "\"********\""
        );
        assert_eq!(format!("{secret} {secret:?}"), "******** ********");
        assert_eq!(secret.expose(), "hunter2");
    }
}

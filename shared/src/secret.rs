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

/// The longest id of a key in a rotating set (relay keys, provider keys).
pub const MAX_KEY_ID_CHARS: usize = 32;

/// Checks the id of a key in a rotating set (`[{"id", "key"}, ...]`, the first in use): 1 to
/// [`MAX_KEY_ID_CHARS`] of `A-Z a-z 0-9 . _ -`, safe in a URL and a log line.
pub fn check_key_id(id: &str) -> Result<(), String> {
    let valid = !id.is_empty()
        && id.len() <= MAX_KEY_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "key id {id:?} is not valid: 1 to {MAX_KEY_ID_CHARS} letters, digits, `.`, `_` or `-`"
        ))
    }
}

/// Reads a secret from text (numbers too: `-p password 1234` arrives as a number), trimmed,
/// never quoting a refused value; every secret read while [`collect`] runs is noted for it.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let secret = Secret(deserializer.deserialize_any(crate::params::TextVisitor)?);
        note(&secret);
        Ok(secret)
    }
}

thread_local! {
    /// The secrets read by the current [`collect`], if one runs.
    static COLLECTED: std::cell::RefCell<Option<Vec<Secret>>> = const { std::cell::RefCell::new(None) };
}

/// A secret found inside another value (a password in a URL's userinfo): noted like one read
/// on its own, so that it is masked too.
pub fn noted(value: impl Into<String>) -> Secret {
    let secret = Secret::new(value);
    note(&secret);
    secret
}

fn note(secret: &Secret) {
    if secret.is_empty() {
        return;
    }
    COLLECTED.with(|collected| {
        if let Some(list) = collected.borrow_mut().as_mut() {
            list.push(secret.clone());
        }
    });
}

/// Runs `read` and returns, beside its outcome, every [`Secret`] it deserialized (parameters,
/// records stored with their secrets): what the activation's output must never show. A feed
/// declares a field as `Secret` and its value is masked wherever it turns up, without listing
/// it anywhere else.
pub fn collect<T>(read: impl FnOnce() -> T) -> (T, Vec<Secret>) {
    let outer = COLLECTED.with(|collected| collected.borrow_mut().replace(Vec::new()));
    let result = read();
    let secrets = COLLECTED.with(|collected| {
        let mut slot = collected.borrow_mut();
        let mine = slot.take().unwrap_or_default();
        if let Some(mut outer) = outer {
            outer.extend(mine.iter().cloned());
            *slot = Some(outer);
        }
        mine
    });
    (result, secrets)
}

/// Serde for a [`Secret`] stored with its real value (it serializes redacted): `#[serde(with =
/// "feedkit::secret::exposed")]` on a record's field.
pub mod exposed {
    use super::Secret;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(secret: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(secret.expose())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        Secret::deserialize(deserializer)
    }
}

/// [`exposed`] for an optional secret (`None` and an empty string are no secret).
pub mod exposed_option {
    use super::Secret;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        secret: &Option<Secret>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match secret {
            Some(secret) => serializer.serialize_str(secret.expose()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Secret>, D::Error> {
        Ok(Option::<Secret>::deserialize(deserializer)?.filter(|secret| !secret.is_empty()))
    }
}

/// [`exposed`] for a map of secrets (header names to values).
pub mod exposed_map {
    use std::collections::BTreeMap;

    use super::Secret;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<String, Secret>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_map(map.iter().map(|(name, secret)| (name, secret.expose())))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<String, Secret>, D::Error> {
        BTreeMap::<String, Secret>::deserialize(deserializer)
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
    fn secrets_read_are_collected_for_masking() {
        let (read, secrets) = collect(|| {
            let inner = collect(|| serde_json::from_str::<Secret>("\"inner\"")).1;
            assert_eq!(inner.len(), 1);
            serde_json::from_str::<Vec<Secret>>(r#"[" a ", 7]"#)
        });
        let read = read.expect("secrets");
        assert_eq!(read[0].expose(), "a");
        assert_eq!(read[1].expose(), "7");
        let exposed: Vec<&str> = secrets.iter().map(Secret::expose).collect();
        assert_eq!(exposed, ["inner", "a", "7"]);
        assert!(
            serde_json::from_str::<Secret>("[\"hunter2\"]")
                .is_err_and(|e| !e.to_string().contains("hunter2"))
        );
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

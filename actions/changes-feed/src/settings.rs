//! The feed's parameters ([`ChangesParams`]): read, checked, and turned into what the provider's
//! API takes.

use feedkit::params::{Bounded, Flag, Param, Text};
use feedkit::provider::ProviderUrl;
use feedkit::{ParamError, Secret};
use provider_api::{
    ChangesConfig, ChangesPatch, Confidential, DatabasePatch, IfRecreated, MAX_CHANGES_PER_FIRE,
    Since,
};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Every parameter changes-feed takes: the feed's own first (in the order the manifest and the
/// README list them), the provider's (bound on the package by its deployer) last.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ChangesParams {
    /// The database server's http(s) URL (credentials may be in it).
    pub db_url: Param<DbUrl>,
    pub db_name: Param<Text>,
    pub username: Param<Text>,
    pub password: Param<Secret>,
    /// A design-document filter `ddoc/name` (not with `selector`).
    pub filter: Param<Filter>,
    /// A Mango selector (not with `filter`).
    pub selector: Param<Selector>,
    pub include_docs: Param<Flag>,
    pub since: Param<SinceParam>,
    pub max_changes_per_fire: Param<Bounded<1, { MAX_CHANGES_PER_FIRE as u64 }>>,
    pub if_recreated: Param<IfRecreatedParam>,
    /// The changes provider's URL (package-bound).
    pub provider_url: Param<ProviderUrl>,
    /// The changes provider's secret (package-bound).
    pub provider_secret: Param<Secret>,
}

impl ChangesParams {
    /// Whether any of the feed's own parameters was given (UPDATE needs one).
    fn changes_something(&self) -> bool {
        self.db_url.is_given()
            || self.db_name.is_given()
            || self.username.is_given()
            || self.password.is_given()
            || self.filter.is_given()
            || self.selector.is_given()
            || self.include_docs.is_given()
            || self.since.is_given()
            || self.max_changes_per_fire.is_given()
            || self.if_recreated.is_given()
    }
}

/// Where the database is and who reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Database {
    /// `http(s)://host[:port][/prefix]`, without credentials.
    pub url: String,
    pub name: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

/// Everything CREATE needs.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedSettings {
    pub database: Database,
    pub filter: Option<String>,
    pub selector: Option<Value>,
    pub include_docs: bool,
    pub max_changes_per_fire: u32,
    pub if_recreated: IfRecreated,
    /// Where the feed starts.
    pub since: Since,
}

/// `dbUrl`: the URL without credentials, and the credentials it carried (percent-decoded). It
/// is never echoed with them; its password is masked like any secret.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Text")]
pub struct DbUrl {
    pub url: String,
    pub credentials: Option<(String, Secret)>,
}

impl TryFrom<Text> for DbUrl {
    type Error = String;
    fn try_from(text: Text) -> Result<Self, String> {
        split_db_url(text.as_str())
    }
}

/// `filter`: `ddoc/name` (a leading `_design/` is dropped).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Text")]
pub struct Filter(pub String);

impl TryFrom<Text> for Filter {
    type Error = String;
    fn try_from(text: Text) -> Result<Self, String> {
        let filter = text.as_str();
        let filter = filter.strip_prefix("_design/").unwrap_or(filter);
        match filter.split_once('/') {
            Some((ddoc, name)) if !ddoc.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(Self(filter.to_owned()))
            }
            _ => Err(format!(
                "{filter:?} is not a design-document filter; expected `ddoc/name`"
            )),
        }
    }
}

/// `selector`: a Mango selector, a JSON object (or its text).
#[derive(Debug, Clone, PartialEq)]
pub struct Selector(pub Value);

impl<'de> Deserialize<'de> for Selector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let object = match Value::deserialize(deserializer)? {
            Value::String(text) => serde_json::from_str::<Value>(&text).ok(),
            other => Some(other),
        };
        match object {
            Some(selector @ Value::Object(_)) => Ok(Self(selector)),
            _ => Err(serde::de::Error::custom(
                "expected a Mango selector: a JSON object such as {\"type\": \"order\"}",
            )),
        }
    }
}

/// `since`: `now` (the default), `beginning` or `0`, or a sequence the database gave.
#[derive(Debug, Clone, PartialEq)]
pub struct SinceParam(pub Since);

impl<'de> Deserialize<'de> for SinceParam {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let since = match Value::deserialize(deserializer)? {
            number @ Value::Number(_) if number.as_u64().is_some() => Since::Seq(number),
            Value::String(text) => {
                let text = text.trim();
                match text.to_ascii_lowercase().as_str() {
                    "now" => Since::Now,
                    "beginning" | "0" => Since::Seq(Value::from(0)),
                    _ => match text.parse::<u64>() {
                        Ok(number) => Since::Seq(Value::from(number)),
                        Err(_) => Since::Seq(Value::from(text)),
                    },
                }
            }
            _ => {
                return Err(serde::de::Error::custom(
                    "expected \"now\", \"beginning\" (or 0), or a sequence from the database",
                ));
            }
        };
        Ok(Self(since))
    }
}

/// `ifRecreated`: what the feed does when its database is deleted and created again.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "Text")]
pub struct IfRecreatedParam(pub IfRecreated);

impl TryFrom<Text> for IfRecreatedParam {
    type Error = &'static str;
    fn try_from(text: Text) -> Result<Self, Self::Error> {
        match text.as_str().to_ascii_lowercase().as_str() {
            "beginning" => Ok(Self(IfRecreated::Beginning)),
            "now" => Ok(Self(IfRecreated::Now)),
            "disable" => Ok(Self(IfRecreated::Disable)),
            _ => Err(
                "expected \"beginning\" (fire the new database from its first change, the default), \"now\" or \"disable\"",
            ),
        }
    }
}

/// Splits `http(s)://user:pass@host/prefix` into the URL without credentials and the
/// credentials (percent-decoded). The URL is never echoed with its credentials.
fn split_db_url(text: &str) -> Result<DbUrl, String> {
    let invalid = |problem: &str| format!("{:?} {problem}", hide_userinfo(text));
    let (scheme, rest) = text
        .split_once("://")
        .ok_or_else(|| invalid("is not a URL; expected http(s)://host[:port]"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(invalid("is not an http(s) URL"));
    }
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(index) => rest.split_at(index),
        None => (rest, ""),
    };
    if path.contains(['?', '#']) {
        return Err(invalid("must not have a query or fragment"));
    }
    let (credentials, host) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let user = percent_decode(user).ok_or_else(|| invalid("has malformed credentials"))?;
            let password =
                percent_decode(password).ok_or_else(|| invalid("has malformed credentials"))?;
            (Some((user, feedkit::secret::noted(password))), host)
        }
        None => (None, authority),
    };
    if host.is_empty() || host.starts_with(':') {
        return Err(invalid("has no host"));
    }
    Ok(DbUrl {
        url: format!("{scheme}://{host}{}", path.trim_end_matches('/')),
        credentials: credentials.filter(|(user, _)| !user.is_empty()),
    })
}

/// The URL with anything before its last `@` masked, even when it has no scheme.
fn hide_userinfo(text: &str) -> String {
    match text.rsplit_once('@') {
        Some((before, host)) => match before.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://***@{host}"),
            None => format!("***@{host}"),
        },
        None => text.to_owned(),
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// `username`/`password`, over what `dbUrl` carried.
fn credentials(
    params: &ChangesParams,
    from_url: Option<(String, Secret)>,
) -> Result<(Option<String>, Option<Secret>), ParamError> {
    let username = params.username.get().map(|text| text.as_str().to_owned());
    let password = params.password.get().cloned();
    let (url_user, url_password) = match from_url {
        Some((user, password)) => (Some(user), Some(password)),
        None => (None, None),
    };
    let username = username.or(url_user);
    let password = password.or(url_password);
    if password.is_some() && username.is_none() {
        return Err(ParamError::invalid(
            "password",
            "a password needs a username (parameter `username`, or in dbUrl)",
        ));
    }
    Ok((username, password))
}

/// Reads CREATE's parameters.
pub fn feed_settings(params: &ChangesParams) -> Result<FeedSettings, ParamError> {
    let db_url = params.db_url.require(
        "dbUrl",
        "the database server's URL, e.g. https://account.example.com or http://host:5984",
    )?;
    let name = params
        .db_name
        .require("dbName", "the name of the database to watch")?;
    let (username, password) = credentials(params, db_url.credentials.clone())?;
    let filter = params.filter.get().map(|filter| filter.0.clone());
    let selector = params.selector.get().map(|selector| selector.0.clone());
    if filter.is_some() && selector.is_some() {
        return Err(ParamError::invalid(
            "selector",
            "give either filter or selector, not both",
        ));
    }
    Ok(FeedSettings {
        database: Database {
            url: db_url.url.clone(),
            name: name.as_str().to_owned(),
            username,
            password,
        },
        filter,
        selector,
        include_docs: params.include_docs.get().is_some_and(|flag| flag.0),
        max_changes_per_fire: params.max_changes_per_fire.get().map_or(1, |n| n.0 as u32),
        if_recreated: params
            .if_recreated
            .get()
            .map_or_else(IfRecreated::default, |given| given.0),
        since: params
            .since
            .get()
            .map_or(Since::Now, |since| since.0.clone()),
    })
}

impl Database {
    /// The database as the provider's API takes it (the password in the clear: this goes only
    /// to the provider, over the request body).
    fn to_provider(&self) -> provider_api::Database {
        provider_api::Database {
            url: self.url.clone(),
            name: self.name.clone(),
            username: self.username.clone(),
            password: self
                .password
                .as_ref()
                .map(|password| Confidential::new(password.expose())),
        }
    }
}

impl FeedSettings {
    /// The `config` of the provider's registration.
    pub fn to_provider(&self) -> ChangesConfig {
        ChangesConfig {
            database: self.database.to_provider(),
            filter: self.filter.clone(),
            selector: self.selector.clone(),
            include_docs: self.include_docs,
            max_changes_per_fire: self.max_changes_per_fire,
            if_recreated: self.if_recreated,
        }
    }
}

/// UPDATE: the provider's patch (only what the user gave; an empty `filter` or `selector`
/// clears it), where to start, and the database and filter to check when they change.
#[derive(Debug)]
pub struct Update {
    pub patch: ChangesPatch,
    pub since: Option<Since>,
    /// Set when the parameters name a database fully (dbUrl and dbName): where a new `filter`
    /// is looked for. The provider checks the database itself.
    pub database: Option<Database>,
    pub filter: Option<String>,
}

pub fn update(params: &ChangesParams) -> Result<Update, ParamError> {
    if !params.changes_something() {
        return Err(ParamError::missing(
            "(parameters)",
            "at least one parameter to change: dbUrl, dbName, username, password, filter, selector, includeDocs, since, maxChangesPerFire or ifRecreated",
        ));
    }
    let mut patch = ChangesPatch::default();
    let mut database = DatabasePatch::default();
    let mut from_url = None;
    let mut url = None;
    if let Some(db_url) = params.db_url.get() {
        database.url = Some(db_url.url.clone());
        url = Some(db_url.url.clone());
        from_url = db_url.credentials.clone();
    }
    let name = params.db_name.get().map(|name| name.as_str().to_owned());
    database.name = name.clone();
    let url_had_credentials = from_url.is_some();
    let given_username = params.username.get().map(|text| text.as_str().to_owned());
    let given_password = params.password.get().cloned();
    let (username, password) = match (&given_username, &given_password, from_url) {
        (None, None, None) => (None, None),
        (_, _, from_url) => {
            let (user, password) = from_url.map_or((None, None), |(u, p)| (Some(u), Some(p)));
            (
                given_username.clone().or(user),
                given_password.clone().or(password),
            )
        }
    };
    if let Some(username) = &username {
        database.username = Some(Some(username.clone()));
    }
    if let Some(password) = &password {
        database.password = Some(Some(Confidential::new(password.expose())));
    }
    if url_had_credentials && password.is_none() {
        database.password = Some(None);
    }
    if !database.is_empty() {
        patch.database = Some(database);
    }
    let filter_value = params.filter.get().map(|filter| filter.0.clone());
    if params.filter.is_given() {
        patch.filter = Some(filter_value.clone());
    }
    let selector = params.selector.get().map(|selector| selector.0.clone());
    if params.selector.is_given() {
        patch.selector = Some(selector.clone());
    }
    if filter_value.is_some() && selector.is_some() {
        return Err(ParamError::invalid(
            "selector",
            "give either filter or selector, not both",
        ));
    }
    // Setting one clears the other, so that switching from a filter to a selector is one update.
    if filter_value.is_some() {
        patch.selector = Some(None);
    }
    if selector.is_some() {
        patch.filter = Some(None);
    }
    patch.include_docs = params.include_docs.get().map(|flag| flag.0);
    patch.max_changes_per_fire = params.max_changes_per_fire.get().map(|n| n.0 as u32);
    patch.if_recreated = params.if_recreated.get().map(|given| given.0);
    let database = match (url, name) {
        (Some(url), Some(name)) => Some(Database {
            url,
            name,
            username,
            password,
        }),
        _ => None,
    };
    Ok(Update {
        patch,
        since: params.since.get().map(|since| since.0.clone()),
        database,
        filter: filter_value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(value: Value) -> ChangesParams {
        read(value).expect("valid parameters")
    }

    fn read(value: Value) -> Result<ChangesParams, ParamError> {
        feedkit::params::parse(value.as_object().expect("object"), "changes-feed")
    }

    #[test]
    fn reads_a_full_create() {
        let settings = feed_settings(&params(json!({
            "dbUrl": "HTTPS://ad%40min:p%3Ass@db.example.com:6984/couch/",
            "dbName": "orders",
            "selector": "{\"type\": \"order\"}",
            "includeDocs": "true",
            "maxChangesPerFire": "20",
            "since": "beginning",
        })))
        .expect("valid");
        assert_eq!(settings.database.url, "https://db.example.com:6984/couch");
        assert_eq!(settings.database.username.as_deref(), Some("ad@min"));
        assert_eq!(
            settings.database.password.as_ref().map(Secret::expose),
            Some("p:ss")
        );
        assert_eq!(settings.selector, Some(json!({"type": "order"})));
        assert!(settings.include_docs);
        assert_eq!(settings.max_changes_per_fire, 20);
        assert_eq!(settings.since, Since::Seq(json!(0)));
        let config = serde_json::to_value(settings.to_provider()).expect("json");
        assert_eq!(config["database"]["password"], "p:ss");
        assert_eq!(config["selector"], json!({"type": "order"}));
        assert!(config.get("filter").is_none());
    }

    #[test]
    fn defaults_start_now_one_change_per_fire() {
        let settings = feed_settings(&params(json!({
            "dbUrl": "http://127.0.0.1:5984", "dbName": "db", "filter": "_design/app/by_type",
            "since": 12,
        })))
        .expect("valid");
        assert_eq!(settings.filter.as_deref(), Some("app/by_type"));
        assert_eq!(settings.max_changes_per_fire, 1);
        assert!(!settings.include_docs);
        assert_eq!(settings.since, Since::Seq(json!(12)));
        let now =
            feed_settings(&params(json!({"dbUrl": "http://h", "dbName": "db"}))).expect("valid");
        assert_eq!(now.since, Since::Now);
        assert_eq!(now.database.username, None);
    }

    #[test]
    fn names_the_bad_parameter_and_never_echoes_credentials() {
        let base = json!({"dbUrl": "http://127.0.0.1:5984", "dbName": "db"});
        let cases = [
            ("dbUrl", Value::Null, "missing parameter `dbUrl`"),
            ("dbName", Value::Null, "missing parameter `dbName`"),
            (
                "dbUrl",
                json!("ftp://u:hunter2@h"),
                "invalid parameter `dbUrl`",
            ),
            ("dbUrl", json!("u:hunter2@h"), "invalid parameter `dbUrl`"),
            ("dbUrl", json!("http://u:hunter2@"), "has no host"),
            ("filter", json!("nofilter"), "invalid parameter `filter`"),
            ("selector", json!("[1]"), "invalid parameter `selector`"),
            ("selector", json!(5), "invalid parameter `selector`"),
            (
                "includeDocs",
                json!("maybe"),
                "invalid parameter `includeDocs`",
            ),
            ("maxChangesPerFire", json!(0), "0 is not between 1 and 1000"),
            (
                "maxChangesPerFire",
                json!("lots"),
                "invalid parameter `maxChangesPerFire`",
            ),
            ("since", json!([1]), "invalid parameter `since`"),
            ("password", json!("hunter2"), "a password needs a username"),
        ];
        for (name, value, expected) in cases {
            let mut given = base.clone();
            given[name] = value;
            let error = read(given)
                .and_then(|params| feed_settings(&params))
                .expect_err(expected)
                .to_string();
            assert!(error.contains(expected), "{name}: {error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
        let both = params(
            json!({"dbUrl": "http://h", "dbName": "d", "filter": "a/b", "selector": {"a": 1}}),
        );
        assert!(
            feed_settings(&both)
                .expect_err("both")
                .to_string()
                .contains("not both")
        );
    }

    #[test]
    fn unknown_names_and_provider_parameters() {
        let error = read(json!({"dbname": "x"})).expect_err("typo");
        assert!(error.to_string().contains("`dbname`"), "{error}");
        assert!(read(json!({"dbName": "x", "providerUrl": "http://p"})).is_ok());
        let provider = |given: Value| {
            let params = params(given);
            feedkit::provider::ProviderTarget::from_params(
                &crate::lifecycle::SERVICE,
                &params.provider_url,
                &params.provider_secret,
            )
        };
        let error = provider(json!({})).expect_err("missing");
        assert!(error.to_string().contains("providerUrl"), "{error}");
        let error = provider(json!({"providerUrl": "http://p"})).expect_err("missing");
        assert!(error.to_string().contains("providerSecret"), "{error}");
        let target =
            provider(json!({"providerUrl": "http://p/", "providerSecret": "s3"})).expect("valid");
        assert_eq!(target.url, "http://p");
        assert!(!format!("{target:?}").contains("s3"));
    }

    #[test]
    fn update_sends_only_what_changes() {
        let error = update(&params(json!({"providerUrl": "http://p"}))).expect_err("empty");
        assert!(
            error.to_string().contains("at least one parameter"),
            "{error}"
        );

        let written = |patch: &ChangesPatch| serde_json::to_value(patch).expect("json");
        let change = update(&params(json!({"password": "new"}))).expect("valid");
        assert_eq!(
            written(&change.patch),
            json!({"database": {"password": "new"}})
        );
        assert!(change.database.is_none());

        let change =
            update(&params(json!({"selector": {"t": 1}, "includeDocs": false}))).expect("valid");
        assert_eq!(
            written(&change.patch),
            json!({"selector": {"t": 1}, "filter": null, "includeDocs": false})
        );

        let change = update(&params(json!({"filter": ""}))).expect("valid");
        assert_eq!(written(&change.patch), json!({"filter": null}));

        let change = update(&params(json!({"ifRecreated": "Disable"}))).expect("valid");
        assert_eq!(written(&change.patch), json!({"ifRecreated": "disable"}));
        let error = read(json!({"ifRecreated": "later"})).expect_err("bad");
        assert!(error.to_string().contains("`ifRecreated`"), "{error}");

        let change = update(&params(
            json!({"dbUrl": "http://u:p@h:1", "dbName": "d2", "since": "now"}),
        ))
        .expect("valid");
        let database = change.database.expect("complete");
        assert_eq!(
            (database.url.as_str(), database.username.as_deref()),
            ("http://h:1", Some("u"))
        );
        assert_eq!(written(&change.patch)["database"]["password"], "p");
        assert_eq!(change.since, Some(Since::Now));
    }
}

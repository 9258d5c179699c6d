//! The feed's parameters: read, checked, and turned into what the provider's API takes.

use feedkit::{ParamError, Params, Secret};
use provider_api::{
    ChangesConfig, ChangesPatch, Confidential, DatabasePatch, IfRecreated, MAX_CHANGES_PER_FIRE,
    Since,
};
use serde_json::Value;

/// Every parameter this feed reads; anything else is a typo worth reporting. The feed's own come
/// first, the provider's (package-bound) last.
pub const PARAMETER_NAMES: [&str; 12] = [
    "dbUrl",
    "dbName",
    "username",
    "password",
    "filter",
    "selector",
    "includeDocs",
    "since",
    "maxChangesPerFire",
    "ifRecreated",
    "providerUrl",
    "providerSecret",
];

/// The feed's own parameters (not the provider's), for UPDATE's "nothing to change" check.
const FEED_PARAMETERS: &[&str] = PARAMETER_NAMES.split_at(10).0;

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

/// Where the provider is: package-bound parameters the user never sees.
#[derive(Debug, Clone)]
pub struct ProviderTarget {
    pub url: String,
    pub secret: Secret,
}

/// Refuses parameters this feed does not know (a misspelt `dbname` would otherwise be ignored).
pub fn check_names(params: &Params) -> Result<(), ParamError> {
    for name in params.as_map().keys() {
        if !PARAMETER_NAMES.contains(&name.as_str()) {
            return Err(ParamError::invalid(
                name.as_str(),
                format!(
                    "this feed has no such parameter; it takes {}",
                    PARAMETER_NAMES.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

pub fn provider(params: &Params) -> Result<ProviderTarget, ParamError> {
    let url = params.require_str(
        "providerUrl",
        "the changes provider's URL, bound to the feed's package",
    )?;
    let url = url.trim_end_matches('/').to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ParamError::invalid(
            "providerUrl",
            format!("{:?} is not an http(s) URL", hide_userinfo(&url)),
        ));
    }
    let secret = match params.raw("providerSecret") {
        Some(Value::String(text)) if !text.trim().is_empty() => Secret::new(text.trim()),
        Some(_) => {
            return Err(ParamError::invalid(
                "providerSecret",
                "expected the provider secret as a non-empty string",
            ));
        }
        None => {
            return Err(ParamError::missing(
                "providerSecret",
                "the changes provider's secret, bound to the feed's package",
            ));
        }
    };
    Ok(ProviderTarget { url, secret })
}

/// Splits `http(s)://user:pass@host/prefix` into the URL without credentials and the
/// credentials (percent-decoded). The URL is never echoed with its credentials.
fn split_db_url(text: &str) -> Result<(String, Option<(String, Secret)>), ParamError> {
    let invalid = |problem: &str| {
        ParamError::invalid("dbUrl", format!("{:?} {problem}", hide_userinfo(text)))
    };
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
            (Some((user, Secret::new(password))), host)
        }
        None => (None, authority),
    };
    if host.is_empty() || host.starts_with(':') {
        return Err(invalid("has no host"));
    }
    let url = format!("{scheme}://{host}{}", path.trim_end_matches('/'));
    Ok((url, credentials.filter(|(user, _)| !user.is_empty())))
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

fn secret_param(params: &Params, name: &str) -> Result<Option<Secret>, ParamError> {
    // Numbers are accepted as their text (`-p password 1234` arrives as a number).
    Ok(params.get_str(name)?.map(Secret::new))
}

/// `username`/`password`, over what `dbUrl` carried.
fn credentials(
    params: &Params,
    from_url: Option<(String, Secret)>,
) -> Result<(Option<String>, Option<Secret>), ParamError> {
    let username = params.get_str("username")?;
    let password = secret_param(params, "password")?;
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

fn filter(params: &Params) -> Result<Option<String>, ParamError> {
    let Some(filter) = params.get_str("filter")? else {
        return Ok(None);
    };
    let filter = filter
        .strip_prefix("_design/")
        .unwrap_or(&filter)
        .to_owned();
    match filter.split_once('/') {
        Some((ddoc, name)) if !ddoc.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(Some(filter))
        }
        _ => Err(ParamError::invalid(
            "filter",
            format!("{filter:?} is not a design-document filter; expected `ddoc/name`"),
        )),
    }
}

fn selector(params: &Params) -> Result<Option<Value>, ParamError> {
    match params.raw("selector") {
        None => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(_) => match params.get::<Value>("selector")? {
            Some(Value::Object(selector)) => Ok(Some(Value::Object(selector))),
            Some(Value::String(text)) => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(selector)) => Ok(Some(Value::Object(selector))),
                _ => Err(ParamError::invalid(
                    "selector",
                    "expected a Mango selector: a JSON object such as {\"type\": \"order\"}",
                )),
            },
            _ => Err(ParamError::invalid(
                "selector",
                "expected a Mango selector: a JSON object such as {\"type\": \"order\"}",
            )),
        },
    }
}

fn include_docs(params: &Params) -> Result<Option<bool>, ParamError> {
    params
        .get::<bool>("includeDocs")
        .map_err(|_| ParamError::invalid("includeDocs", "expected true or false"))
}

fn max_changes_per_fire(params: &Params) -> Result<Option<u32>, ParamError> {
    let limit = params.get::<u32>("maxChangesPerFire").map_err(|_| {
        ParamError::invalid(
            "maxChangesPerFire",
            format!("expected a whole number from 1 to {MAX_CHANGES_PER_FIRE}"),
        )
    })?;
    match limit {
        Some(limit) if !(1..=MAX_CHANGES_PER_FIRE).contains(&limit) => Err(ParamError::invalid(
            "maxChangesPerFire",
            format!("{limit} is out of range; expected 1 to {MAX_CHANGES_PER_FIRE}"),
        )),
        other => Ok(other),
    }
}

/// What the feed does when its database is deleted and created again: `beginning` (the
/// default), `now` or `disable`.
fn if_recreated(params: &Params) -> Result<Option<IfRecreated>, ParamError> {
    let Some(text) = params.get_str("ifRecreated")? else {
        return Ok(None);
    };
    match text.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "beginning" => Ok(Some(IfRecreated::Beginning)),
        "now" => Ok(Some(IfRecreated::Now)),
        "disable" => Ok(Some(IfRecreated::Disable)),
        _ => Err(ParamError::invalid(
            "ifRecreated",
            "expected \"beginning\" (fire the new database from its first change, the default), \"now\" or \"disable\"",
        )),
    }
}

/// `now` (the default), `beginning` or `0`, or a sequence the database gave.
fn since(params: &Params) -> Result<Option<Since>, ParamError> {
    let value = match params.raw("since") {
        None => return Ok(None),
        Some(value) => value,
    };
    match value {
        Value::Number(number) if number.as_u64().is_some() => Ok(Some(Since::Seq(value.clone()))),
        Value::String(text) => {
            let text = text.trim();
            match text.to_ascii_lowercase().as_str() {
                "" => Ok(None),
                "now" => Ok(Some(Since::Now)),
                "beginning" | "0" => Ok(Some(Since::Seq(Value::from(0)))),
                _ => match text.parse::<u64>() {
                    Ok(number) => Ok(Some(Since::Seq(Value::from(number)))),
                    Err(_) => Ok(Some(Since::Seq(Value::from(text)))),
                },
            }
        }
        _ => Err(ParamError::invalid(
            "since",
            "expected \"now\", \"beginning\" (or 0), or a sequence from the database",
        )),
    }
}

/// Reads CREATE's parameters.
pub fn feed_settings(params: &Params) -> Result<FeedSettings, ParamError> {
    let url = params.require_str(
        "dbUrl",
        "the database server's URL, e.g. https://account.example.com or http://host:5984",
    )?;
    let (url, from_url) = split_db_url(&url)?;
    let name = params.require_str("dbName", "the name of the database to watch")?;
    let (username, password) = credentials(params, from_url)?;
    let filter = filter(params)?;
    let selector = selector(params)?;
    if filter.is_some() && selector.is_some() {
        return Err(ParamError::invalid(
            "selector",
            "give either filter or selector, not both",
        ));
    }
    Ok(FeedSettings {
        database: Database {
            url,
            name,
            username,
            password,
        },
        filter,
        selector,
        include_docs: include_docs(params)?.unwrap_or(false),
        max_changes_per_fire: max_changes_per_fire(params)?.unwrap_or(1),
        if_recreated: if_recreated(params)?.unwrap_or_default(),
        since: since(params)?.unwrap_or(Since::Now),
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
/// clears it), where to start, and the database to check when its connection changes
/// completely.
#[derive(Debug)]
pub struct Update {
    pub patch: ChangesPatch,
    pub since: Option<Since>,
    /// Set when the parameters name a database fully (dbUrl and dbName): checked before the
    /// update. Partial changes (only a password, say) are checked by the provider.
    pub database: Option<Database>,
    pub filter: Option<String>,
}

pub fn update(params: &Params) -> Result<Update, ParamError> {
    if !FEED_PARAMETERS.iter().any(|name| params.contains(name)) {
        return Err(ParamError::missing(
            "(parameters)",
            "at least one parameter to change: dbUrl, dbName, username, password, filter, selector, includeDocs, since, maxChangesPerFire or ifRecreated",
        ));
    }
    let mut patch = ChangesPatch::default();
    let mut database = DatabasePatch::default();
    let mut from_url = None;
    let mut url = None;
    if let Some(text) = params.get_str("dbUrl")? {
        let (clean, credentials) = split_db_url(&text)?;
        database.url = Some(clean.clone());
        url = Some(clean);
        from_url = credentials;
    }
    let name = params.get_str("dbName")?;
    database.name = name.clone();
    let url_had_credentials = from_url.is_some();
    let given_username = params.get_str("username")?;
    let given_password = secret_param(params, "password")?;
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
    let filter_value = filter(params)?;
    if params.contains("filter") {
        patch.filter = Some(filter_value.clone());
    }
    let selector = selector(params)?;
    if params.contains("selector") {
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
    patch.include_docs = include_docs(params)?;
    patch.max_changes_per_fire = max_changes_per_fire(params)?;
    patch.if_recreated = if_recreated(params)?;
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
        since: since(params)?,
        database,
        filter: filter_value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(value: Value) -> Params {
        Params::from_value(value).expect("object")
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
            ("maxChangesPerFire", json!(0), "out of range"),
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
            let error = feed_settings(&params(given))
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
        let error = check_names(&params(json!({"dbname": "x"}))).expect_err("typo");
        assert!(error.to_string().contains("`dbname`"), "{error}");
        assert!(check_names(&params(json!({"dbName": "x", "providerUrl": "u"}))).is_ok());
        let error = provider(&params(json!({}))).expect_err("missing");
        assert!(error.to_string().contains("providerUrl"), "{error}");
        let error = provider(&params(json!({"providerUrl": "http://p"}))).expect_err("missing");
        assert!(error.to_string().contains("providerSecret"), "{error}");
        let target = provider(&params(
            json!({"providerUrl": "http://p/", "providerSecret": "s3"}),
        ))
        .expect("valid");
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
        let error = update(&params(json!({"ifRecreated": "later"}))).expect_err("bad");
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

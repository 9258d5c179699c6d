//! Outbound HTTP for every action, with one rule for credentials and redirects.
//!
//! A credential (an `Authorization` header, an API key header, a body holding a key) is sent only
//! to the origin (scheme, host, port) it was given for. The kit's agents never follow redirects
//! themselves ([`crate::http_agent_config`] turns that off); [`send`] follows them here, at most
//! [`MAX_REDIRECTS`] times:
//!
//! - to the same origin: the request is sent again as it was (307 and 308 keep the method and
//!   body; 301, 302 and 303 turn into a GET without a body, and a 301 or 302 answer to anything
//!   but GET or HEAD is not followed: the caller gets it, as it would an error status);
//! - to another origin: with [`CrossOrigin::Refuse`] the call fails with
//!   [`SendError::Redirect`], which names both origins (an API that moved is the user's to fix,
//!   in the URL they gave); with [`CrossOrigin::DropCredentials`] it is followed without any of
//!   [`Outbound::credentials`], and they are not sent again on later hops;
//! - from https to http: never followed, whatever the policy.
//!
//! ureq's own rule (`RedirectAuthHeaders::SameHost`) compares hosts but not ports, and knows
//! only the `Authorization` header: not enough for custom key headers.

use std::fmt;
use std::time::{Duration, Instant};

use ureq::http::{Method, Request, Response, Uri};

use crate::secret::Secret;

/// Hops followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// What a redirect to another origin does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrossOrigin {
    /// Fail: the call never leaves the origin it was made to (APIs called with a credential).
    Refuse,
    /// Follow without the credentials (content that may live elsewhere, such as a polled feed
    /// served from a CDN).
    DropCredentials,
}

/// One request: what is sent everywhere, and what only to the first URL's origin.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub method: Method,
    pub url: String,
    /// Sent on every hop (`Accept`, `Content-Type`, ...).
    pub headers: Vec<(String, String)>,
    /// Sent only to the origin of `url` (`Authorization`, API key headers).
    pub credentials: Vec<(String, Secret)>,
    pub body: Option<Vec<u8>>,
}

/// Marks a response that came from another origin than the request's, after a redirect, so
/// without the credentials ([`CrossOrigin::DropCredentials`]): a 401 from there is no verdict on
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsDropped {
    /// The origin that answered (`scheme://host:port`).
    pub origin: String,
}

/// The origin a response came from without the credentials, if it did.
pub fn credentials_dropped(response: &Response<ureq::Body>) -> Option<&CredentialsDropped> {
    response.extensions().get::<CredentialsDropped>()
}

/// Why a call got no usable answer. Messages never quote a credential, a query or userinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// A redirect the rule does not follow; both are origins (`scheme://host:port`).
    Redirect {
        from: String,
        to: String,
        downgrade: bool,
    },
    TooManyRedirects,
    /// A redirect without a usable `Location`.
    BadLocation,
    /// The URL cannot be used (no scheme or host).
    BadUrl,
    /// The request could not be written: its headers are larger than the kit's buffer (a key or
    /// token given as a parameter is far too long).
    RequestTooLarge,
    /// No answer within the time left.
    Timeout(Duration),
    /// No answer: connection refused or reset, name not found, TLS failure.
    Transport(String),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Redirect {
                from,
                to,
                downgrade: true,
            } => write!(
                f,
                "{from} redirected to {to}, from https to plain http; the kit never follows that"
            ),
            Self::Redirect { from, to, .. } => write!(
                f,
                "{from} redirected to another origin, {to}; credentials are sent only to the \
                 origin they were given for, so give the URL the service answers at"
            ),
            Self::TooManyRedirects => write!(f, "more than {MAX_REDIRECTS} redirects"),
            Self::BadLocation => f.write_str("a redirect without a usable Location"),
            Self::BadUrl => f.write_str("the URL has no usable scheme or host"),
            Self::RequestTooLarge => f.write_str(
                "the request's headers are larger than the kit sends (16 KiB): a key or token \
                 in them is far too long",
            ),
            Self::Timeout(after) => write!(f, "no answer within {} ms", after.as_millis()),
            Self::Transport(reason) => write!(f, "no answer ({reason})"),
        }
    }
}

impl std::error::Error for SendError {}

/// Sends `request` with `agent` (made by [`crate::http_agent`], which does not follow
/// redirects), following redirects as the module describes, all within `timeout`. Any status
/// comes back as a response.
pub fn send(
    agent: &ureq::Agent,
    request: &Outbound,
    cross_origin: CrossOrigin,
    timeout: Duration,
) -> Result<Response<ureq::Body>, SendError> {
    let started = Instant::now();
    let (first, userinfo) = split_userinfo(parse(&request.url).ok_or(SendError::BadUrl)?)?;
    let home = Origin::of(&first).ok_or(SendError::BadUrl)?;
    // Userinfo in the URL is Basic auth (ureq would send it so): a credential like the others.
    let mut credentials = request.credentials.clone();
    let has_authorization = request
        .headers
        .iter()
        .map(|(name, _)| name)
        .chain(credentials.iter().map(|(name, _)| name))
        .any(|name| name.eq_ignore_ascii_case("authorization"));
    if let (Some(basic), false) = (userinfo, has_authorization) {
        credentials.push(("Authorization".to_owned(), basic));
    }
    let mut uri = first;
    let mut method = request.method.clone();
    let mut body = request.body.as_deref();
    let mut with_credentials = true;
    for hop in 0..=MAX_REDIRECTS {
        let left = timeout
            .checked_sub(started.elapsed())
            .filter(|left| !left.is_zero())
            .ok_or(SendError::Timeout(timeout))?;
        let credentials = if with_credentials {
            credentials.as_slice()
        } else {
            &[]
        };
        let response = once(
            agent,
            &method,
            &uri,
            &request.headers,
            credentials,
            body,
            left,
        )
        .map_err(|error| transport_error(error, timeout))?;
        let status = response.status().as_u16();
        let follows = match status {
            307 | 308 => true,
            303 => {
                method = Method::GET;
                body = None;
                true
            }
            301 | 302 => method == Method::GET || method == Method::HEAD,
            _ => false,
        };
        if !follows {
            let mut response = response;
            if !with_credentials && !request.credentials.is_empty() {
                response.extensions_mut().insert(CredentialsDropped {
                    origin: Origin::of(&uri).map(|o| o.to_string()).unwrap_or_default(),
                });
            }
            return Ok(response);
        }
        if hop == MAX_REDIRECTS {
            return Err(SendError::TooManyRedirects);
        }
        let next = response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .and_then(|location| resolve(&uri, location))
            .ok_or(SendError::BadLocation)?;
        let (from, to) = (
            Origin::of(&uri).ok_or(SendError::BadLocation)?,
            Origin::of(&next).ok_or(SendError::BadLocation)?,
        );
        if from.scheme == "https" && to.scheme != "https" {
            return Err(SendError::Redirect {
                from: from.to_string(),
                to: to.to_string(),
                downgrade: true,
            });
        }
        if to != home {
            match cross_origin {
                CrossOrigin::Refuse => {
                    return Err(SendError::Redirect {
                        from: home.to_string(),
                        to: to.to_string(),
                        downgrade: false,
                    });
                }
                CrossOrigin::DropCredentials => with_credentials = false,
            }
        }
        uri = next;
    }
    Err(SendError::TooManyRedirects)
}

/// One request, no redirects followed.
fn once(
    agent: &ureq::Agent,
    method: &Method,
    uri: &Uri,
    headers: &[(String, String)],
    credentials: &[(String, Secret)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<Response<ureq::Body>, ureq::Error> {
    let mut builder = Request::builder().method(method.clone()).uri(uri.clone());
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    for (name, value) in credentials {
        builder = builder.header(name.as_str(), value.expose());
    }
    match body {
        Some(bytes) => {
            let request = builder.body(bytes).map_err(ureq::Error::from)?;
            let request = agent
                .configure_request(request)
                .timeout_global(Some(timeout))
                .build();
            agent.run(request)
        }
        None => {
            let request = builder.body(()).map_err(ureq::Error::from)?;
            let request = agent
                .configure_request(request)
                .timeout_global(Some(timeout))
                .build();
            agent.run(request)
        }
    }
}

/// ureq's error without anything of the request in it (its `BadUri` quotes the URL).
fn transport_error(error: ureq::Error, timeout: Duration) -> SendError {
    match error {
        ureq::Error::Timeout(_) => SendError::Timeout(timeout),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => SendError::BadUrl,
        ureq::Error::Protocol(ref inner) if inner.to_string().contains("output too small") => {
            SendError::RequestTooLarge
        }
        ureq::Error::HostNotFound => SendError::Transport("host not found".into()),
        ureq::Error::ConnectionFailed => SendError::Transport("connection failed".into()),
        other => SendError::Transport(other.to_string()),
    }
}

/// The URI without its userinfo, and that userinfo as a Basic `Authorization` value.
fn split_userinfo(uri: Uri) -> Result<(Uri, Option<Secret>), SendError> {
    let Some(authority) = uri.authority().filter(|a| a.as_str().contains('@')) else {
        return Ok((uri, None));
    };
    let (userinfo, host) = authority
        .as_str()
        .rsplit_once('@')
        .ok_or(SendError::BadUrl)?;
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let pair = format!("{}:{}", percent_decode(user), percent_decode(password));
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    );
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let scheme = uri.scheme_str().ok_or(SendError::BadUrl)?;
    let bare = parse(&format!("{scheme}://{host}{path}")).ok_or(SendError::BadUrl)?;
    Ok((bare, Some(Secret::new(basic))))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                index += 3;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse(url: &str) -> Option<Uri> {
    url.parse::<Uri>()
        .ok()
        .filter(|uri| uri.scheme().is_some() && uri.host().is_some())
}

/// Where a request goes: scheme, host and port (the default one when not written).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    fn of(uri: &Uri) -> Option<Self> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let port = match (uri.port_u16(), scheme.as_str()) {
            (Some(port), _) => port,
            (None, "https") => 443,
            (None, "http") => 80,
            _ => return None,
        };
        Some(Self {
            host: uri.host()?.to_ascii_lowercase(),
            scheme,
            port,
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// `location` resolved against `base` (RFC 3986 §5.2, without dot-segment removal in the
/// base, which servers' redirects do not rely on).
fn resolve(base: &Uri, location: &str) -> Option<Uri> {
    let location = location.trim();
    if location.is_empty() {
        return None;
    }
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    let absolute = if location.contains("://") {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else if location.starts_with('?') {
        format!("{scheme}://{authority}{}{location}", base.path())
    } else {
        let path = base.path();
        let directory = &path[..path.rfind('/').map_or(0, |at| at + 1)];
        format!(
            "{scheme}://{authority}{}",
            normalize(&format!("{directory}{location}"))
        )
    };
    parse(&absolute)
}

/// Removes `.` and `..` segments from a relative reference merged with its base's directory.
fn normalize(path: &str) -> String {
    let (path, query) = path
        .split_once('?')
        .map_or((path, None), |(p, q)| (p, Some(q)));
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "." => {}
            ".." => {
                if segments.len() > 1 {
                    segments.pop();
                }
            }
            other => segments.push(other),
        }
    }
    let mut joined = segments.join("/");
    if !joined.starts_with('/') {
        joined.insert(0, '/');
    }
    match query {
        Some(query) => format!("{joined}?{query}"),
        None => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> Uri {
        parse(text).expect("uri")
    }

    #[test]
    fn locations_resolve_against_the_request() {
        let base = uri("http://127.0.0.1:8080/api/v1/repos/o/r/hooks?page=2");
        let cases = [
            ("https://other.example/x", "https://other.example/x"),
            ("//cdn.example:9/y", "http://cdn.example:9/y"),
            ("/moved/here", "http://127.0.0.1:8080/moved/here"),
            (
                "?page=3",
                "http://127.0.0.1:8080/api/v1/repos/o/r/hooks?page=3",
            ),
            ("hooks2", "http://127.0.0.1:8080/api/v1/repos/o/r/hooks2"),
            ("../../x?y=1", "http://127.0.0.1:8080/api/v1/repos/x?y=1"),
        ];
        for (location, expected) in cases {
            assert_eq!(
                resolve(&base, location).map(|u| u.to_string()),
                Some(expected.to_owned()),
                "{location}"
            );
        }
        assert!(resolve(&base, "").is_none());
    }

    #[test]
    fn origins_count_the_port_and_the_scheme() {
        let a = Origin::of(&uri("http://Host.example/x")).expect("origin");
        assert_eq!(a.to_string(), "http://host.example:80");
        assert_eq!(a, Origin::of(&uri("http://host.example:80/y")).expect("o"));
        assert_ne!(a, Origin::of(&uri("http://host.example:8080/")).expect("o"));
        assert_ne!(a, Origin::of(&uri("https://host.example/")).expect("o"));
    }

    #[test]
    fn userinfo_becomes_a_basic_credential() {
        let (bare, basic) =
            split_userinfo(uri("http://us%40er:p%3Ass@127.0.0.1:9/x?y=1")).expect("split");
        assert_eq!(bare.to_string(), "http://127.0.0.1:9/x?y=1");
        use base64::Engine as _;
        let expected = base64::engine::general_purpose::STANDARD.encode("us@er:p:ss");
        assert_eq!(
            basic.as_ref().map(Secret::expose),
            Some(format!("Basic {expected}").as_str())
        );
        let (plain, none) = split_userinfo(uri("https://h.example/")).expect("split");
        assert_eq!(
            (plain.to_string().as_str(), none),
            ("https://h.example/", None)
        );
    }

    #[test]
    fn errors_never_quote_the_url() {
        let error = transport_error(
            ureq::Error::BadUri("http://user:hunter2@x".into()),
            Duration::from_secs(1),
        );
        assert_eq!(error, SendError::BadUrl);
        assert!(!error.to_string().contains("hunter2"));
    }
}

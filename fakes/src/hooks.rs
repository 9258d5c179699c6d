//! What every fake webhook sender shares: signing a body, Basic auth from a hook URL's userinfo
//! (as GitHub's and Gitea's senders send it), showing a hook URL without its credentials, and
//! keeping count of the deliveries made in the background.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};

use crate::http::lock;

/// Deliveries under way on background threads, and a way to wait until there are none.
#[derive(Default)]
pub(crate) struct Background {
    inflight: Mutex<usize>,
    idle: Condvar,
}

impl Background {
    /// Runs `deliveries` on a thread of its own, counted until they end.
    pub(crate) fn spawn(self: &Arc<Self>, deliveries: impl FnOnce() + Send + 'static) {
        *lock(&self.inflight) += 1;
        let background = Arc::clone(self);
        std::thread::spawn(move || {
            deliveries();
            *lock(&background.inflight) -= 1;
            background.idle.notify_all();
        });
    }

    /// Waits until nothing is under way; false when `timeout` ran out first.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut inflight = lock(&self.inflight);
        while *inflight > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            inflight = self
                .idle
                .wait_timeout(inflight, left)
                .map_or_else(|e| e.into_inner().0, |(guard, _)| guard);
        }
        true
    }
}

/// Hex HMAC-SHA256 and HMAC-SHA1 of the body, keyed with the hook's secret.
pub(crate) fn signatures(secret: &[u8], body: &[u8]) -> (String, String) {
    let mut sha256 = Hmac::<sha2::Sha256>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    sha256.update(body);
    let mut sha1 = Hmac::<sha1::Sha1>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    sha1.update(body);
    (
        crate::http::hex(&sha256.finalize().into_bytes()),
        crate::http::hex(&sha1.finalize().into_bytes()),
    )
}

/// A form-encoded delivery body: `payload=<urlencoded JSON>`, as GitHub and Gitea send one.
pub(crate) fn form_payload(json: &str) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", json)
        .finish()
        .into_bytes()
}

/// Splits `scheme://user:pass@host/...` into the URL without userinfo and the base64
/// `user:pass` (percent-decoded) for a Basic `Authorization` header.
pub(crate) fn split_userinfo(raw: &str) -> Result<(String, Option<String>), url::ParseError> {
    let mut url = url::Url::parse(raw)?;
    let user = url.username().to_owned();
    let password = url.password().map(str::to_owned);
    if user.is_empty() && password.is_none() {
        return Ok((url.into(), None));
    }
    let credentials = format!(
        "{}:{}",
        percent_decode(&user),
        percent_decode(password.as_deref().unwrap_or_default())
    );
    // Both setters only fail for URLs that cannot carry credentials, which had none.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok((
        url.into(),
        Some(base64::engine::general_purpose::STANDARD.encode(credentials)),
    ))
}

fn percent_decode(s: &str) -> String {
    // Userinfo is percent-encoded; `+` means a plus sign here, not a space.
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|hex| bytes[i] == b'%' && hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL with any userinfo replaced by `***`, safe to show.
pub(crate) fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(url) if url.username().is_empty() && url.password().is_none() => url.into(),
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            let plain: String = url.into();
            match plain.split_once("://") {
                Some((scheme, rest)) => format!("{scheme}://***@{rest}"),
                None => "***".to_owned(),
            }
        }
        // Not a URL: it may still hold a credential, show nothing of it.
        Err(_) => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_decoded_and_stripped() -> Result<(), url::ParseError> {
        let (target, auth) = split_userinfo("http://us%40er:p%3Ass+word@127.0.0.1:9/hook?x=1")?;
        assert_eq!(target, "http://127.0.0.1:9/hook?x=1");
        let expected = base64::engine::general_purpose::STANDARD.encode("us@er:p:ss+word");
        assert_eq!(auth, Some(expected));
        let (target, auth) = split_userinfo("https://example.com/x")?;
        assert_eq!((target.as_str(), auth), ("https://example.com/x", None));
        Ok(())
    }

    #[test]
    fn redaction_hides_userinfo_only() {
        assert_eq!(
            redact_url("http://user:pw@127.0.0.1:8080/a/b?c=d"),
            "http://***@127.0.0.1:8080/a/b?c=d"
        );
        assert_eq!(redact_url("http://127.0.0.1/a"), "http://127.0.0.1/a");
        assert_eq!(redact_url("not a url with:secret@"), "***");
    }

    #[test]
    fn signatures_match_known_vectors() {
        // RFC 4231 test case 2 (HMAC-SHA256) and RFC 2202 test case 2 (HMAC-SHA1).
        let (sha256, sha1) = signatures(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sha256,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(sha1, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }
}

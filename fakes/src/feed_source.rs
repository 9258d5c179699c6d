//! A polled feed file (RSS, Atom, or any bytes): served as is, with the content type the test
//! gives, a strong `ETag` and a `Last-Modified` date that answer conditional requests with 304,
//! optional required headers and injectable faults (see [`crate::polled`]). The test replaces
//! the file to publish a new version, as a static site or a CMS does.

use std::io;

use crate::polled::{Document, Fault, Polled, SourceRequest, Validators};

/// The content type RSS is most often served with.
pub const RSS_CONTENT_TYPE: &str = "application/rss+xml; charset=utf-8";
/// Atom's registered content type.
pub const ATOM_CONTENT_TYPE: &str = "application/atom+xml";

struct FeedFile {
    bytes: Vec<u8>,
    content_type: String,
}

impl Document for FeedFile {
    fn render(&self, _url: &str) -> (Vec<u8>, String) {
        (self.bytes.clone(), self.content_type.clone())
    }
}

/// The polled feed server. Dropping it stops the server.
#[derive(Debug)]
pub struct FeedSource {
    polled: Polled<FeedFile>,
}

impl FeedSource {
    /// Starts serving `file` as `content_type` at `/feed` on 127.0.0.1 (OS-picked port).
    pub fn start(file: &[u8], content_type: &str) -> io::Result<FeedSource> {
        let file = FeedFile {
            bytes: file.to_vec(),
            content_type: content_type.to_owned(),
        };
        Ok(FeedSource {
            polled: Polled::start(file, "/feed")?,
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.polled.url()
    }

    /// The full URL of the feed (`{url}/feed` unless [`FeedSource::set_path`] changed it).
    pub fn feed_url(&self) -> String {
        self.polled.document_url()
    }

    /// Serves the feed at another path (e.g. `/blog/index.xml`); other paths answer 404.
    pub fn set_path(&self, path: &str) {
        self.polled.set_path(path);
    }

    /// Publishes a new version of the file (`Last-Modified` moves on; the `ETag` changes with
    /// the bytes).
    pub fn publish(&self, file: &[u8]) {
        self.polled.change(|current| current.bytes = file.to_vec());
    }

    /// Serves the file with another content type.
    pub fn set_content_type(&self, content_type: &str) {
        self.polled
            .change(|current| current.content_type = content_type.to_owned());
    }

    /// Makes the source misbehave (or behave again with [`Fault::None`]).
    pub fn set_fault(&self, fault: Fault) {
        self.polled.set_fault(fault);
    }

    /// Which validators the source sends (both by default).
    pub fn set_validators(&self, validators: Validators) {
        self.polled.set_validators(validators);
    }

    /// Requires a request header with exactly this value (name case-insensitive); requests
    /// without it get 401.
    pub fn require_header(&self, name: &str, value: &str) {
        self.polled.require_header(name, value);
    }

    /// Every request that reached the source, oldest first.
    pub fn requests(&self) -> Vec<SourceRequest> {
        self.polled.requests()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.polled.clear_requests();
    }
}

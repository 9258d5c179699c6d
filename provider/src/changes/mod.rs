//! The first source: a CouchDB-compatible database's continuous `_changes` feed, one connection
//! per feed ([`follow`]), each change (or batch of changes) fired as the trigger's event.

mod couch;
mod follow;

use std::sync::Arc;

use provider_api::{ChangesConfig, ChangesPatch, Since};
use serde_json::Value;

use crate::http::HttpClient;
use crate::metrics::Metrics;
use crate::model::{FeedRecord, Position};
use crate::source::{Emitter, Prepared, Source, SourceError, SourceHandle, parse};
use crate::store::BoxFuture;
use crate::tuning::Tuning;

pub use couch::{
    CouchError, FeedLine, changes_request, check_database, db_url, parse_line, seq_number, seq_text,
};

/// The `changes` source.
pub struct ChangesSource {
    http: HttpClient,
    tuning: Tuning,
    metrics: Arc<Metrics>,
}

impl ChangesSource {
    pub fn new(http: HttpClient, tuning: Tuning, metrics: Arc<Metrics>) -> Self {
        Self {
            http,
            tuning,
            metrics,
        }
    }
}

fn stored(config: &ChangesConfig) -> Value {
    serde_json::to_value(config).unwrap_or(Value::Null)
}

impl Source for ChangesSource {
    fn kind(&self) -> &'static str {
        provider_api::CHANGES_KIND
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &["/database/password"]
    }

    fn prepare(
        &self,
        config: Value,
        since: Option<Since>,
    ) -> BoxFuture<'_, Result<Prepared, SourceError>> {
        Box::pin(async move {
            let config: ChangesConfig = parse(config)?;
            config.validate().map_err(SourceError::Invalid)?;
            // "now" becomes the database's current sequence before anything is stored, so that
            // changes made between registration and connection are not missed.
            let current = check_database(&self.http, &config.database)
                .await
                .map_err(|error| SourceError::Unusable(error.to_string()))?;
            let start = match since.unwrap_or(Since::Now) {
                Since::Now => current,
                Since::Seq(seq) => seq,
            };
            Ok(Prepared {
                config: stored(&config),
                start: Some(start),
            })
        })
    }

    fn update<'a>(
        &'a self,
        config: &'a Value,
        patch: Option<Value>,
        since: Option<Since>,
    ) -> BoxFuture<'a, Result<Prepared, SourceError>> {
        Box::pin(async move {
            let old: ChangesConfig = parse(config.clone())?;
            let patch: ChangesPatch = match patch {
                Some(patch) => parse(patch)?,
                None => ChangesPatch::default(),
            };
            let new = patch.apply_to(&old);
            new.validate().map_err(SourceError::Invalid)?;
            // A position means nothing in another database: a feed moved to one starts there
            // "now" (like CREATE) unless `since` says otherwise.
            let moved =
                (&old.database.url, &old.database.name) != (&new.database.url, &new.database.name);
            let since = since.or(moved.then_some(Since::Now));
            let mut start = None;
            if patch.database.is_some() || since == Some(Since::Now) {
                let current = check_database(&self.http, &new.database)
                    .await
                    .map_err(|error| SourceError::Unusable(error.to_string()))?;
                if since == Some(Since::Now) {
                    start = Some(current);
                }
            }
            if let Some(Since::Seq(seq)) = since {
                start = Some(seq);
            }
            Ok(Prepared {
                config: stored(&new),
                start,
            })
        })
    }

    fn start(&self, feed: &FeedRecord, position: Position, emitter: Emitter) -> SourceHandle {
        let config = match parse::<ChangesConfig>(feed.config.clone()) {
            Ok(config) => config,
            Err(error) => {
                emitter.disable(format!("the stored settings are unusable: {error}"));
                return SourceHandle::on_drop(|| {});
            }
        };
        let follower = follow::Follower {
            http: self.http.clone(),
            tuning: self.tuning.clone(),
            metrics: self.metrics.clone(),
            feed: feed.id.clone(),
            config,
            emitter,
            since: position,
            checked: false,
            first: None,
        };
        SourceHandle::task(tokio::spawn(follower.run()))
    }
}

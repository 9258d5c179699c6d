//! The positions of the feeds this instance runs, in memory: moved by each feed's fires as they
//! are taken, written to the store in batches per bucket (see [`crate::Node`]).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::model::{FeedId, Saved};

struct Entry {
    bucket: u32,
    /// `None`: the feed is gone and its saved position must be forgotten.
    saved: Option<Saved>,
    dirty: bool,
}

/// Every known position of the feeds in the buckets this instance holds.
#[derive(Default)]
pub struct PositionBook {
    entries: Mutex<HashMap<FeedId, Entry>>,
}

impl PositionBook {
    fn lock(&self) -> MutexGuard<'_, HashMap<FeedId, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, id: &str) -> Option<Saved> {
        self.lock().get(id).and_then(|entry| entry.saved.clone())
    }

    /// The positions read from the store when a bucket was taken (not to be written back).
    pub fn load(&self, bucket: u32, saved: HashMap<FeedId, Saved>) {
        let mut entries = self.lock();
        for (id, saved) in saved {
            entries.insert(
                id,
                Entry {
                    bucket,
                    saved: Some(saved),
                    dirty: false,
                },
            );
        }
    }

    /// A feed moved: written with the bucket's next batch.
    pub fn set(&self, id: &str, bucket: u32, saved: Saved) {
        self.lock().insert(
            id.to_owned(),
            Entry {
                bucket,
                saved: Some(saved),
                dirty: true,
            },
        );
    }

    /// A feed was deleted: its saved position is forgotten with the bucket's next batch.
    pub fn forget(&self, id: &str, bucket: u32) {
        self.lock().insert(
            id.to_owned(),
            Entry {
                bucket,
                saved: None,
                dirty: true,
            },
        );
    }

    /// Takes the bucket's unwritten positions (marking them written).
    pub fn take_dirty(&self, bucket: u32) -> Vec<(FeedId, Option<Saved>)> {
        let mut entries = self.lock();
        let mut taken = Vec::new();
        entries.retain(|id, entry| {
            if entry.bucket == bucket && entry.dirty {
                taken.push((id.clone(), entry.saved.clone()));
                entry.dirty = false;
                // A forgotten feed's entry is gone once written.
                return entry.saved.is_some();
            }
            true
        });
        taken
    }

    /// A batch could not be written: mark it again unless newer positions came meanwhile.
    pub fn unwritten(&self, bucket: u32, batch: Vec<(FeedId, Option<Saved>)>) {
        let mut entries = self.lock();
        for (id, saved) in batch {
            let entry = entries.entry(id).or_insert(Entry {
                bucket,
                saved: saved.clone(),
                dirty: true,
            });
            if entry.saved == saved {
                entry.dirty = true;
            }
        }
    }

    /// Drops a bucket's positions (it was lost or released): they are the new owner's now.
    pub fn drop_bucket(&self, bucket: u32) {
        self.lock().retain(|_, entry| entry.bucket != bucket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn saved(position: u64) -> Saved {
        Saved {
            reset: 1,
            position: json!(position),
        }
    }

    #[test]
    fn batches_hold_each_bucket_once_and_failed_batches_come_back() {
        let book = PositionBook::default();
        book.load(0, HashMap::from([("/g/a".to_owned(), saved(1))]));
        assert!(book.take_dirty(0).is_empty());
        book.set("/g/a", 0, saved(2));
        book.set("/g/a", 0, saved(3));
        book.set("/g/b", 1, saved(9));
        book.forget("/g/c", 0);
        let mut batch = book.take_dirty(0);
        batch.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            batch,
            vec![
                ("/g/a".to_owned(), Some(saved(3))),
                ("/g/c".to_owned(), None)
            ]
        );
        assert!(book.take_dirty(0).is_empty());
        book.unwritten(0, batch);
        book.set("/g/a", 0, saved(4));
        let mut again = book.take_dirty(0);
        again.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            again,
            vec![
                ("/g/a".to_owned(), Some(saved(4))),
                ("/g/c".to_owned(), None)
            ]
        );
        assert_eq!(book.get("/g/a"), Some(saved(4)));
        book.drop_bucket(1);
        assert_eq!(book.get("/g/b"), None);
    }
}

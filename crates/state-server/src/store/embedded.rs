//! The embedded store: a single-file redb database, the zero-setup default. Persistent across
//! restarts; every commit is durable (fsynced) before it returns.
//!
//! It keeps etcd's model — one global revision, a mod revision per key — so the daemon cannot
//! tell the two stores apart. Watches are served from the commits of this process (the file
//! has one writer: this daemon).

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::mpsc;

use super::{Committed, Kv, Snapshot, Store, StoreError, WatchEvent, Write};

/// key -> (mod revision, value)
const KV: TableDefinition<&str, (i64, &str)> = TableDefinition::new("kv");
/// "revision" -> the store revision
const META: TableDefinition<&str, i64> = TableDefinition::new("meta");

struct Watcher {
    prefix: String,
    events: mpsc::Sender<WatchEvent>,
}

/// A handle on the embedded database. Cheap to clone.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    /// Watchers; also serialises commits with watch registration.
    watchers: Arc<Mutex<Vec<Watcher>>>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore").finish_non_exhaustive()
    }
}

fn internal(e: impl Into<redb::Error>) -> StoreError {
    StoreError::internal("embedded store", e.into())
}

/// A watcher panicked while holding the watcher list.
#[derive(Debug, thiserror::Error)]
#[error("watcher lock poisoned")]
struct Poisoned;

fn poisoned() -> StoreError {
    StoreError::internal("embedded store", Poisoned)
}

impl EmbeddedStore {
    /// Opens (or creates) `state.redb` in `dir`, creating the directory if needed.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::unavailable(format!("cannot create {}", dir.display()), e))?;
        let path = dir.join("state.redb");
        let db = Database::create(&path)
            .map_err(|e| StoreError::unavailable(format!("cannot open {}", path.display()), e))?;
        let w = db.begin_write().map_err(internal)?;
        {
            w.open_table(KV).map_err(internal)?;
            w.open_table(META).map_err(internal)?;
        }
        w.commit().map_err(internal)?;
        Ok(EmbeddedStore {
            db: Arc::new(db),
            watchers: Arc::new(Mutex::new(Vec::new())),
        })
    }

    fn revision_in(table: &impl ReadableTable<&'static str, i64>) -> Result<i64, StoreError> {
        Ok(table
            .get("revision")
            .map_err(internal)?
            .map_or(0, |g| g.value()))
    }

    fn load_blocking(db: &Database, prefix: &str) -> Result<Snapshot, StoreError> {
        let r = db.begin_read().map_err(internal)?;
        let kv = r.open_table(KV).map_err(internal)?;
        let meta = r.open_table(META).map_err(internal)?;
        let mut kvs = Vec::new();
        for item in kv.range(prefix..).map_err(internal)? {
            let (k, v) = item.map_err(internal)?;
            let key = k.value();
            if !key.starts_with(prefix) {
                break;
            }
            let (mod_revision, value) = v.value();
            kvs.push(Kv {
                key: key.to_owned(),
                value: value.to_owned(),
                mod_revision,
            });
        }
        Ok(Snapshot {
            kvs,
            revision: Self::revision_in(&meta)?,
        })
    }

    fn commit_blocking(&self, write: &Write) -> Result<Committed, StoreError> {
        // Held across the commit so watchers see commits in order and none is missed.
        let mut watchers = self.watchers.lock().map_err(|_| poisoned())?;
        let w = self.db.begin_write().map_err(internal)?;
        let revision;
        let mut changes: Vec<(String, Option<String>)> = Vec::new();
        {
            let mut kv = w.open_table(KV).map_err(internal)?;
            let mut meta = w.open_table(META).map_err(internal)?;
            for (key, expected) in &write.compares {
                let current = kv
                    .get(key.as_str())
                    .map_err(internal)?
                    .map_or(0, |g| g.value().0);
                if current != *expected {
                    return Ok(Committed::Conflict);
                }
            }
            revision = Self::revision_in(&meta)? + 1;
            for (key, value) in &write.puts {
                kv.insert(key.as_str(), (revision, value.as_str()))
                    .map_err(internal)?;
                changes.push((key.clone(), Some(value.clone())));
            }
            for key in &write.deletes {
                if kv.remove(key.as_str()).map_err(internal)?.is_some() {
                    changes.push((key.clone(), None));
                }
            }
            meta.insert("revision", revision).map_err(internal)?;
        }
        w.commit().map_err(internal)?;
        watchers.retain(|w| !w.events.is_closed());
        for w in watchers.iter() {
            let seen: Vec<_> = changes
                .iter()
                .filter(|(key, _)| key.starts_with(&w.prefix))
                .cloned()
                .collect();
            if seen.is_empty() {
                continue;
            }
            let event = WatchEvent::Changed {
                revision,
                changes: seen,
            };
            // A watcher that cannot keep up loses the event rather than blocking commits.
            if w.events.try_send(event).is_err() {
                tracing::warn!(prefix = %w.prefix, "embedded watch receiver is full; event dropped");
            }
        }
        Ok(Committed::Applied { revision })
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::internal("embedded store task", e))?
}

impl Store for EmbeddedStore {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn load(&self, prefix: &str) -> Result<Snapshot, StoreError> {
        let db = self.db.clone();
        let prefix = prefix.to_owned();
        blocking(move || Self::load_blocking(&db, &prefix)).await
    }

    async fn get(&self, key: &str) -> Result<Option<Kv>, StoreError> {
        let db = self.db.clone();
        let key = key.to_owned();
        blocking(move || {
            let r = db.begin_read().map_err(internal)?;
            let kv = r.open_table(KV).map_err(internal)?;
            Ok(kv.get(key.as_str()).map_err(internal)?.map(|g| {
                let (mod_revision, value) = g.value();
                Kv {
                    key: key.clone(),
                    value: value.to_owned(),
                    mod_revision,
                }
            }))
        })
        .await
    }

    async fn commit(&self, write: &Write) -> Result<Committed, StoreError> {
        let store = self.clone();
        let write = write.clone();
        blocking(move || store.commit_blocking(&write)).await
    }

    async fn watch(
        &self,
        prefix: &str,
        from: i64,
        events: mpsc::Sender<WatchEvent>,
    ) -> Result<(), StoreError> {
        let store = self.clone();
        let prefix = prefix.to_owned();
        blocking(move || {
            let mut watchers = store.watchers.lock().map_err(|_| poisoned())?;
            let snapshot = Self::load_blocking(&store.db, &prefix)?;
            // No history is kept: a watch that starts in the past gets the present instead.
            if from <= snapshot.revision {
                let missed = snapshot.kvs.iter().any(|kv| kv.mod_revision >= from);
                if missed {
                    let _ = events.try_send(WatchEvent::Resync {
                        prefix: prefix.clone(),
                        snapshot,
                    });
                }
            }
            watchers.push(Watcher { prefix, events });
            Ok(())
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let db = self.db.clone();
        blocking(move || db.begin_read().map(|_| ()).map_err(internal)).await
    }
}

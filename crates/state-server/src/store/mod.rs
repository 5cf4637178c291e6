//! The store behind the daemon: one trait, two implementations (etcd and an embedded
//! single-file database), one conformance suite (`tests/store_conformance.rs`) run against both.
//!
//! Every write is a compare-and-swap transaction: each written or deleted key must still have
//! the modification revision the caller last saw (0 for "absent"), or nothing is written.

use std::future::Future;

use tokio::sync::mpsc;

pub mod embedded;
pub mod etcd;
pub mod pages;
pub mod probe;

/// One stored key with its value and the revision that last modified it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kv {
    pub key: String,
    pub value: String,
    /// Revision of the last modification.
    pub mod_revision: i64,
}

/// Every key under a prefix, read at one store revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The keys, in key order.
    pub kvs: Vec<Kv>,
    /// The store revision the snapshot was read at.
    pub revision: i64,
}

/// One atomic write: if every compare holds, all puts and deletes apply at one new revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Write {
    /// `(key, expected mod revision)`; 0 means the key must be absent.
    pub compares: Vec<(String, i64)>,
    /// Keys to set.
    pub puts: Vec<(String, String)>,
    /// Keys to remove.
    pub deletes: Vec<String>,
    /// The writer's leadership, compared too: a deposed leader writes nothing.
    pub fence: Option<crate::leader::Fence>,
}

impl Write {
    /// Number of operations (puts and deletes).
    pub fn ops(&self) -> usize {
        self.puts.len() + self.deletes.len()
    }
}

/// Outcome of a [`Write`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Committed {
    /// Applied at this revision.
    Applied {
        /// The new store revision.
        revision: i64,
    },
    /// A compare failed; nothing was written.
    Conflict,
    /// The fence no longer holds: another daemon leads; nothing was written.
    Deposed,
}

/// Keys changed at one revision, in the order written: each with its new value, or `None`
/// when it was deleted.
pub type Changes = Vec<(String, Option<String>)>;

/// What a watch sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    /// Everything one revision changed under the watched prefix, in the order written: each
    /// key with its new value, or `None` when it was deleted. A transaction is never split.
    Changed {
        /// The revision that made the changes.
        revision: i64,
        /// `(key, value)` pairs.
        changes: Changes,
    },
    /// History was lost (compaction): here is the whole prefix as it is now.
    Resync {
        /// The prefix watched.
        prefix: String,
        /// Its current content.
        snapshot: Snapshot,
    },
}

/// The error a store call failed with, kept whole (shared, so a [`StoreError`] can be cloned
/// to every request refused by the same outage).
pub type Cause = std::sync::Arc<dyn std::error::Error + Send + Sync>;

/// Why a store call failed. `Display` names the cause too, since it is what a refused request
/// says; for the same reason `source()` is left empty, so an error chain does not print the
/// cause twice. The cause itself is kept whole in `cause`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or refused the call.
    #[error("store unavailable: {what}: {cause}")]
    Unavailable {
        /// What was being done.
        what: String,
        /// The error the store or its client gave.
        cause: Cause,
    },
    /// The store did not answer in time.
    #[error("store did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The store answered with something unusable.
    #[error("store error: {what}: {cause}")]
    Internal {
        /// What was being done.
        what: String,
        /// What was wrong.
        cause: Cause,
    },
}

impl StoreError {
    /// The store could not be reached while doing `what`.
    pub fn unavailable(
        what: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Unavailable {
            what: what.into(),
            cause: std::sync::Arc::new(cause),
        }
    }

    /// The store's answer to `what` was unusable.
    pub fn internal(
        what: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Internal {
            what: what.into(),
            cause: std::sync::Arc::new(cause),
        }
    }
}

/// What the daemon needs from a store.
pub trait Store: Send + Sync + 'static {
    /// A short name for logs (`etcd`, `embedded`).
    fn name(&self) -> &'static str;

    /// Every key under `prefix`, read at one revision (in pages, for a large prefix).
    fn load(&self, prefix: &str) -> impl Future<Output = Result<Snapshot, StoreError>> + Send;

    /// Every key under `prefix`, read at one revision, handed to `each` in key order as it
    /// arrives rather than gathered first: loading a big fleet holds one page at a time, not
    /// the whole prefix beside what is built from it. Returns the revision. On an error, some
    /// keys may have been handed over already.
    fn load_each<F: FnMut(Kv) + Send>(
        &self,
        prefix: &str,
        mut each: F,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send {
        async move {
            let snapshot = self.load(prefix).await?;
            snapshot.kvs.into_iter().for_each(&mut each);
            Ok(snapshot.revision)
        }
    }

    /// Every key under `prefix` as it was at `revision` (0: now), in pages; `None` when the
    /// store no longer holds that revision (compacted) or has not reached it. A store that
    /// keeps no history holds only the present.
    fn load_at(
        &self,
        prefix: &str,
        revision: i64,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send {
        async move {
            let snapshot = self.load(prefix).await?;
            Ok((revision == 0 || revision == snapshot.revision).then_some(snapshot))
        }
    }

    /// The store's current revision.
    fn revision(&self) -> impl Future<Output = Result<i64, StoreError>> + Send {
        // No key starts with a control character: an empty read that names the revision.
        async move { Ok(self.load("\u{1}").await?.revision) }
    }

    /// One key.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Kv>, StoreError>> + Send;

    /// Applies a write atomically, if its compares hold.
    fn commit(&self, write: &Write) -> impl Future<Output = Result<Committed, StoreError>> + Send;

    /// Sends every change under `prefix` from revision `from` on to `events`, until the
    /// receiver is dropped. Reconnects by itself; sends [`WatchEvent::Resync`] when history
    /// was lost.
    fn watch(
        &self,
        prefix: &str,
        from: i64,
        events: mpsc::Sender<WatchEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Checks that the store answers.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Either store, chosen at start-up.
#[derive(Debug)]
pub enum AnyStore {
    /// etcd (boxed: its client is large)
    Etcd(Box<etcd::EtcdStore>),
    /// the embedded database
    Embedded(embedded::EmbeddedStore),
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Etcd($s) => $e,
            AnyStore::Embedded($s) => $e,
        }
    };
}

impl Store for AnyStore {
    fn name(&self) -> &'static str {
        delegate!(self, s => s.name())
    }
    async fn load(&self, prefix: &str) -> Result<Snapshot, StoreError> {
        delegate!(self, s => s.load(prefix).await)
    }
    async fn load_each<F: FnMut(Kv) + Send>(
        &self,
        prefix: &str,
        each: F,
    ) -> Result<i64, StoreError> {
        delegate!(self, s => s.load_each(prefix, each).await)
    }
    async fn load_at(&self, prefix: &str, revision: i64) -> Result<Option<Snapshot>, StoreError> {
        delegate!(self, s => s.load_at(prefix, revision).await)
    }
    async fn revision(&self) -> Result<i64, StoreError> {
        delegate!(self, s => s.revision().await)
    }
    async fn get(&self, key: &str) -> Result<Option<Kv>, StoreError> {
        delegate!(self, s => s.get(key).await)
    }
    async fn commit(&self, write: &Write) -> Result<Committed, StoreError> {
        delegate!(self, s => s.commit(write).await)
    }
    async fn watch(
        &self,
        prefix: &str,
        from: i64,
        events: mpsc::Sender<WatchEvent>,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.watch(prefix, from, events).await)
    }
    async fn ping(&self) -> Result<(), StoreError> {
        delegate!(self, s => s.ping().await)
    }
}

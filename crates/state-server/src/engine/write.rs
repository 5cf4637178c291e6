//! Storing a plan: its [`WriteSet`] (built by state-core) as compare-and-swap transactions, each
//! key compared with its last known revision, split at the store's operation limit; and
//! re-reading keys after a conflict.

use state_core::{
    fleet::Changes,
    key::StateKey,
    writes::{KeyWrite, WriteSet},
};

use super::Engine;
use crate::store::{Committed, Store, StoreError, Write};

/// Outcome of storing a plan.
pub(super) enum Written {
    /// Every write is stored.
    All,
    /// A key had changed since it was last read; nothing more was written.
    Conflict,
}

impl<S: Store> Engine<S> {
    /// Stores a plan's writes, in order, in transactions of at most `max_txn_ops` operations.
    pub(super) async fn write(&mut self, changes: &Changes) -> Result<Written, StoreError> {
        let set = WriteSet::of(changes);
        for chunk in set.chunks(self.cfg.max_txn_ops) {
            if let Written::Conflict = self.commit(chunk.iter()).await? {
                return Ok(Written::Conflict);
            }
        }
        Ok(Written::All)
    }

    /// Stores `writes` in one transaction that compares every key with its last known
    /// revision (0: absent), and records the new revisions.
    pub(super) async fn commit<'a>(
        &mut self,
        writes: impl Iterator<Item = &'a KeyWrite> + Clone,
    ) -> Result<Written, StoreError> {
        let mut txn = Write::default();
        for w in writes.clone() {
            let expected = self.revisions.get(&w.key).copied().unwrap_or(0);
            txn.compares.push((w.key.clone(), expected));
            match &w.value {
                Some(v) => txn.puts.push((w.key.clone(), v.to_string())),
                None => txn.deletes.push(w.key.clone()),
            }
        }
        match self.store.commit(&txn).await? {
            Committed::Applied { revision } => {
                for w in writes {
                    if w.value.is_some() {
                        self.revisions.insert(w.key.clone(), revision);
                    } else {
                        self.revisions.remove(&w.key);
                    }
                }
                Ok(Written::All)
            }
            Committed::Conflict => Ok(Written::Conflict),
        }
    }

    /// Re-reads every key the plan writes, after a conflict, into the revisions and the fleet.
    pub(super) async fn refresh(&mut self, changes: &Changes) -> Result<(), StoreError> {
        for w in &WriteSet::of(changes) {
            match self.store.get(&w.key).await? {
                Some(kv) => {
                    self.revisions.insert(w.key.clone(), kv.mod_revision);
                    if let Some(Err(e)) =
                        StateKey::parse(&w.key).map(|parsed| self.fleet.load(&parsed, &kv.value))
                    {
                        tracing::warn!(key = %w.key, error = %e, "unreadable state written by another writer");
                    }
                }
                None => {
                    self.revisions.remove(&w.key);
                }
            }
        }
        tracing::info!(
            keys = changes.write_count(),
            "conflicting write; keys re-read"
        );
        Ok(())
    }
}

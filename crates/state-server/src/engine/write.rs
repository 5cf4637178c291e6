//! Storing a plan: its [`WriteSet`] (built by state-core) as compare-and-swap transactions, each
//! key compared with its last known revision, split at the store's operation limit; and
//! a failed or conflicting write marks the fleet for a reload (`dirty`), since etcd may now
//! hold something the fleet does not.

use state_core::{
    fleet::Changes,
    history,
    writes::{KeyWrite, WriteSet},
};

use super::{Engine, Origin};
use crate::store::{Committed, Store, StoreError, Write};

/// Outcome of storing a plan.
pub(super) enum Written {
    /// Every write is stored.
    All,
    /// A key had changed since it was last read; nothing more was written.
    Conflict,
}

impl<S: Store> Engine<S> {
    /// Bytes of writes one transaction may carry ([`KeyWrite::cost`]), under etcd's request
    /// limit.
    pub(super) fn txn_bytes(&self) -> usize {
        // Room for the request's own framing and the fence.
        self.cfg.max_request_bytes.saturating_sub(8 * 1024).max(1)
    }

    /// Keys one transaction may write: etcd's limit counts compares too, and every key is
    /// compared, as is the leader's fence.
    pub(super) fn txn_capacity(&self) -> usize {
        let fence = usize::from(self.fence().is_some());
        self.cfg.max_txn_ops.saturating_sub(fence).max(1)
    }

    /// Stores a plan's writes, in order, in transactions of at most `max_txn_ops` operations,
    /// each transition with its history record.
    pub(super) async fn write(
        &mut self,
        changes: &Changes,
        origin: Origin<'_>,
    ) -> Result<Written, StoreError> {
        let set = self.recorded(changes, origin);
        for chunk in set.chunks(self.txn_capacity(), self.txn_bytes()) {
            if let Written::Conflict = self.commit(chunk.iter()).await? {
                return Ok(Written::Conflict);
            }
        }
        Ok(Written::All)
    }

    /// The writes that store `changes`, with their history records unless history is off.
    /// Records are numbered as they are made: a set that is not stored leaves the fleet
    /// `dirty`, and the reload numbers from what etcd holds.
    pub(super) fn recorded(&mut self, changes: &Changes, origin: Origin<'_>) -> WriteSet {
        if self.history.keep() == 0 {
            return WriteSet::of(changes);
        }
        let at = history::Origin {
            source: origin.source,
            transition_id: origin.transition_id,
            time_ns: crate::lists::now_ns(),
        };
        WriteSet::recorded(changes, Some((&mut self.history, &at)))
    }

    /// Stores `writes` in one transaction that compares every key with its last known
    /// revision (0: absent), and records the new revisions.
    pub(super) async fn commit<'a>(
        &mut self,
        writes: impl Iterator<Item = &'a KeyWrite> + Clone,
    ) -> Result<Written, StoreError> {
        let txn = self.transaction(writes.clone());
        let started = std::time::Instant::now();
        let outcome = self.store.commit(&txn).await;
        self.committed(outcome, started.elapsed(), &txn, writes)
    }

    /// The transaction that stores `writes`: each state key compared with its last known
    /// revision (0: absent), history records not compared, under this leader's fence.
    pub(super) fn transaction<'a>(&self, writes: impl Iterator<Item = &'a KeyWrite>) -> Write {
        let mut txn = Write {
            fence: self.fence(),
            ..Write::default()
        };
        for w in writes {
            if !w.record {
                let expected = self.revisions.get(w.key.as_str()).copied().unwrap_or(0);
                txn.compares.push((w.key.clone(), expected));
            }
            match &w.value {
                Some(v) => txn.puts.push((w.key.clone(), v.to_string())),
                None => txn.deletes.push(w.key.clone()),
            }
        }
        txn
    }

    /// Takes in how the transaction `txn` of `writes` ended: counts it, records the new
    /// revisions when applied, and otherwise leaves the fleet to be read again.
    pub(super) fn committed<'a>(
        &mut self,
        outcome: Result<Committed, StoreError>,
        took: std::time::Duration,
        txn: &Write,
        writes: impl Iterator<Item = &'a KeyWrite>,
    ) -> Result<Written, StoreError> {
        let label = match &outcome {
            Ok(Committed::Applied { .. }) => "applied",
            Ok(Committed::Conflict) => "conflict",
            Ok(Committed::Deposed) => "deposed",
            Err(_) => "error",
        };
        self.metrics.transaction(label, took, txn.ops());
        if !matches!(outcome, Ok(Committed::Applied { .. })) {
            // A conflict means another writer got there first; an error may even have been
            // applied (a timeout after etcd committed). Either way: read etcd again.
            self.dirty = true;
        }
        match outcome? {
            Committed::Applied { revision } => {
                // The watch will show this revision too; it is not someone else's write.
                self.own.insert(revision);
                for w in writes.filter(|w| !w.record) {
                    if w.value.is_some() {
                        self.revisions.insert(w.key.as_str().into(), revision);
                    } else {
                        self.revisions.remove(w.key.as_str());
                    }
                }
                Ok(Written::All)
            }
            Committed::Conflict => Ok(Written::Conflict),
            Committed::Deposed => {
                // Nothing of this transaction was written, but an earlier one of the same
                // plan may have been: the follower this engine now is reads etcd again.
                self.step_down();
                Ok(Written::Conflict)
            }
        }
    }
}

//! What the watches see. The engine's own commits come back too and are skipped by revision;
//! artifacts change the topology; every other state write is someone else's (another replica,
//! an operator) and goes into the fleet through state-core's [`Fleet::observe`], which keeps
//! every count exact. The leader then stores the cascade such a write calls for
//! (`docs/contract.md#outside-writes`).

use state_core::{fleet::Observed, history::HISTORY_PREFIX};

use super::{Engine, Origin, artifacts::TOPOLOGY_PREFIXES, write::Written};
use crate::store::{Kv, Store, WatchEvent};

const OUTSIDE: Origin<'static> = Origin {
    source: "store",
    transition_id: "",
};

impl<S: Store> Engine<S> {
    pub(super) async fn watched(&mut self, event: WatchEvent) {
        match event {
            WatchEvent::Changed { revision, changes } => {
                self.metrics.watched_revision.set(revision);
                if self.own.remove(&revision) {
                    return;
                }
                // Revisions are seen in order: an own commit older than this one that was never
                // echoed touched no watched key.
                self.own = self.own.split_off(&revision);
                let (artifacts, states): (Vec<_>, Vec<_>) = changes
                    .into_iter()
                    .partition(|(key, _)| TOPOLOGY_PREFIXES.iter().any(|p| key.starts_with(p)));
                for (key, value) in artifacts {
                    match value {
                        Some(value) => {
                            let kv = Kv {
                                key,
                                value,
                                mod_revision: revision,
                            };
                            self.artifact_put(kv).await;
                        }
                        None => self.artifact_delete(&key).await,
                    }
                }
                if !states.is_empty() {
                    self.outside(revision, states).await;
                }
            }
            WatchEvent::Resync { prefix, .. } => {
                // History was compacted away before the watch saw it: load everything again.
                tracing::warn!(prefix = %prefix, "watch lost history; loading the fleet again");
                self.dirty = true;
            }
        }
    }

    /// Takes in state keys another writer changed at `revision`.
    async fn outside(&mut self, revision: i64, changes: Vec<(String, Option<String>)>) {
        let mut seen = Observed::new();
        for (key, value) in &changes {
            // The leader's history records: nothing to take in, and never compared.
            if key.starts_with(HISTORY_PREFIX) {
                continue;
            }
            if self
                .revisions
                .get(key.as_str())
                .is_some_and(|r| *r >= revision)
            {
                continue;
            }
            match value {
                Some(_) => self.revisions.insert(key.as_str().into(), revision),
                None => self.revisions.remove(key.as_str()),
            };
            if let Err(e) = seen.add(key, value.as_deref()) {
                tracing::warn!(key = %key, error = %e, "ignoring an unreadable value written by another writer");
            }
        }
        if seen.is_empty() {
            return;
        }
        if self.leading() {
            tracing::info!(
                revision,
                keys = changes.len(),
                "state written by another writer; taking it in"
            );
        } else {
            // A follower sees every one of the leader's writes this way.
            tracing::debug!(revision, keys = changes.len(), "leader's write taken in");
        }
        for event in self.fleet.observe(&seen) {
            let mut plan = self.fleet.plan(&event);
            plan.changes.without_stored(&seen);
            if !self.store_outside_cascade(&plan.changes).await {
                return;
            }
            self.apply_plan(plan, OUTSIDE).await;
        }
        let back = self.fleet.written_back(&seen);
        if !back.writes_nothing() {
            tracing::info!(
                keys = back.write_count(),
                "derived states deleted by another writer; writing them back"
            );
            self.store_outside_cascade(&back).await;
        }
    }

    /// Stores what an outside write calls for. On failure the fleet is loaded again before the
    /// next request (and the leader repairs etcd then), so `false` stops taking the write in.
    async fn store_outside_cascade(&mut self, changes: &state_core::fleet::Changes) -> bool {
        if changes.writes_nothing() || !self.leading() {
            return true;
        }
        match self.write(changes, OUTSIDE).await {
            Ok(Written::All) => true,
            Ok(Written::Conflict) | Err(_) => {
                tracing::warn!("could not store the cascade of another writer's change; reloading");
                self.dirty = true;
                false
            }
        }
    }
}

//! Loading: read every state key, node membership and error-episode record at one revision and
//! every artifact, rebuild the fleet from them in state-core (so each count is exact), write
//! whatever derived state disagrees with them (a half-written plan, containers that changed
//! while no daemon ran), deliver the Reconciles still owed, then watch from the next revision.
//! Done at start, and again whenever a write may have left etcd somewhere the fleet does not
//! know. Until it succeeds, commands are refused.

use state_core::fleet::{Fleet, Observed};
use tokio::sync::mpsc;

use super::{Command, Engine, EngineError, Origin, WATCH_QUEUE, write::Written};
use crate::store::{Store, StoreError};

/// Every key the daemon derives from or writes starts with this: the four state prefixes,
/// the node memberships and the reconcile records. One prefix, so one watch sees every
/// transaction whole and in order.
pub(super) const STATE_ROOT: &str = "/";

/// What loading writes is recorded as coming from.
const REPAIR: Origin<'static> = Origin {
    source: "load",
    transition_id: "",
};

/// A write made while loading failed; the load starts over.
#[derive(Debug, thiserror::Error)]
#[error("a write made while loading the fleet failed; loading again")]
pub(super) struct LoadInterrupted;

/// Another writer changed a key the start-up replay was correcting.
#[derive(Debug, thiserror::Error)]
#[error("another writer changed the same keys while they were being loaded")]
struct StartUpConflict;

impl<S: Store> Engine<S> {
    /// (Re)loads the whole fleet from etcd and restarts the watches.
    pub(super) async fn resync(&mut self) -> Result<(), StoreError> {
        self.fleet = Fleet::new();
        self.revisions.clear();
        self.history.clear();
        self.own.clear();
        self.metrics.reloads.inc();
        // From here on, `dirty` says whether a write made while loading failed.
        self.dirty = false;
        self.loading = true;
        let loaded = self.load().await;
        self.loading = false;
        if loaded.is_ok() && !self.dirty {
            Box::pin(self.deliver_owed()).await;
            return Ok(());
        }
        self.owed.clear();
        self.dirty = true;
        loaded.and(Err(StoreError::internal("loading", LoadInterrupted)))
    }

    async fn load(&mut self) -> Result<(), StoreError> {
        let (watch_tx, watch_rx) = mpsc::channel(WATCH_QUEUE);
        // Dropping the old receiver ends the old watches.
        self.watch = watch_rx;
        let mut stored = Observed::new();
        let mut loaded = 0usize;
        // Taken in page by page: the fleet is built beside one page, not beside all of etcd.
        let store = self.store.clone();
        let revision = store
            .load_each(STATE_ROOT, |kv| {
                // History records are never compared, so their revisions are not kept.
                if self.history.loaded(&kv.key) {
                    return;
                }
                match stored.add(&kv.key, Some(&kv.value)) {
                    Ok(true) => loaded += 1,
                    Ok(false) => self.load_episode(&kv),
                    Err(e) => {
                        tracing::warn!(key = %kv.key, error = %e, "ignoring an unreadable stored value")
                    }
                }
                self.revisions.insert(kv.key.into_boxed_str(), kv.mod_revision);
            })
            .await?;
        let topology = self.load_artifacts(&watch_tx).await?;
        let (fleet, repair) = Fleet::rebuild(stored, &topology);
        self.fleet = fleet;
        if !repair.writes_nothing() && self.leading() {
            // What a half-written plan, or containers that changed while no daemon ran, left.
            tracing::info!(
                writes = repair.write_count(),
                "stored states disagree with the stored containers; correcting"
            );
            if let Written::Conflict = self.write(&repair, REPAIR).await? {
                return Err(StoreError::internal("loading", StartUpConflict));
            }
            self.effects(&repair, REPAIR);
        }
        self.store.watch(STATE_ROOT, revision + 1, watch_tx).await?;
        tracing::info!(
            store = self.store.name(),
            revision,
            states = loaded,
            containers = self.fleet.container_count(),
            artifacts = topology.len(),
            "state and topology loaded"
        );
        Ok(())
    }
}

/// Answers a command the engine cannot carry out now: the state cannot be loaded, or another
/// daemon leads.
pub(super) fn refuse(command: Command, e: EngineError) {
    match command {
        Command::Report { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Command::Change { reply, .. } => {
            let _ = reply.send(Err(e.into()));
        }
        Command::Apply { reply, .. } | Command::Mirror { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        // An outage is never reported as absence: a query the engine cannot answer yet is
        // refused like a write (`docs/contract.md#outages`).
        Command::Census { reply } => {
            let _ = reply.send(Err(e));
        }
        Command::Shape { reply } => {
            let _ = reply.send(Err(e));
        }
        Command::Get { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Command::Note { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Command::List { reply, .. } => {
            let _ = reply.send(Err(e));
        }
    }
}

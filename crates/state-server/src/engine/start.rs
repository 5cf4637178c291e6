//! Loading: read every state key and node membership at one revision, replay each membership
//! as a report (so each model's counts are rebuilt exactly, and what disagrees with them —
//! containers that vanished while the daemon was down, the first half of a plan whose second
//! half failed — is corrected in etcd), load the artifacts, then watch from the next revision.
//! Done at start, and again whenever a write may have left etcd somewhere the fleet does not
//! know. Until it succeeds, commands are refused.

use state_core::{
    container::ReportedContainer,
    fleet::{Event, Fleet},
    key::{StateKey, parse_node_key},
    members,
};
use tokio::sync::mpsc;

use super::{Command, Engine, EngineError, Origin, WATCH_QUEUE, write::Written};
use crate::store::{Kv, Store, StoreError};

/// Every key the daemon derives from or writes starts with this: the four state prefixes,
/// the node memberships and the reconcile records. One prefix, so one watch sees every
/// transaction whole and in order.
pub(super) const STATE_ROOT: &str = "/";

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
        self.own.clear();
        // From here on, `dirty` says whether a write made while loading failed.
        self.dirty = false;
        self.loading = true;
        let loaded = self.load().await;
        self.loading = false;
        if loaded.is_ok() && !self.dirty {
            return Ok(());
        }
        self.dirty = true;
        loaded.and(Err(StoreError::internal("loading", LoadInterrupted)))
    }

    async fn load(&mut self) -> Result<(), StoreError> {
        let (watch_tx, watch_rx) = mpsc::channel(WATCH_QUEUE);
        // Dropping the old receiver ends the old watches.
        self.watch = watch_rx;
        let snapshot = self.store.load(STATE_ROOT).await?;
        let mut loaded = 0usize;
        let mut nodes = Vec::new();
        for kv in snapshot.kvs {
            if parse_node_key(&kv.key).is_some() {
                nodes.push(kv);
                continue;
            }
            self.revisions.insert(kv.key.clone(), kv.mod_revision);
            let Some(key) = StateKey::parse(&kv.key) else {
                continue;
            };
            if let Err(e) = self.fleet.load(&key, &kv.value) {
                tracing::warn!(key = %kv.key, error = %e, "ignoring an unreadable stored state");
                continue;
            }
            loaded += 1;
        }
        // Which node runs which container: rebuilds every model's counts as they were.
        let node_count = nodes.len();
        for kv in nodes {
            self.replay(kv).await?;
        }
        let topology = self.load_artifacts(&watch_tx).await?;
        self.store
            .watch(STATE_ROOT, snapshot.revision + 1, watch_tx)
            .await?;
        tracing::info!(
            store = self.store.name(),
            revision = snapshot.revision,
            states = loaded,
            nodes = node_count,
            artifacts = topology,
            "state and topology loaded"
        );
        Ok(())
    }

    /// Takes in a stored node membership at start-up, as if the node had just reported its
    /// containers in their stored states. Writes only what disagrees with it.
    async fn replay(&mut self, kv: Kv) -> Result<(), StoreError> {
        let Some(node) = parse_node_key(&kv.key) else {
            tracing::warn!(key = %kv.key, "ignoring a key that is not a node membership key");
            return Ok(());
        };
        self.revisions.insert(kv.key.clone(), kv.mod_revision);
        let members = match members::decode(&kv.value) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(key = %kv.key, error = %e, "ignoring an unreadable node membership");
                return Ok(());
            }
        };
        let containers = members
            .into_iter()
            .filter_map(|m| {
                Some(ReportedContainer {
                    state: self.fleet.container_state(m.container.as_str())?,
                    name: m.container,
                    model: m.model,
                    package: m.package,
                })
            })
            .collect();
        let event = Event::NodeReport {
            node: node.clone(),
            containers,
        };
        let mut plan = self.fleet.plan(&event);
        plan.changes
            .nodes
            .retain(|(n, v)| !(*n == node && v.as_deref() == Some(kv.value.as_str())));
        if !plan.changes.writes_nothing() {
            tracing::info!(node = %node, writes = plan.changes.write_count(), "stored states disagree with the node's containers; correcting");
            if let Written::Conflict = self.write(&plan.changes).await? {
                return Err(StoreError::internal("start-up", StartUpConflict));
            }
        }
        let origin = Origin {
            source: "start-up",
            transition_id: "",
        };
        self.apply_plan(plan, origin).await;
        Ok(())
    }
}

/// Answers a command that arrives while the state cannot be loaded.
pub(super) fn refuse(command: Command, error: &StoreError) {
    let e = EngineError::Unavailable(error.clone());
    match command {
        Command::Report { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Command::Change { reply, .. } => {
            let _ = reply.send(Err(e.into()));
        }
        Command::Apply { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        // An outage is never reported as absence: a query the engine cannot answer yet is
        // refused like a write (`docs/contract.md#outages`).
        Command::Get { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Command::List { reply, .. } => {
            let _ = reply.send(Err(e));
        }
    }
}

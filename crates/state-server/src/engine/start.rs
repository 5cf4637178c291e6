//! Start-up: load every stored state, replay each stored node membership as a report (so each
//! model's counts are rebuilt exactly, and containers that vanished while the daemon was down are
//! deleted), then load the artifacts. Until that succeeds, commands are refused.

use state_core::{
    container::ReportedContainer,
    fleet::{Event, Fleet},
    key::{
        CONTAINER_PREFIX, MODEL_PREFIX, NODE_PREFIX, PACKAGE_PREFIX, SCENARIO_PREFIX, StateKey,
        parse_node_key,
    },
    members,
};
use tokio::sync::mpsc;

use super::{Command, Engine, EngineError, Origin, write::Written};
use crate::store::{Kv, Store, StoreError, WatchEvent};

const STATE_PREFIXES: [&str; 4] = [
    CONTAINER_PREFIX,
    MODEL_PREFIX,
    PACKAGE_PREFIX,
    SCENARIO_PREFIX,
];

/// Another writer changed a key the start-up replay was correcting.
#[derive(Debug, thiserror::Error)]
#[error("another writer changed the same keys during start-up")]
struct StartUpConflict;

impl<S: Store> Engine<S> {
    pub(super) async fn start(
        &mut self,
        watch_tx: &mpsc::Sender<WatchEvent>,
    ) -> Result<(), StoreError> {
        self.fleet = Fleet::new();
        self.revisions.clear();
        let mut loaded = 0usize;
        for prefix in STATE_PREFIXES {
            let snapshot = self.store.load(prefix).await?;
            for kv in snapshot.kvs {
                let Some(key) = StateKey::parse(&kv.key) else {
                    tracing::warn!(key = %kv.key, "ignoring a key that is not a state key");
                    continue;
                };
                if let Err(e) = self.fleet.load(&key, &kv.value) {
                    tracing::warn!(key = %kv.key, error = %e, "ignoring an unreadable stored state");
                    continue;
                }
                self.revisions.insert(kv.key, kv.mod_revision);
                loaded += 1;
            }
        }
        // Which node runs which container: rebuilds every model's counts as they were.
        let nodes = self.store.load(NODE_PREFIX).await?;
        let node_count = nodes.kvs.len();
        for kv in nodes.kvs {
            self.replay(kv).await?;
        }
        let topology = self.load_artifacts(watch_tx).await?;
        tracing::info!(
            store = self.store.name(),
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

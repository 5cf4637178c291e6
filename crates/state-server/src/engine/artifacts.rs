//! Topology: artifacts (`Package/{name}`, `Scenario/{name}`) loaded at start, kept current by
//! watching the store, and written by `apply`.

use state_artifact::{Parsed, parse_one, removal_event};
use state_core::{
    fleet::Event,
    key::{PACKAGE_ARTIFACT_PREFIX, SCENARIO_ARTIFACT_PREFIX},
    writes::{chunk, write_cost},
};
use tokio::sync::mpsc;

use super::{AppliedArtifact, Engine, EngineError, OnConflict, Origin};
use crate::store::{Committed, Kv, Store, StoreError, WatchEvent, Write};

pub(super) const TOPOLOGY_PREFIXES: [&str; 2] = [PACKAGE_ARTIFACT_PREFIX, SCENARIO_ARTIFACT_PREFIX];

const TOPOLOGY: Origin<'static> = Origin {
    source: "topology",
    transition_id: "",
};

/// The topology event of a stored artifact; `None` (with a warning) for one that cannot be
/// read or is stored under another name's key.
fn artifact_event(kv: &Kv) -> Option<Event> {
    match parse_one(&kv.value) {
        Ok(parsed) if parsed.artifact.key() != kv.key => {
            tracing::warn!(key = %kv.key, names = %parsed.artifact.key(), "artifact stored under another name's key; ignored");
            None
        }
        Ok(parsed) => parsed.artifact.event(),
        Err(e) => {
            tracing::warn!(key = %kv.key, error = %e, "unreadable artifact ignored");
            None
        }
    }
}

impl<S: Store> Engine<S> {
    /// Reads every artifact and starts watching for changes. Returns their topology events,
    /// for the fleet to be rebuilt with.
    pub(super) async fn load_artifacts(
        &mut self,
        watch_tx: &mpsc::Sender<WatchEvent>,
    ) -> Result<Vec<Event>, StoreError> {
        let mut events = Vec::new();
        for prefix in TOPOLOGY_PREFIXES {
            let snapshot = self.store.load(prefix).await?;
            let from = snapshot.revision + 1;
            for kv in snapshot.kvs {
                self.revisions
                    .insert(kv.key.as_str().into(), kv.mod_revision);
                events.extend(artifact_event(&kv));
            }
            self.store.watch(prefix, from, watch_tx.clone()).await?;
        }
        Ok(events)
    }

    /// Takes in an artifact as stored, unless it was already seen at this revision.
    pub(super) async fn artifact_put(&mut self, kv: Kv) {
        if self
            .revisions
            .get(kv.key.as_str())
            .is_some_and(|r| *r >= kv.mod_revision)
        {
            return;
        }
        self.revisions
            .insert(kv.key.as_str().into(), kv.mod_revision);
        if let Some(event) = artifact_event(&kv) {
            tracing::info!(key = %kv.key, "topology updated");
            self.topology(event).await;
        }
    }

    pub(super) async fn artifact_delete(&mut self, key: &str) {
        self.revisions.remove(key);
        if let Some(event) = removal_event(key) {
            tracing::info!(key = %key, "topology updated (artifact removed)");
            self.topology(event).await;
        }
    }

    /// Applies a topology event. If the store cannot take its writes now, the fleet is loaded
    /// again once it can, artifacts included, which takes the event in.
    pub(super) async fn topology(&mut self, event: Event) {
        if let Err(e) = self.execute(&event, TOPOLOGY, OnConflict::Replan).await {
            tracing::warn!(error = %e, "topology change not stored yet; taken in when the store is back");
            self.dirty = true;
        }
    }

    /// Stores artifacts, then takes them into the topology.
    pub(super) async fn apply(
        &mut self,
        docs: Vec<Parsed>,
    ) -> Result<Vec<AppliedArtifact>, EngineError> {
        let mut applied = Vec::new();
        // Transactions bounded by operations and by bytes, as a plan's are.
        let chunks = chunk(&docs, self.txn_capacity(), self.txn_bytes(), |d| {
            write_cost(&d.artifact.key(), &d.yaml)
        });
        for chunk in chunks {
            let write = Write {
                fence: self.fence(),
                compares: Vec::new(),
                puts: chunk
                    .iter()
                    .map(|d| (d.artifact.key(), d.yaml.clone()))
                    .collect(),
                deletes: Vec::new(),
            };
            let revision = self.commit_artifacts(&write).await?;
            for d in chunk {
                let key = d.artifact.key();
                applied.push(AppliedArtifact {
                    kind: d.artifact.kind(),
                    name: d.artifact.name().to_owned(),
                    key: key.clone(),
                });
                if TOPOLOGY_PREFIXES.iter().any(|p| key.starts_with(p)) {
                    self.artifact_put(Kv {
                        key,
                        value: d.yaml.clone(),
                        mod_revision: revision,
                    })
                    .await;
                }
            }
        }
        Ok(applied)
    }

    /// Stores what Pullpiri's RocksDB service holds (`pullpiri::rocksdb`): its new and
    /// changed documents as `apply` does, then the deletion of the keys it no longer holds.
    pub(super) async fn mirror(
        &mut self,
        puts: Vec<Parsed>,
        deletes: Vec<String>,
    ) -> Result<Vec<AppliedArtifact>, EngineError> {
        let applied = if puts.is_empty() {
            Vec::new()
        } else {
            self.apply(puts).await?
        };
        for chunk in deletes.chunks(self.txn_capacity()) {
            let write = Write {
                fence: self.fence(),
                compares: Vec::new(),
                puts: Vec::new(),
                deletes: chunk.to_vec(),
            };
            self.commit_artifacts(&write).await?;
            for key in chunk {
                if TOPOLOGY_PREFIXES.iter().any(|p| key.starts_with(p)) {
                    self.artifact_delete(key).await;
                }
            }
        }
        Ok(applied)
    }

    /// Commits artifact writes (not compared: the last writer's document wins, as with any
    /// artifact store). Returns the revision.
    async fn commit_artifacts(&mut self, write: &Write) -> Result<i64, EngineError> {
        match self.store.commit(write).await {
            Ok(Committed::Applied { revision }) => Ok(revision),
            Ok(Committed::Conflict) => Err(EngineError::Contention(1)),
            Ok(Committed::Deposed) => {
                self.step_down();
                Err(EngineError::NotLeader)
            }
            Err(e) => {
                self.set_healthy(false).await;
                Err(EngineError::Unavailable(e))
            }
        }
    }
}

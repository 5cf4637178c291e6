//! Storing a plan: compare-and-swap transactions split at the store's operation limit, and
//! re-reading keys after a conflict.

use std::borrow::Cow;

use state_core::{
    ContainerState, ModelState, PackageState, ScenarioState,
    fleet::Plan,
    key::{StateKey, container_key, model_key, package_key, scenario_key},
    members::node_key,
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

/// The plan's writes as `(key, Some(value))` puts and `(key, None)` deletes, in the order
/// they are stored when a plan is split: node memberships and containers, then models, then
/// packages, then scenarios. A reader of a split write thus never sees a parent state whose children are not
/// stored yet.
pub(super) fn writes(plan: &Plan) -> Vec<(String, Option<Cow<'static, str>>)> {
    let mut out = Vec::with_capacity(plan.write_count());
    for (node, members) in &plan.nodes {
        out.push((node_key(node), members.clone().map(Cow::Owned)));
    }
    for (name, state) in &plan.container_puts {
        out.push((
            container_key(name),
            Some(ContainerState::stored(*state).into()),
        ));
    }
    for name in &plan.container_deletes {
        out.push((container_key(name), None));
    }
    for u in &plan.models {
        out.push((model_key(&u.name), Some(ModelState::stored(u.new).into())));
    }
    for u in &plan.packages {
        out.push((
            package_key(&u.name),
            Some(PackageState::stored(u.new).into()),
        ));
    }
    for name in &plan.package_deletes {
        out.push((package_key(name), None));
    }
    for u in &plan.scenarios {
        out.push((
            scenario_key(&u.name),
            Some(ScenarioState::stored(u.new).into()),
        ));
    }
    out
}

impl<S: Store> Engine<S> {
    /// Stores the plan's writes, each key compared against its last known revision.
    pub(super) async fn write(&mut self, plan: &Plan) -> Result<Written, StoreError> {
        let all = writes(plan);
        for chunk in all.chunks(self.cfg.max_txn_ops.max(1)) {
            let mut write = Write::default();
            for (key, value) in chunk {
                let expected = self.revisions.get(key).copied().unwrap_or(0);
                write.compares.push((key.clone(), expected));
                match value {
                    Some(v) => write.puts.push((key.clone(), v.to_string())),
                    None => write.deletes.push(key.clone()),
                }
            }
            match self.store.commit(&write).await? {
                Committed::Applied { revision } => {
                    for (key, value) in chunk {
                        if value.is_some() {
                            self.revisions.insert(key.clone(), revision);
                        } else {
                            self.revisions.remove(key);
                        }
                    }
                }
                Committed::Conflict => return Ok(Written::Conflict),
            }
        }
        Ok(Written::All)
    }

    /// Re-reads every key the plan writes, after a conflict, into the revisions and the fleet.
    pub(super) async fn refresh(&mut self, plan: &Plan) -> Result<(), StoreError> {
        for (key, _) in writes(plan) {
            match self.store.get(&key).await? {
                Some(kv) => {
                    self.revisions.insert(key.clone(), kv.mod_revision);
                    if let Some(Err(e)) =
                        StateKey::parse(&key).map(|parsed| self.fleet.load(&parsed, &kv.value))
                    {
                        tracing::warn!(key = %key, error = %e, "unreadable state written by another writer");
                    }
                }
                None => {
                    self.revisions.remove(&key);
                }
            }
        }
        tracing::info!(keys = plan.write_count(), "conflicting write; keys re-read");
        Ok(())
    }
}

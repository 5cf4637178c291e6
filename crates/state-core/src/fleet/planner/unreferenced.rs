//! Step 5 of a plan: models that nothing references any more are dropped.

use alloc::vec::Vec;

use hashbrown::{HashMap, HashSet};

use super::Scratch;
use crate::{ContainerState, fleet::op::Op, name::ModelName, table::Counts};

impl Scratch<'_> {
    /// Step 5: a model that had a container or a package link before this event and has none
    /// after it is gone, its key deleted (`docs/contract.md#model-table`) — unless the event
    /// set it directly. A quiet model keeps its key: only losing its last reference removes it.
    pub(super) fn drop_unreferenced(
        &mut self,
        container_counts: &HashMap<ModelName, Counts<ContainerState>>,
    ) {
        let fleet = self.fleet;
        let mut candidates: HashSet<&ModelName> = container_counts.keys().collect();
        candidates.extend(self.links.keys().map(|(m, _)| m));
        let mut dropped: Vec<ModelName> = Vec::new();
        for model in candidates {
            if self.model_override.contains_key(model) {
                continue;
            }
            let Some(entry) = fleet.models.get(model) else {
                continue;
            };
            let links_before: u32 = entry.links.values().sum();
            if entry.containers.total() == 0 && links_before == 0 {
                continue;
            }
            let containers_after = container_counts
                .get(model)
                .map_or(entry.containers.total(), Counts::total);
            let links_after = entry.links.iter().any(|(p, refs)| {
                let delta = self
                    .links
                    .get(&(model.clone(), p.clone()))
                    .copied()
                    .unwrap_or(0);
                i64::from(*refs) + i64::from(delta) > 0
            }) || self
                .links
                .iter()
                .any(|((m, p), delta)| m == model && *delta > 0 && !entry.links.contains_key(p));
            if containers_after == 0 && !links_after {
                dropped.push(model.clone());
            }
        }
        dropped.sort();
        for model in dropped {
            self.plan.changes.models.retain(|u| u.name != model);
            self.plan.changes.model_deletes.push(model.clone());
            self.plan.ops.push(Op::DropModel(model));
        }
    }
}

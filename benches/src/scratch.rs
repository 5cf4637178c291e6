//! From-scratch evaluation with state-core's types and tables: the same rules as the planner,
//! but on every event every model and every package is re-evaluated by rescanning all
//! containers. The difference between this and [`state_core::fleet::Fleet`] is the
//! incremental bookkeeping alone.
//!
//! Membership is the artifact's model list and the container's model; package annotations,
//! direct updates and scenarios are left out (the benchmarks use none).

use hashbrown::HashMap;
use state_core::{
    ContainerState, ModelState, PackageState,
    container::ReportedContainer,
    eval::{evaluate_model, evaluate_package},
    name::{ContainerName, ModelName, NodeName, PackageName},
    table::Counts,
};

/// What one event changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Models whose state changed, with the new state.
    pub models: Vec<(ModelName, ModelState)>,
    /// Packages whose state changed, with the new state.
    pub packages: Vec<(PackageName, PackageState)>,
}

/// Every input and every derived state, re-derived in full on each event.
#[derive(Clone, Debug, Default)]
pub struct FromScratch {
    containers: HashMap<ContainerName, (ContainerState, Option<ModelName>)>,
    nodes: HashMap<NodeName, Vec<ContainerName>>,
    artifacts: Vec<(PackageName, Vec<ModelName>)>,
    models: HashMap<ModelName, ModelState>,
    packages: HashMap<PackageName, PackageState>,
}

impl FromScratch {
    /// A fleet with these package artifacts and no containers.
    pub fn new(artifacts: Vec<(PackageName, Vec<ModelName>)>) -> Self {
        FromScratch {
            artifacts,
            ..FromScratch::default()
        }
    }

    /// Replaces a node's list without evaluating anything (set-up; see
    /// [`FromScratch::evaluate`]).
    pub fn load(&mut self, node: &NodeName, list: &[ReportedContainer]) {
        if let Some(old) = self.nodes.remove(node) {
            for name in old {
                self.containers.remove(&name);
            }
        }
        for c in list {
            self.containers
                .insert(c.name.clone(), (c.state, c.model.clone()));
        }
        self.nodes
            .insert(node.clone(), list.iter().map(|c| c.name.clone()).collect());
    }

    /// A node's new full list, then every model and package re-evaluated.
    pub fn report(&mut self, node: &NodeName, list: &[ReportedContainer]) -> Changes {
        self.load(node, list);
        self.evaluate()
    }

    /// Re-evaluates every model from a scan of all containers, then every package.
    pub fn evaluate(&mut self) -> Changes {
        let mut changes = Changes::default();
        let mut counts: HashMap<&ModelName, Counts<ContainerState>> =
            HashMap::with_capacity(self.models.len());
        for (state, model) in self.containers.values() {
            if let Some(m) = model {
                counts.entry(m).or_default().add(*state);
            }
        }
        let listed = self.artifacts.iter().flat_map(|(_, ms)| ms);
        for model in counts.keys().copied().chain(listed) {
            if !self.models.contains_key(model) {
                self.models.insert(model.clone(), ModelState::Created);
                // A model seen for the first time is a change unless it stays Created.
                if !counts.contains_key(model) {
                    changes.models.push((model.clone(), ModelState::Created));
                }
            }
        }
        for (model, state) in self.models.iter_mut() {
            let new = evaluate_model(Some(&counts.get(model).copied().unwrap_or_default())).state;
            if *state != new {
                *state = new;
                changes.models.push((model.clone(), new));
            }
        }
        for (package, models) in &self.artifacts {
            let c = Counts::from_states(models.iter().filter_map(|m| self.models.get(m).copied()));
            let new = evaluate_package(&c).state;
            if self.packages.insert(package.clone(), new) != Some(new) {
                changes.packages.push((package.clone(), new));
            }
        }
        changes
    }

    /// Every model with its state.
    pub fn models(&self) -> &HashMap<ModelName, ModelState> {
        &self.models
    }

    /// Every package with its state.
    pub fn packages(&self) -> &HashMap<PackageName, PackageState> {
        &self.packages
    }
}

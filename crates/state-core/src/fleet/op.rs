//! The primitive changes a plan is made of, and how each is applied to the fleet. The planner
//! only reads the fleet; these are the only writes, so [`super::undo`] can record what each
//! overwrites.

use alloc::vec::Vec;

use hashbrown::{HashMap, hash_map::Entry};

use super::{ContainerEntry, Fleet, ModelEntry};
use crate::{
    ContainerState, ModelState, PackageState, ScenarioState,
    name::{ContainerName, ModelName, NodeName, PackageName, ScenarioName},
    table::Counts,
};

/// A primitive change applied by [`Fleet::commit`].
#[derive(Debug)]
pub(crate) enum Op {
    /// A container joins a node's list, or its entry there changes.
    PutOnNode(NodeName, ContainerName, ContainerEntry),
    /// A container leaves a node's list.
    RemoveFromNode(NodeName, ContainerName),
    /// A model's state and the per-state counts of its containers.
    SetModel(ModelName, ModelState, Counts<ContainerState>),
    /// The model is gone: nothing references it any more.
    DropModel(ModelName),
    /// How many reasons tie a model to a package (0 unties them).
    SetLink(ModelName, PackageName, u32),
    /// A package's state and the per-state counts of its models.
    SetPackage(PackageName, PackageState, Counts<ModelState>),
    /// A model becomes a member of a package.
    Join(PackageName, ModelName),
    /// A model stops being a member of a package.
    Leave(PackageName, ModelName),
    /// The models a package's artifact lists (`None`: no artifact).
    SetArtifact(PackageName, Option<Vec<ModelName>>),
    /// The package no longer exists.
    DropPackage(PackageName),
    SetScenarioState(ScenarioName, ScenarioState),
    /// A scenario artifact is stored, targeting this package (or none).
    TargetScenario(ScenarioName, Option<PackageName>),
    /// A scenario artifact is deleted; the scenario is forgotten unless it has a state.
    ForgetScenario(ScenarioName),
}

impl Fleet {
    /// Applies one primitive change.
    pub(super) fn apply(&mut self, op: Op) {
        match op {
            Op::PutOnNode(node, name, entry) => {
                self.stored_containers.remove(&name);
                if self.owner.get(&name) != Some(&node) {
                    self.owner.insert(name.clone(), node.clone());
                }
                self.nodes.entry(node).or_default().insert(name, entry);
            }
            Op::RemoveFromNode(node, name) => {
                if self.owner.get(&name) == Some(&node) {
                    self.owner.remove(&name);
                }
                if let Some(list) = self.nodes.get_mut(&node) {
                    list.remove(&name);
                    if list.is_empty() {
                        self.nodes.remove(&node);
                    }
                }
            }
            Op::SetModel(name, state, containers) => match self.models.entry(name) {
                Entry::Occupied(mut e) => {
                    let m = e.get_mut();
                    m.state = state;
                    m.containers = containers;
                }
                Entry::Vacant(e) => {
                    e.insert(ModelEntry {
                        state,
                        containers,
                        links: HashMap::new(),
                    });
                }
            },
            Op::DropModel(name) => {
                self.models.remove(&name);
            }
            Op::SetLink(model, package, refs) => {
                if let Some(m) = self.models.get_mut(&model) {
                    if refs == 0 {
                        m.links.remove(&package);
                    } else {
                        m.links.insert(package, refs);
                    }
                }
            }
            Op::SetPackage(name, state, models) => {
                let p = self.packages.entry(name).or_default();
                p.state = Some(state);
                p.models = models;
            }
            Op::Join(package, model) => {
                self.packages
                    .entry(package)
                    .or_default()
                    .members
                    .insert(model);
            }
            Op::Leave(package, model) => {
                self.packages
                    .entry(package)
                    .or_default()
                    .members
                    .remove(&model);
            }
            Op::SetArtifact(package, models) => {
                self.packages.entry(package).or_default().artifact = models;
            }
            Op::DropPackage(package) => {
                self.packages.remove(&package);
            }
            Op::SetScenarioState(name, state) => {
                self.scenarios.entry(name).or_default().state = Some(state);
            }
            Op::TargetScenario(name, target) => {
                self.untarget(&name);
                if let Some(t) = &target {
                    self.targeted_by
                        .entry(t.clone())
                        .or_default()
                        .insert(name.clone());
                }
                self.scenarios.entry(name).or_default().target = target;
            }
            Op::ForgetScenario(name) => {
                self.untarget(&name);
                if self.scenarios.get(&name).is_some_and(|s| s.state.is_none()) {
                    self.scenarios.remove(&name);
                }
            }
        }
    }

    /// Removes a scenario from the targets of the package it targets.
    fn untarget(&mut self, name: &ScenarioName) {
        let Some(old) = self.scenarios.get_mut(name).and_then(|s| s.target.take()) else {
            return;
        };
        if let Some(set) = self.targeted_by.get_mut(&old) {
            set.remove(name);
            if set.is_empty() {
                self.targeted_by.remove(&old);
            }
        }
    }
}

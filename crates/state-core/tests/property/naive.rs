//! The reference the planner is checked against: raw inputs only, every state derived from
//! scratch with the contract's rules written out as plain `if`s.

use std::collections::{BTreeMap, BTreeSet};

use crate::{Outside, container, model, package};
use state_core::{
    ContainerState, ModelState, PackageState,
    fleet::{Event, Fleet},
    name::{ContainerName, ModelName, NodeName, PackageName, ScenarioName},
};

pub(crate) type Entry = (ContainerState, Option<ModelName>, Option<PackageName>);

/// The reference: raw inputs only, every state derived from scratch.
#[derive(Default)]
pub(crate) struct Naive {
    pub(crate) nodes: BTreeMap<NodeName, BTreeMap<ContainerName, Entry>>,
    pub(crate) artifacts: BTreeMap<PackageName, Vec<ModelName>>,
    pub(crate) targets: BTreeMap<ScenarioName, Option<PackageName>>,
    pub(crate) known_models: BTreeSet<ModelName>,
    pub(crate) model_override:
        BTreeMap<ModelName, (ModelState, Vec<(ContainerName, ContainerState)>)>,
    pub(crate) package_override: BTreeMap<PackageName, (PackageState, PackageInputs)>,
    /// Container states another writer stored for containers no node reports.
    pub(crate) stored: BTreeMap<ContainerName, ContainerState>,
}

/// What a package's state depends on.
pub(crate) type PackageInputs = (Option<Vec<ModelName>>, BTreeMap<ModelName, ModelState>);

pub(crate) type Members = BTreeMap<ContainerName, (Option<ModelName>, Option<PackageName>)>;

#[derive(Debug, Default, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) containers: BTreeMap<ContainerName, ContainerState>,
    /// Each node's containers with their model and package (nodes with none left out).
    pub(crate) members: BTreeMap<NodeName, Members>,
    pub(crate) models: BTreeMap<ModelName, ModelState>,
    pub(crate) packages: BTreeMap<PackageName, PackageState>,
}

pub(crate) fn naive_model(states: &[ContainerState]) -> ModelState {
    use ContainerState as C;
    if states.is_empty() {
        ModelState::Created
    } else if states.contains(&C::Dead) {
        ModelState::Dead
    } else if states.iter().all(|s| *s == C::Paused) {
        ModelState::Paused
    } else if states.iter().all(|s| *s == C::Exited) {
        ModelState::Exited
    } else {
        ModelState::Running
    }
}

pub(crate) fn naive_package(states: &[ModelState]) -> PackageState {
    use ModelState as M;
    if states.iter().all(|s| *s == M::Created) {
        PackageState::Idle
    } else if states.iter().all(|s| *s == M::Dead) {
        PackageState::Error
    } else if states.contains(&M::Dead) {
        PackageState::Degraded
    } else if states.iter().all(|s| *s == M::Paused) {
        PackageState::Paused
    } else if states.iter().all(|s| *s == M::Exited) {
        PackageState::Exited
    } else {
        PackageState::Running
    }
}

impl Naive {
    pub(crate) fn model_inputs(&self, m: &ModelName) -> Vec<(ContainerName, ContainerState)> {
        let mut v: Vec<_> = self
            .nodes
            .values()
            .flat_map(|l| l.iter())
            .filter(|(_, e)| e.1.as_ref() == Some(m))
            .map(|(c, e)| (c.clone(), e.0))
            .collect();
        v.sort();
        v
    }

    pub(crate) fn members(&self, p: &PackageName) -> BTreeSet<ModelName> {
        let mut set: BTreeSet<ModelName> = self
            .artifacts
            .get(p)
            .map(|ms| ms.iter().cloned().collect())
            .unwrap_or_default();
        for l in self.nodes.values() {
            for e in l.values() {
                if let (Some(m), Some(pp)) = (&e.1, &e.2) {
                    if pp == p {
                        set.insert(m.clone());
                    }
                }
            }
        }
        set
    }

    pub(crate) fn package_names(&self) -> BTreeSet<PackageName> {
        let mut set: BTreeSet<PackageName> = self.artifacts.keys().cloned().collect();
        for l in self.nodes.values() {
            for e in l.values() {
                if let (Some(_), Some(p)) = (&e.1, &e.2) {
                    set.insert(p.clone());
                }
            }
        }
        set.extend(self.package_override.keys().cloned());
        set
    }

    /// Derives every state, dropping overrides whose inputs changed.
    pub(crate) fn derive(&mut self) -> Snapshot {
        let mut snap = Snapshot {
            containers: self.stored.clone(),
            ..Snapshot::default()
        };
        for (n, l) in &self.nodes {
            for (c, e) in l {
                snap.containers.insert(c.clone(), e.0);
            }
            if !l.is_empty() {
                snap.members.insert(
                    n.clone(),
                    l.iter()
                        .map(|(c, e)| (c.clone(), (e.1.clone(), e.2.clone())))
                        .collect(),
                );
            }
        }
        for m in self.known_models.clone() {
            let inputs = self.model_inputs(&m);
            let state = match self.model_override.get(&m) {
                Some((s, snapshot)) if *snapshot == inputs => *s,
                _ => {
                    self.model_override.remove(&m);
                    naive_model(&inputs.iter().map(|(_, s)| *s).collect::<Vec<_>>())
                }
            };
            snap.models.insert(m, state);
        }
        for p in self.package_names() {
            let members = self.members(&p);
            let inputs: PackageInputs = (
                self.artifacts.get(&p).cloned(),
                members
                    .iter()
                    .map(|m| (m.clone(), snap.models[m]))
                    .collect(),
            );
            let state = match self.package_override.get(&p) {
                Some((s, snapshot)) if *snapshot == inputs => Some(*s),
                _ => {
                    self.package_override.remove(&p);
                    let exists = inputs.0.is_some() || !members.is_empty();
                    exists.then(|| naive_package(&inputs.1.values().copied().collect::<Vec<_>>()))
                }
            };
            if let Some(s) = state {
                snap.packages.insert(p, s);
            }
        }
        snap
    }

    /// Applies an event to the raw inputs. Overrides record their inputs as they stand after
    /// the event, so they are computed after the other inputs are in place.
    pub(crate) fn apply(&mut self, event: &Event, before: &Snapshot) {
        let had = self.referenced_models();
        self.apply_inputs(event, before);
        let except = match event {
            Event::SetModel { model, .. } => Some(model),
            _ => None,
        };
        self.forget_unreferenced(had, except);
    }

    /// The known models that a container or an artifact references.
    fn referenced_models(&self) -> BTreeSet<ModelName> {
        self.known_models
            .iter()
            .filter(|m| self.referenced(m))
            .cloned()
            .collect()
    }

    fn referenced(&self, m: &ModelName) -> bool {
        !self.model_inputs(m).is_empty() || self.artifacts.values().any(|ms| ms.contains(m))
    }

    /// A model referenced before a change and by nothing after it is gone (unless the change
    /// set it directly).
    fn forget_unreferenced(&mut self, had: BTreeSet<ModelName>, except: Option<&ModelName>) {
        for m in had {
            if Some(&m) != except && !self.referenced(&m) {
                self.known_models.remove(&m);
                self.model_override.remove(&m);
            }
        }
    }

    fn apply_inputs(&mut self, event: &Event, before: &Snapshot) {
        match event {
            Event::NodeReport { node, containers } => {
                let mut list = BTreeMap::new();
                // A name listed twice: the later entry wins.
                for c in containers {
                    list.insert(
                        c.name.clone(),
                        (c.state, c.model.clone(), c.package.clone()),
                    );
                }
                self.known_models
                    .extend(list.values().filter_map(|e| e.1.clone()));
                self.stored.retain(|c, _| !list.contains_key(c));
                for (n, other) in self.nodes.iter_mut() {
                    if n != node {
                        other.retain(|c, _| !list.contains_key(c));
                    }
                }
                self.nodes.insert(node.clone(), list);
            }
            Event::SetModel { model, state } => {
                self.known_models.insert(model.clone());
                let inputs = self.model_inputs(model);
                self.model_override.insert(model.clone(), (*state, inputs));
            }
            Event::SetPackage { package, state } => {
                let members = self.members(package);
                let mut models = before.models.clone();
                for m in &members {
                    models.entry(m.clone()).or_insert(ModelState::Created);
                }
                let inputs: PackageInputs = (
                    self.artifacts.get(package).cloned(),
                    members.iter().map(|m| (m.clone(), models[m])).collect(),
                );
                self.package_override
                    .insert(package.clone(), (*state, inputs));
            }
            Event::PutPackage { package, models } => {
                let mut list = Vec::new();
                for m in models {
                    if !list.contains(m) {
                        list.push(m.clone());
                    }
                    self.known_models.insert(m.clone());
                }
                self.artifacts.insert(package.clone(), list);
            }
            Event::RemovePackage { package } => {
                self.artifacts.remove(package);
            }
            Event::PutScenario { scenario, target } => {
                self.targets.insert(scenario.clone(), target.clone());
            }
            Event::RemoveScenario { scenario } => {
                self.targets.remove(scenario);
            }
            Event::SetScenario { .. } | Event::CompleteScenario { .. } => {}
        }
    }

    /// Applies a write seen in the store: a container's state is an input (a deleted key
    /// takes the container off its node, as a restart would); a model or package state is a
    /// direct update; a deleted model or package key changes nothing, since it is written back.
    pub(crate) fn observe(&mut self, write: &Outside, before: &Snapshot) {
        match write {
            Outside::Container(c, state) => {
                let had = self.referenced_models();
                let name = container(*c);
                if !self.nodes.values().any(|l| l.contains_key(&name)) {
                    match state {
                        Some(s) => self.stored.insert(name.clone(), *s),
                        None => self.stored.remove(&name),
                    };
                }
                for list in self.nodes.values_mut() {
                    match state {
                        Some(s) => {
                            if let Some(e) = list.get_mut(&name) {
                                e.0 = *s;
                            }
                        }
                        None => {
                            list.remove(&name);
                        }
                    }
                }
                self.forget_unreferenced(had, None);
            }
            Outside::Model(m, Some(state)) => self.apply(
                &Event::SetModel {
                    model: model(*m),
                    state: *state,
                },
                before,
            ),
            Outside::Package(p, Some(state)) => self.apply(
                &Event::SetPackage {
                    package: package(*p),
                    state: *state,
                },
                before,
            ),
            Outside::Model(_, None) | Outside::Package(_, None) => {}
        }
    }

    pub(crate) fn scenario_for(&self, p: &PackageName) -> Option<ScenarioName> {
        self.targets
            .iter()
            .find(|(_, t)| t.as_ref() == Some(p))
            .map(|(s, _)| s.clone())
    }
}

pub(crate) fn fleet_snapshot(fleet: &Fleet) -> Snapshot {
    let mut snap = Snapshot {
        containers: fleet
            .stored_containers()
            .map(|(c, s)| (c.clone(), s))
            .collect(),
        ..Snapshot::default()
    };
    for (n, list) in fleet.nodes() {
        for (c, e) in list {
            snap.containers.insert(c.clone(), e.state);
        }
        if !list.is_empty() {
            snap.members.insert(
                n.clone(),
                list.iter()
                    .map(|(c, e)| (c.clone(), (e.model.clone(), e.package.clone())))
                    .collect(),
            );
        }
    }
    for (m, s) in fleet.models() {
        snap.models.insert(m.clone(), s);
    }
    for (p, s) in fleet.packages() {
        snap.packages.insert(
            p.clone(),
            s.expect("every package in the fleet has a state"),
        );
    }
    snap
}

pub(crate) fn diff<K: Ord + Clone, V: PartialEq + Copy>(
    before: &BTreeMap<K, V>,
    after: &BTreeMap<K, V>,
) -> BTreeMap<K, V> {
    after
        .iter()
        .filter(|(k, v)| before.get(k) != Some(v))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

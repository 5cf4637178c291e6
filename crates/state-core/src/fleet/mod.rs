//! The cascade planner: topology and current states, and for each event a [`Plan`] of what to
//! write. Planning is incremental: each model keeps per-state counts of its containers and each
//! package per-state counts of its models, so one event costs in proportion to what it touches,
//! whatever the size of the fleet.
//!
//! Planning does not change the fleet: [`Fleet::plan`] reads, the caller stores the plan's
//! writes, and only then [`Fleet::commit`] applies it. A plan that could not be stored is
//! simply dropped.

use alloc::{collections::BTreeSet, string::String, vec::Vec};

use hashbrown::{HashMap, HashSet, hash_map::Entry};

mod undo;
pub use undo::Undo;

use crate::{
    ContainerState, ModelState, PackageState, ScenarioState,
    container::ReportedContainer,
    error::ParseStateError,
    eval::{evaluate_model, evaluate_package},
    key::StateKey,
    members,
    name::{ContainerName, ModelName, NodeName, PackageName, ScenarioName},
    table::{Counts, Decision},
};

/// One event the planner reacts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A node's new full container list; it replaces the node's previous list.
    NodeReport {
        /// The reporting node.
        node: NodeName,
        /// Its containers, already validated.
        containers: Vec<ReportedContainer>,
    },
    /// A direct model update; cascades to the model's packages.
    SetModel {
        /// The model.
        model: ModelName,
        /// Its new state.
        state: ModelState,
    },
    /// A direct package update.
    SetPackage {
        /// The package.
        package: PackageName,
        /// Its new state.
        state: PackageState,
    },
    /// A scenario lifecycle step (already checked against the transition table).
    SetScenario {
        /// The scenario.
        scenario: ScenarioName,
        /// Its new state.
        state: ScenarioState,
    },
    /// A `Package/{name}` artifact was stored or replaced.
    PutPackage {
        /// The package.
        package: PackageName,
        /// The models it lists.
        models: Vec<ModelName>,
    },
    /// A `Package/{name}` artifact was deleted.
    RemovePackage {
        /// The package.
        package: PackageName,
    },
    /// A `Scenario/{name}` artifact was stored or replaced.
    PutScenario {
        /// The scenario.
        scenario: ScenarioName,
        /// The package it targets.
        target: Option<PackageName>,
    },
    /// A `Scenario/{name}` artifact was deleted.
    RemoveScenario {
        /// The scenario.
        scenario: ScenarioName,
    },
}

/// A state that changes: `old` is `None` when the resource had no stored state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update<N, S> {
    /// The resource.
    pub name: N,
    /// Its state before.
    pub old: Option<S>,
    /// Its state after.
    pub new: S,
}

/// A request to the ActionController for a package that entered Error (spec §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconcile {
    /// The package in Error.
    pub package: PackageName,
    /// The scenario targeting it, if one does.
    pub scenario: Option<ScenarioName>,
}

/// What one event changes. Unchanged states produce nothing.
#[derive(Debug, Default)]
pub struct Plan {
    /// Container states to write (new or changed).
    pub container_puts: Vec<(ContainerName, ContainerState)>,
    /// Container keys to delete (containers that left their node's list).
    pub container_deletes: Vec<ContainerName>,
    /// Model state changes.
    pub models: Vec<Update<ModelName, ModelState>>,
    /// Package state changes.
    pub packages: Vec<Update<PackageName, PackageState>>,
    /// Package state keys to delete (packages that no longer exist).
    pub package_deletes: Vec<PackageName>,
    /// Scenario state changes.
    pub scenarios: Vec<Update<ScenarioName, ScenarioState>>,
    /// Packages that entered Error.
    pub reconciles: Vec<Reconcile>,
    /// Reported containers that belong to no model.
    pub unassigned: Vec<ContainerName>,
    /// Node membership values to store (see [`crate::members`]): for each node whose list of
    /// containers, models or packages changed, its new value, or `None` when it has none left.
    pub nodes: Vec<(NodeName, Option<String>)>,
    generation: u64,
    ops: Vec<Op>,
}

impl Plan {
    /// Whether the plan writes nothing to the store.
    pub fn writes_nothing(&self) -> bool {
        self.container_puts.is_empty()
            && self.container_deletes.is_empty()
            && self.models.is_empty()
            && self.packages.is_empty()
            && self.package_deletes.is_empty()
            && self.scenarios.is_empty()
            && self.nodes.is_empty()
    }

    /// Moves the changes out into a plan of their own, for reporting after this one is
    /// committed. The returned plan cannot be committed.
    pub fn take_changes(&mut self) -> Plan {
        Plan {
            container_puts: core::mem::take(&mut self.container_puts),
            container_deletes: core::mem::take(&mut self.container_deletes),
            models: core::mem::take(&mut self.models),
            packages: core::mem::take(&mut self.packages),
            package_deletes: core::mem::take(&mut self.package_deletes),
            scenarios: core::mem::take(&mut self.scenarios),
            reconciles: core::mem::take(&mut self.reconciles),
            unassigned: core::mem::take(&mut self.unassigned),
            nodes: core::mem::take(&mut self.nodes),
            generation: u64::MAX,
            ops: Vec::new(),
        }
    }

    /// Number of store operations (puts and deletes) the plan needs.
    pub fn write_count(&self) -> usize {
        self.container_puts.len()
            + self.container_deletes.len()
            + self.models.len()
            + self.packages.len()
            + self.package_deletes.len()
            + self.scenarios.len()
            + self.nodes.len()
    }
}

/// [`Fleet::commit`] was given a plan made against an older fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("plan was made against fleet generation {planned}, but the fleet is at {current}")]
pub struct StalePlan {
    /// Generation the plan was made at.
    pub planned: u64,
    /// Generation of the fleet.
    pub current: u64,
}

/// A container as last reported by its node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerEntry {
    /// Its state.
    pub state: ContainerState,
    /// Its model.
    pub model: Option<ModelName>,
    /// The package named by its package annotation.
    pub package: Option<PackageName>,
}

#[derive(Clone, Debug, PartialEq)]
struct ModelEntry {
    state: ModelState,
    containers: Counts<ContainerState>,
    /// Package -> number of reasons it holds this model (its artifact lists it: 1; each
    /// container annotated with the package: 1).
    links: HashMap<PackageName, u32>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct PackageEntry {
    state: Option<PackageState>,
    models: Counts<ModelState>,
    members: HashSet<ModelName>,
    /// The models its artifact lists; `None` when no artifact is stored.
    artifact: Option<Vec<ModelName>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct ScenarioEntry {
    state: Option<ScenarioState>,
    target: Option<PackageName>,
}

/// A primitive change applied by [`Fleet::commit`].
#[derive(Debug)]
enum Op {
    /// A container joins a node's list, or its entry there changes.
    PutOnNode(NodeName, ContainerName, ContainerEntry),
    /// A container leaves a node's list.
    RemoveFromNode(NodeName, ContainerName),
    SetModel(ModelName, ModelState, Counts<ContainerState>),
    SetLink(ModelName, PackageName, u32),
    SetPackage(PackageName, PackageState, Counts<ModelState>),
    Member(PackageName, ModelName, bool),
    SetArtifact(PackageName, Option<Vec<ModelName>>),
    DropPackage(PackageName),
    SetScenarioState(ScenarioName, ScenarioState),
    SetScenarioTarget(ScenarioName, Option<Option<PackageName>>),
}

/// Topology and current states of the whole fleet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fleet {
    nodes: HashMap<NodeName, HashMap<ContainerName, ContainerEntry>>,
    /// Which node holds each reported container.
    owner: HashMap<ContainerName, NodeName>,
    /// Container states loaded from the store but not (yet) reported by any node.
    stored_containers: HashMap<ContainerName, ContainerState>,
    models: HashMap<ModelName, ModelEntry>,
    packages: HashMap<PackageName, PackageEntry>,
    scenarios: HashMap<ScenarioName, ScenarioEntry>,
    /// Package -> scenarios targeting it.
    targeted_by: HashMap<PackageName, BTreeSet<ScenarioName>>,
    generation: u64,
}

impl Fleet {
    /// An empty fleet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a state read from the store at start-up, without planning anything.
    pub fn load(&mut self, key: &StateKey, value: &str) -> Result<(), ParseStateError> {
        self.generation += 1;
        match key {
            StateKey::Container(name) => {
                let state = ContainerState::parse(value)?;
                match self.owner.get(name) {
                    Some(node) => {
                        if let Some(e) = self.nodes.get_mut(node).and_then(|l| l.get_mut(name)) {
                            e.state = state;
                        }
                    }
                    None => {
                        self.stored_containers.insert(name.clone(), state);
                    }
                }
            }
            StateKey::Model(name) => {
                let state = ModelState::parse(value)?;
                let old = self.models.get(name).map(|m| m.state);
                let entry = self
                    .models
                    .entry(name.clone())
                    .or_insert_with(|| ModelEntry {
                        state,
                        containers: Counts::default(),
                        links: HashMap::new(),
                    });
                entry.state = state;
                let packages: Vec<PackageName> = entry.links.keys().cloned().collect();
                if let Some(old) = old {
                    for p in packages {
                        if let Some(pkg) = self.packages.get_mut(&p) {
                            pkg.models.remove(old);
                            pkg.models.add(state);
                        }
                    }
                }
            }
            StateKey::Package(name) => {
                let state = PackageState::parse(value)?;
                self.packages.entry(name.clone()).or_default().state = Some(state);
            }
            StateKey::Scenario(name) => {
                let state = ScenarioState::parse(value)?;
                self.scenarios.entry(name.clone()).or_default().state = Some(state);
            }
        }
        Ok(())
    }

    /// Plans one event without changing the fleet.
    pub fn plan(&self, event: &Event) -> Plan {
        let mut s = Scratch::new(self);
        match event {
            Event::NodeReport { node, containers } => s.report(node, containers),
            Event::SetModel { model, state } => s.set_model(model, *state),
            Event::SetPackage { package, state } => {
                s.ensure_package(package);
                s.package_override.insert(package.clone(), *state);
            }
            Event::SetScenario { scenario, state } => {
                let old = self.scenario_state(scenario.as_str());
                if old != Some(*state) {
                    s.plan.scenarios.push(Update {
                        name: scenario.clone(),
                        old,
                        new: *state,
                    });
                    s.plan
                        .ops
                        .push(Op::SetScenarioState(scenario.clone(), *state));
                }
            }
            Event::PutPackage { package, models } => s.put_package(package, Some(models)),
            Event::RemovePackage { package } => s.put_package(package, None),
            Event::PutScenario { scenario, target } => {
                // A package already in Error that no scenario targeted could not be
                // reconciled when it entered Error; its first scenario asks now.
                if let Some(p) = target {
                    if self.package_state(p.as_str()) == Some(PackageState::Error)
                        && self.scenario_for(p.as_str()).is_none()
                    {
                        s.plan.reconciles.push(Reconcile {
                            package: p.clone(),
                            scenario: Some(scenario.clone()),
                        });
                    }
                }
                s.plan.ops.push(Op::SetScenarioTarget(
                    scenario.clone(),
                    Some(target.clone()),
                ));
            }
            Event::RemoveScenario { scenario } => s
                .plan
                .ops
                .push(Op::SetScenarioTarget(scenario.clone(), None)),
        }
        s.finish()
    }

    /// Applies a plan made by [`Fleet::plan`] on this fleet, once its writes are stored.
    pub fn commit(&mut self, plan: Plan) -> Result<(), StalePlan> {
        if plan.generation != self.generation {
            return Err(StalePlan {
                planned: plan.generation,
                current: self.generation,
            });
        }
        self.generation += 1;
        for op in plan.ops {
            self.apply(op);
        }
        Ok(())
    }

    /// Like [`Fleet::commit`], but also returns what it takes to put the fleet back with
    /// [`Fleet::undo`]: for callers that apply several plans before storing them together.
    pub fn commit_undoable(&mut self, plan: Plan) -> Result<Undo, StalePlan> {
        if plan.generation != self.generation {
            return Err(StalePlan {
                planned: plan.generation,
                current: self.generation,
            });
        }
        let mut undo = Undo::new(self.generation);
        self.generation += 1;
        for op in plan.ops {
            undo.record(self, &op);
            self.apply(op);
        }
        Ok(undo)
    }

    /// Plans and commits in one step, for callers with nothing to store (tests, the explorer).
    pub fn apply_event(&mut self, event: &Event) -> Plan {
        let mut plan = self.plan(event);
        let ops = core::mem::take(&mut plan.ops);
        self.generation += 1;
        for op in ops {
            self.apply(op);
        }
        plan
    }

    fn apply(&mut self, op: Op) {
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
            Op::Member(package, model, joined) => {
                let p = self.packages.entry(package).or_default();
                if joined {
                    p.members.insert(model);
                } else {
                    p.members.remove(&model);
                }
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
            Op::SetScenarioTarget(name, target) => {
                let entry = self.scenarios.entry(name.clone()).or_default();
                if let Some(old) = entry.target.take() {
                    if let Some(set) = self.targeted_by.get_mut(&old) {
                        set.remove(&name);
                        if set.is_empty() {
                            self.targeted_by.remove(&old);
                        }
                    }
                }
                match target {
                    Some(target) => {
                        entry.target = target.clone();
                        if let Some(t) = target {
                            self.targeted_by.entry(t).or_default().insert(name);
                        }
                    }
                    None => {
                        if entry.state.is_none() {
                            self.scenarios.remove(&name);
                        }
                    }
                }
            }
        }
    }

    /// The model's current state.
    pub fn model_state(&self, model: &str) -> Option<ModelState> {
        self.models.get(model).map(|m| m.state)
    }

    /// The package's current state.
    pub fn package_state(&self, package: &str) -> Option<PackageState> {
        self.packages.get(package).and_then(|p| p.state)
    }

    /// The scenario's current state.
    pub fn scenario_state(&self, scenario: &str) -> Option<ScenarioState> {
        self.scenarios.get(scenario).and_then(|s| s.state)
    }

    /// The container's current (or last stored) state.
    pub fn container_state(&self, container: &str) -> Option<ContainerState> {
        match self.owner.get(container) {
            Some(node) => self
                .nodes
                .get(node)
                .and_then(|l| l.get(container))
                .map(|e| e.state),
            None => self.stored_containers.get(container).copied(),
        }
    }

    /// The scenario that reconcile requests for this package name (the first by name).
    pub fn scenario_for(&self, package: &str) -> Option<&ScenarioName> {
        self.targeted_by.get(package).and_then(|s| s.iter().next())
    }

    /// The package a scenario targets.
    pub fn scenario_target(&self, scenario: &str) -> Option<&PackageName> {
        self.scenarios.get(scenario).and_then(|s| s.target.as_ref())
    }

    /// Why the model has its state: the model-table row that its containers select now.
    /// When the model was set directly, its state may differ from this decision.
    pub fn explain_model(&self, model: &str) -> Option<Decision<ModelState>> {
        self.models
            .get(model)
            .map(|m| evaluate_model(Some(&m.containers)))
    }

    /// Why the package has its state: the package-table row that its models select now.
    pub fn explain_package(&self, package: &str) -> Option<Decision<PackageState>> {
        self.packages
            .get(package)
            .map(|p| evaluate_package(&p.models))
    }

    /// Per-state counts of the model's containers.
    pub fn model_counts(&self, model: &str) -> Option<Counts<ContainerState>> {
        self.models.get(model).map(|m| m.containers)
    }

    /// Per-state counts of the package's models.
    pub fn package_counts(&self, package: &str) -> Option<Counts<ModelState>> {
        self.packages.get(package).map(|p| p.models)
    }

    /// Every model with its state.
    pub fn models(&self) -> impl Iterator<Item = (&ModelName, ModelState)> {
        self.models.iter().map(|(n, m)| (n, m.state))
    }

    /// Every package with its state (`None` before its first evaluation).
    pub fn packages(&self) -> impl Iterator<Item = (&PackageName, Option<PackageState>)> {
        self.packages.iter().map(|(n, p)| (n, p.state))
    }

    /// The models of a package (listed by its artifact or joined by annotation).
    pub fn members(&self, package: &str) -> impl Iterator<Item = &ModelName> {
        self.packages
            .get(package)
            .into_iter()
            .flat_map(|p| p.members.iter())
    }

    /// The models a package artifact lists, if the artifact is known.
    pub fn artifact_models(&self, package: &str) -> Option<&[ModelName]> {
        self.packages.get(package)?.artifact.as_deref()
    }

    /// The packages a model belongs to.
    pub fn packages_of(&self, model: &str) -> impl Iterator<Item = &PackageName> {
        self.models
            .get(model)
            .into_iter()
            .flat_map(|m| m.links.keys())
    }

    /// Every node with its reported containers.
    pub fn nodes(
        &self,
    ) -> impl Iterator<Item = (&NodeName, &HashMap<ContainerName, ContainerEntry>)> {
        self.nodes.iter()
    }

    /// Every scenario with its state and target.
    pub fn scenarios(
        &self,
    ) -> impl Iterator<Item = (&ScenarioName, Option<ScenarioState>, Option<&PackageName>)> {
        self.scenarios
            .iter()
            .map(|(n, s)| (n, s.state, s.target.as_ref()))
    }

    /// Number of reported containers across all nodes.
    pub fn container_count(&self) -> usize {
        self.owner.len()
    }
}

/// The working state of one plan: the fleet, read-only, and an overlay of what changes.
struct Scratch<'f> {
    fleet: &'f Fleet,
    plan: Plan,
    /// New container counts of models whose containers changed.
    counts: HashMap<ModelName, Counts<ContainerState>>,
    /// Directly set model states.
    model_override: HashMap<ModelName, ModelState>,
    /// Models created by this event with no containers.
    created: HashSet<ModelName>,
    /// Net change of each (model, package) link.
    links: HashMap<(ModelName, PackageName), i32>,
    /// Directly set package states.
    package_override: HashMap<PackageName, PackageState>,
    /// Packages whose membership or artifact changed.
    package_touched: HashSet<PackageName>,
    /// New artifact of a package (`Some(None)`: removed).
    artifacts: HashMap<PackageName, Option<Vec<ModelName>>>,
}

impl<'f> Scratch<'f> {
    fn new(fleet: &'f Fleet) -> Self {
        Scratch {
            fleet,
            plan: Plan {
                generation: fleet.generation,
                // An event's ops: a few per changed container, model and package.
                ops: Vec::with_capacity(16),
                ..Plan::default()
            },
            counts: HashMap::new(),
            model_override: HashMap::new(),
            created: HashSet::new(),
            links: HashMap::new(),
            package_override: HashMap::new(),
            package_touched: HashSet::new(),
            artifacts: HashMap::new(),
        }
    }

    fn counts_of(&mut self, model: &ModelName) -> &mut Counts<ContainerState> {
        let fleet = self.fleet;
        self.counts
            .entry(model.clone())
            .or_insert_with(|| fleet.model_counts(model.as_str()).unwrap_or_default())
    }

    fn link(&mut self, model: &ModelName, package: &PackageName, delta: i32) {
        *self
            .links
            .entry((model.clone(), package.clone()))
            .or_insert(0) += delta;
    }

    /// A container leaves (`sign` -1) or joins (+1) the model and package it names.
    fn count(&mut self, e: &ContainerEntry, sign: i32) {
        if let Some(m) = &e.model {
            let c = self.counts_of(m);
            if sign > 0 {
                c.add(e.state);
            } else {
                c.remove(e.state);
            }
        }
    }

    fn annotate(&mut self, e: &ContainerEntry, sign: i32) {
        if let (Some(m), Some(p)) = (&e.model, &e.package) {
            self.link(m, p, sign);
        }
    }

    /// Accounts for a container going from `old` to `new` (either may be absent).
    fn container_moved(&mut self, old: Option<&ContainerEntry>, new: Option<&ContainerEntry>) {
        let same_count =
            matches!((old, new), (Some(o), Some(n)) if o.model == n.model && o.state == n.state);
        let same_link = matches!((old, new), (Some(o), Some(n)) if o.model == n.model && o.package == n.package);
        if !same_count {
            if let Some(o) = old {
                self.count(o, -1);
            }
            if let Some(n) = new {
                self.count(n, 1);
            }
        }
        if !same_link {
            if let Some(o) = old {
                self.annotate(o, -1);
            }
            if let Some(n) = new {
                self.annotate(n, 1);
            }
        }
    }

    fn report(&mut self, node: &NodeName, containers: &[ReportedContainer]) {
        // Only entries that differ from the node's current list cost more than a lookup: an
        // unchanged entry is neither cloned, counted nor committed, so a report costs in
        // proportion to its length plus what changed, whatever the size of the fleet.
        let fleet = self.fleet;
        let empty = HashMap::new();
        let old_list = fleet.nodes.get(node).unwrap_or(&empty);
        // A name listed twice counts once, with its last entry: walk the list backwards.
        let mut listed: HashSet<&ContainerName> = HashSet::with_capacity(containers.len());
        let mut kept = 0;
        // Whether the node's membership (names, models, packages) changes; nodes that lose a
        // container to this one.
        let mut members_changed = false;
        let mut losers: Vec<&NodeName> = Vec::new();
        for c in containers.iter().rev() {
            let name = &c.name;
            if !listed.insert(name) {
                continue;
            }
            if c.model.is_none() {
                self.plan.unassigned.push(name.clone());
            }
            let prev = match old_list.get(name) {
                Some(e) => {
                    kept += 1;
                    if e.state == c.state && e.model == c.model && e.package == c.package {
                        continue;
                    }
                    if e.model != c.model || e.package != c.package {
                        members_changed = true;
                    }
                    Some(e)
                }
                None => {
                    members_changed = true;
                    match fleet.owner.get(name) {
                        Some(other) => {
                            self.plan
                                .ops
                                .push(Op::RemoveFromNode(other.clone(), name.clone()));
                            if !losers.contains(&other) {
                                losers.push(other);
                            }
                            fleet.nodes.get(other).and_then(|l| l.get(name))
                        }
                        None => None,
                    }
                }
            };
            let new = ContainerEntry {
                state: c.state,
                model: c.model.clone(),
                package: c.package.clone(),
            };
            let stored = prev
                .map(|e| e.state)
                .or_else(|| fleet.stored_containers.get(name).copied());
            if stored != Some(new.state) {
                self.plan.container_puts.push((name.clone(), new.state));
            }
            self.container_moved(prev, Some(&new));
            // Also drops the name's stored_containers entry.
            self.plan
                .ops
                .push(Op::PutOnNode(node.clone(), name.clone(), new));
        }
        if kept < old_list.len() {
            members_changed = true;
            for (name, old) in old_list {
                if !listed.contains(name) {
                    self.plan.container_deletes.push(name.clone());
                    self.container_moved(Some(old), None);
                    self.plan
                        .ops
                        .push(Op::RemoveFromNode(node.clone(), name.clone()));
                }
            }
        }
        if members_changed {
            let value = (!listed.is_empty()).then(|| {
                let mut seen: HashSet<&ContainerName> = HashSet::with_capacity(listed.len());
                members::encode(
                    containers
                        .iter()
                        .rev()
                        .filter(|c| seen.insert(&c.name))
                        .map(|c| (&c.name, c.model.as_ref(), c.package.as_ref())),
                )
            });
            self.plan.nodes.push((node.clone(), value));
        }
        for other in losers {
            let Some(list) = fleet.nodes.get(other) else {
                continue;
            };
            let rest: Vec<_> = list
                .iter()
                .filter(|(name, _)| !listed.contains(name))
                .map(|(name, e)| (name, e.model.as_ref(), e.package.as_ref()))
                .collect();
            let value = (!rest.is_empty()).then(|| members::encode(rest));
            self.plan.nodes.push((other.clone(), value));
        }
    }

    fn set_model(&mut self, model: &ModelName, state: ModelState) {
        self.model_override.insert(model.clone(), state);
    }

    fn ensure_package(&mut self, package: &PackageName) {
        if !self.fleet.packages.contains_key(package) {
            self.package_touched.insert(package.clone());
        }
    }

    fn put_package(&mut self, package: &PackageName, models: Option<&Vec<ModelName>>) {
        let fleet = self.fleet;
        let mut new_list: Vec<ModelName> = Vec::new();
        if let Some(models) = models {
            let mut seen = HashSet::new();
            for m in models {
                if seen.insert(m) {
                    new_list.push(m.clone());
                }
            }
        }
        let current = fleet.artifact_models(package.as_str());
        if current == models.map(|_| new_list.as_slice()) {
            return;
        }
        let old: &[ModelName] = current.unwrap_or(&[]);
        let old_set: HashSet<&ModelName> = old.iter().collect();
        {
            let new_set: HashSet<&ModelName> = new_list.iter().collect();
            for m in &old_set {
                if !new_set.contains(m) {
                    self.link(m, package, -1);
                }
            }
            for m in &new_list {
                if !old_set.contains(m) {
                    self.link(m, package, 1);
                    if !fleet.models.contains_key(m) {
                        self.created.insert(m.clone());
                    }
                }
            }
        }
        self.package_touched.insert(package.clone());
        let artifact = models.map(|_| new_list);
        self.artifacts.insert(package.clone(), artifact);
    }

    fn finish(mut self) -> Plan {
        let fleet = self.fleet;
        // 1. Models: new states.
        let mut model_new: HashMap<ModelName, (Option<ModelState>, ModelState)> = HashMap::new();
        let counts = core::mem::take(&mut self.counts);
        for (model, c) in &counts {
            let old = fleet.model_state(model.as_str());
            let new = self
                .model_override
                .get(model)
                .copied()
                .unwrap_or_else(|| evaluate_model(Some(c)).state);
            model_new.insert(model.clone(), (old, new));
            self.plan.ops.push(Op::SetModel(model.clone(), new, *c));
        }
        for (model, state) in &self.model_override {
            if !counts.contains_key(model) {
                let c = fleet.model_counts(model.as_str()).unwrap_or_default();
                model_new.insert(model.clone(), (fleet.model_state(model.as_str()), *state));
                self.plan.ops.push(Op::SetModel(model.clone(), *state, c));
            }
        }
        for model in &self.created {
            if let Entry::Vacant(e) = model_new.entry(model.clone()) {
                let state = evaluate_model(Some(&Counts::default())).state;
                e.insert((None, state));
                self.plan
                    .ops
                    .push(Op::SetModel(model.clone(), state, Counts::default()));
            }
        }
        // 2. Links and membership.
        let mut touched: HashSet<PackageName> = core::mem::take(&mut self.package_touched);
        let mut joined: Vec<(PackageName, ModelName)> = Vec::new();
        let mut left: Vec<(PackageName, ModelName)> = Vec::new();
        for ((model, package), delta) in &self.links {
            if *delta == 0 {
                continue;
            }
            let old = fleet
                .models
                .get(model)
                .and_then(|m| m.links.get(package))
                .copied()
                .unwrap_or(0);
            let new = u32::try_from(i64::from(old) + i64::from(*delta)).unwrap_or(0);
            self.plan
                .ops
                .push(Op::SetLink(model.clone(), package.clone(), new));
            if old == 0 && new > 0 {
                joined.push((package.clone(), model.clone()));
                touched.insert(package.clone());
            } else if old > 0 && new == 0 {
                left.push((package.clone(), model.clone()));
                touched.insert(package.clone());
            }
        }
        // 3. Packages: count deltas from membership and from model state changes.
        let mut pkg_counts: HashMap<PackageName, Counts<ModelState>> = HashMap::new();
        let base = |p: &PackageName| fleet.package_counts(p.as_str()).unwrap_or_default();
        for (package, model) in &left {
            if let Some(s) = fleet.model_state(model.as_str()) {
                pkg_counts
                    .entry(package.clone())
                    .or_insert_with(|| base(package))
                    .remove(s);
            }
            self.plan
                .ops
                .push(Op::Member(package.clone(), model.clone(), false));
        }
        for (package, model) in &joined {
            let s = model_new
                .get(model)
                .map(|(_, new)| *new)
                .or_else(|| fleet.model_state(model.as_str()));
            if let Some(s) = s {
                pkg_counts
                    .entry(package.clone())
                    .or_insert_with(|| base(package))
                    .add(s);
            }
            self.plan
                .ops
                .push(Op::Member(package.clone(), model.clone(), true));
        }
        let joined_set: HashSet<(&PackageName, &ModelName)> =
            joined.iter().map(|(p, m)| (p, m)).collect();
        let left_set: HashSet<(&PackageName, &ModelName)> =
            left.iter().map(|(p, m)| (p, m)).collect();
        for (model, (old, new)) in &model_new {
            if Some(*new) != *old {
                self.plan.models.push(Update {
                    name: model.clone(),
                    old: *old,
                    new: *new,
                });
            }
            let Some(old) = old else { continue };
            if old == new {
                continue;
            }
            // Packages that held the model before and still do.
            for package in fleet.packages_of(model.as_str()) {
                if left_set.contains(&(package, model)) || joined_set.contains(&(package, model)) {
                    continue;
                }
                let c = pkg_counts
                    .entry(package.clone())
                    .or_insert_with(|| base(package));
                c.remove(*old);
                c.add(*new);
                touched.insert(package.clone());
            }
        }
        // 4. Package states; a touched package with no artifact, no members and no direct
        //    state no longer exists.
        let artifacts = core::mem::take(&mut self.artifacts);
        for (package, artifact) in &artifacts {
            self.plan
                .ops
                .push(Op::SetArtifact(package.clone(), artifact.clone()));
        }
        let mut member_delta: HashMap<&PackageName, i64> = HashMap::new();
        for (p, _) in &left {
            *member_delta.entry(p).or_insert(0) -= 1;
        }
        for (p, _) in &joined {
            *member_delta.entry(p).or_insert(0) += 1;
        }
        let overrides = core::mem::take(&mut self.package_override);
        touched.extend(overrides.keys().cloned());
        let mut packages: Vec<PackageName> = touched.into_iter().collect();
        packages.sort();
        let mut dropped = Vec::new();
        for package in packages {
            let has_artifact = match artifacts.get(&package) {
                Some(a) => a.is_some(),
                None => fleet.artifact_models(package.as_str()).is_some(),
            };
            let members = fleet.packages.get(&package).map_or(0, |p| p.members.len());
            let members = i64::try_from(members).unwrap_or(i64::MAX)
                + member_delta.get(&package).copied().unwrap_or(0);
            let old = fleet.package_state(package.as_str());
            if !has_artifact && members <= 0 && !overrides.contains_key(&package) {
                if old.is_some() {
                    self.plan.package_deletes.push(package.clone());
                }
                dropped.push(package);
                continue;
            }
            let c = pkg_counts
                .get(&package)
                .copied()
                .unwrap_or_else(|| base(&package));
            let new = overrides
                .get(&package)
                .copied()
                .unwrap_or_else(|| evaluate_package(&c).state);
            self.plan.ops.push(Op::SetPackage(package.clone(), new, c));
            if old != Some(new) {
                if new == PackageState::Error {
                    self.plan.reconciles.push(Reconcile {
                        package: package.clone(),
                        scenario: fleet.scenario_for(package.as_str()).cloned(),
                    });
                }
                self.plan.packages.push(Update {
                    name: package,
                    old,
                    new,
                });
            }
        }
        for package in dropped {
            self.plan.ops.push(Op::DropPackage(package));
        }
        let mut plan = self.plan;
        plan.models.sort_by(|a, b| a.name.cmp(&b.name));
        plan.container_puts.sort_by(|a, b| a.0.cmp(&b.0));
        plan.container_deletes.sort();
        plan.unassigned.sort();
        plan
    }
}

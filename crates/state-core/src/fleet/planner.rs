//! The working state of one plan: the fleet, read-only, and an overlay of what the event
//! changes. `finish` turns the overlay into a [`Plan`] in named steps: models, links, package
//! counts, packages.

use alloc::vec::Vec;

use hashbrown::{HashMap, HashSet, hash_map::Entry};

use super::{
    ContainerEntry, Fleet,
    op::Op,
    plan::{Event, Plan, Reconcile, Update, Why},
};
use crate::{
    ContainerState, ModelState, PackageState, ScenarioState,
    container::ReportedContainer,
    eval::{evaluate_model, evaluate_package},
    members,
    name::{ContainerName, ModelName, NodeName, PackageName, ScenarioName},
    table::Counts,
};

/// Plans one event against `fleet`, without changing it.
pub(super) fn plan(fleet: &Fleet, event: &Event) -> Plan {
    let mut s = Scratch::new(fleet);
    match event {
        Event::NodeReport { node, containers } => s.report(node, containers),
        Event::SetModel { model, state } => s.set_model(model, *state),
        Event::SetPackage { package, state } => {
            s.ensure_package(package);
            s.package_override.insert(package.clone(), *state);
        }
        Event::SetScenario { scenario, state } => s.set_scenario(scenario, *state, Why::Scenario),
        Event::CompleteScenario { scenario } => {
            s.set_scenario(scenario, ScenarioState::Completed, Why::StepsTaken);
        }
        Event::PutPackage { package, models } => s.put_package(package, Some(models)),
        Event::RemovePackage { package } => s.put_package(package, None),
        Event::PutScenario { scenario, target } => {
            // A package already in Error that no scenario targeted could not be
            // reconciled when it entered Error; its first scenario asks now.
            if let Some(p) = target {
                if fleet.package_state(p.as_str()) == Some(PackageState::Error)
                    && fleet.scenario_for(p.as_str()).is_none()
                {
                    s.plan.changes.reconciles.push(Reconcile {
                        package: p.clone(),
                        scenario: Some(scenario.clone()),
                    });
                }
            }
            s.plan
                .ops
                .push(Op::TargetScenario(scenario.clone(), target.clone()));
        }
        Event::RemoveScenario { scenario } => {
            s.plan.ops.push(Op::ForgetScenario(scenario.clone()));
        }
    }
    s.finish()
}

/// Whether something joins or leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    Join,
    Leave,
}

impl Way {
    fn delta(self) -> i32 {
        match self {
            Way::Join => 1,
            Way::Leave => -1,
        }
    }
}

mod unreferenced;

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

    /// Adds one reason tying `model` to `package`, or removes one.
    fn link(&mut self, model: &ModelName, package: &PackageName, way: Way) {
        *self
            .links
            .entry((model.clone(), package.clone()))
            .or_insert(0) += way.delta();
    }

    /// A container joins or leaves its model's counts.
    fn count(&mut self, e: &ContainerEntry, way: Way) {
        if let Some(m) = &e.model {
            let c = self.counts_of(m);
            match way {
                Way::Join => c.add(e.state),
                Way::Leave => c.remove(e.state),
            }
        }
    }

    /// A container's package annotation joins or leaves its model's links.
    fn annotate(&mut self, e: &ContainerEntry, way: Way) {
        if let (Some(m), Some(p)) = (&e.model, &e.package) {
            self.link(m, p, way);
        }
    }

    /// Accounts for a container going from `old` to `new` (either may be absent).
    fn container_moved(&mut self, old: Option<&ContainerEntry>, new: Option<&ContainerEntry>) {
        let same_count =
            matches!((old, new), (Some(o), Some(n)) if o.model == n.model && o.state == n.state);
        let same_link = matches!((old, new), (Some(o), Some(n)) if o.model == n.model && o.package == n.package);
        if !same_count {
            if let Some(o) = old {
                self.count(o, Way::Leave);
            }
            if let Some(n) = new {
                self.count(n, Way::Join);
            }
        }
        if !same_link {
            if let Some(o) = old {
                self.annotate(o, Way::Leave);
            }
            if let Some(n) = new {
                self.annotate(n, Way::Join);
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
                self.plan.changes.unassigned.push(name.clone());
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
                self.plan
                    .changes
                    .container_puts
                    .push((name.clone(), new.state));
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
                    self.plan.changes.container_deletes.push(name.clone());
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
            self.plan.changes.nodes.push((node.clone(), value));
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
            self.plan.changes.nodes.push((other.clone(), value));
        }
    }

    /// A scenario's new state, unless it is already stored.
    fn set_scenario(&mut self, scenario: &ScenarioName, state: ScenarioState, why: Why) {
        let old = self.fleet.scenario_state(scenario.as_str());
        if old != Some(state) {
            self.plan.changes.scenarios.push(Update {
                name: scenario.clone(),
                old,
                new: state,
                why,
            });
            self.plan
                .ops
                .push(Op::SetScenarioState(scenario.clone(), state));
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
                    self.link(m, package, Way::Leave);
                }
            }
            for m in &new_list {
                if !old_set.contains(m) {
                    self.link(m, package, Way::Join);
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

    /// Turns the overlay into the plan.
    fn finish(mut self) -> Plan {
        let (models, container_counts) = self.settle_models();
        let mut links = self.settle_links();
        let counts = self.package_counts(&models, &mut links);
        self.settle_packages(links, counts);
        self.drop_unreferenced(&container_counts);
        let mut plan = self.plan;
        plan.changes.models.sort_by(|a, b| a.name.cmp(&b.name));
        plan.changes.container_puts.sort_by(|a, b| a.0.cmp(&b.0));
        plan.changes.container_deletes.sort();
        plan.changes.unassigned.sort();
        plan
    }

    /// Step 1: the new state of every model the event touched (re-evaluated from its counts,
    /// set directly, or created by an artifact), before and after.
    #[allow(clippy::type_complexity)]
    fn settle_models(
        &mut self,
    ) -> (
        HashMap<ModelName, (Option<ModelState>, ModelState)>,
        HashMap<ModelName, Counts<ContainerState>>,
    ) {
        let fleet = self.fleet;
        let mut model_new = HashMap::new();
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
        for (model, (old, new)) in &model_new {
            if Some(*new) != *old {
                let why = if self.model_override.contains_key(model) {
                    Why::Direct
                } else {
                    let c = counts.get(model).copied().unwrap_or_default();
                    Why::Row(evaluate_model(Some(&c)).row)
                };
                self.plan.changes.models.push(Update {
                    name: model.clone(),
                    old: *old,
                    new: *new,
                    why,
                });
            }
        }
        (model_new, counts)
    }

    /// Step 2: the new link counts; a link that appears is a model joining a package, one
    /// that disappears a model leaving it.
    fn settle_links(&mut self) -> Membership {
        let fleet = self.fleet;
        let mut m = Membership {
            touched: core::mem::take(&mut self.package_touched),
            joined: Vec::new(),
            left: Vec::new(),
        };
        for ((model, package), delta) in &self.links {
            if *delta == 0 {
                continue;
            }
            let old = fleet
                .models
                .get(model)
                .and_then(|e| e.links.get(package))
                .copied()
                .unwrap_or(0);
            let new = u32::try_from(i64::from(old) + i64::from(*delta)).unwrap_or(0);
            self.plan
                .ops
                .push(Op::SetLink(model.clone(), package.clone(), new));
            if old == 0 && new > 0 {
                m.joined.push((package.clone(), model.clone()));
                m.touched.insert(package.clone());
            } else if old > 0 && new == 0 {
                m.left.push((package.clone(), model.clone()));
                m.touched.insert(package.clone());
            }
        }
        m
    }

    /// Step 3: each affected package's per-state model counts, from the models that joined or
    /// left it and from its models' state changes.
    fn package_counts(
        &mut self,
        models: &HashMap<ModelName, (Option<ModelState>, ModelState)>,
        m: &mut Membership,
    ) -> HashMap<PackageName, Counts<ModelState>> {
        let fleet = self.fleet;
        let mut pkg_counts: HashMap<PackageName, Counts<ModelState>> = HashMap::new();
        let base = |p: &PackageName| fleet.package_counts(p.as_str()).unwrap_or_default();
        for (package, model) in &m.left {
            if let Some(s) = fleet.model_state(model.as_str()) {
                pkg_counts
                    .entry(package.clone())
                    .or_insert_with(|| base(package))
                    .remove(s);
            }
            self.plan
                .ops
                .push(Op::Leave(package.clone(), model.clone()));
        }
        for (package, model) in &m.joined {
            let s = models
                .get(model)
                .map(|(_, new)| *new)
                .or_else(|| fleet.model_state(model.as_str()));
            if let Some(s) = s {
                pkg_counts
                    .entry(package.clone())
                    .or_insert_with(|| base(package))
                    .add(s);
            }
            self.plan.ops.push(Op::Join(package.clone(), model.clone()));
        }
        let moved: HashSet<(&PackageName, &ModelName)> = m
            .joined
            .iter()
            .chain(&m.left)
            .map(|(p, m)| (p, m))
            .collect();
        for (model, (old, new)) in models {
            let Some(old) = old else { continue };
            if old == new {
                continue;
            }
            // Packages that held the model before and still do.
            for package in fleet.packages_of(model.as_str()) {
                if moved.contains(&(package, model)) {
                    continue;
                }
                let c = pkg_counts
                    .entry(package.clone())
                    .or_insert_with(|| base(package));
                c.remove(*old);
                c.add(*new);
                m.touched.insert(package.clone());
            }
        }
        pkg_counts
    }

    /// Step 4: the new state of every touched package, its reconcile if it enters Error; a
    /// package with no artifact, no members and no direct state no longer exists.
    fn settle_packages(
        &mut self,
        m: Membership,
        pkg_counts: HashMap<PackageName, Counts<ModelState>>,
    ) {
        let fleet = self.fleet;
        let artifacts = core::mem::take(&mut self.artifacts);
        for (package, artifact) in &artifacts {
            self.plan
                .ops
                .push(Op::SetArtifact(package.clone(), artifact.clone()));
        }
        let mut member_delta: HashMap<&PackageName, i64> = HashMap::new();
        for (p, _) in &m.left {
            *member_delta.entry(p).or_insert(0) -= 1;
        }
        for (p, _) in &m.joined {
            *member_delta.entry(p).or_insert(0) += 1;
        }
        let overrides = core::mem::take(&mut self.package_override);
        let mut touched = m.touched;
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
                    self.plan.changes.package_deletes.push(package.clone());
                }
                if old == Some(PackageState::Error) {
                    self.plan.changes.removed_in_error.push(package.clone());
                }
                dropped.push(package);
                continue;
            }
            let c = pkg_counts
                .get(&package)
                .copied()
                .unwrap_or_else(|| fleet.package_counts(package.as_str()).unwrap_or_default());
            let (new, why) = match overrides.get(&package) {
                Some(state) => (*state, Why::Direct),
                None => {
                    let d = evaluate_package(&c);
                    (d.state, Why::Row(d.row))
                }
            };
            self.plan.ops.push(Op::SetPackage(package.clone(), new, c));
            if old != Some(new) {
                if new == PackageState::Error {
                    self.plan.changes.reconciles.push(Reconcile {
                        package: package.clone(),
                        scenario: fleet.scenario_for(package.as_str()).cloned(),
                    });
                }
                self.plan.changes.packages.push(Update {
                    name: package,
                    old,
                    new,
                    why,
                });
            }
        }
        for package in dropped {
            self.plan.ops.push(Op::DropPackage(package));
        }
    }
}

/// Which packages an event touches, and which models join or leave which packages.
struct Membership {
    touched: HashSet<PackageName>,
    joined: Vec<(PackageName, ModelName)>,
    left: Vec<(PackageName, ModelName)>,
}

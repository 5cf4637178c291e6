//! Model-based test of the incremental planner: random event sequences on random topologies,
//! run through `Fleet` and through a naive reference that keeps only the raw inputs and
//! re-derives every state from scratch after each event, with the contract's rules written out
//! as plain `if`s (not the core's tables). States and plans must agree after every event.
//!
//! Steps mix events with writes another writer makes to the store (`Fleet::observe`), and a
//! simulated store takes every plan's writes: after each step without a direct update in
//! force, a fleet rebuilt from that store (`Fleet::rebuild`, as a restart or a repair does)
//! must be the same fleet and call for no write.
//!
//! Direct updates (`SetModel`, `SetPackage`) hold until the resource is re-evaluated: a model
//! when the (name, state) set of its containers changes, a package when its artifact, its
//! members or one of its members' states change. The reference keeps each override with a
//! snapshot of those inputs and drops it once they differ.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use state_core::{
    ContainerState, ModelState, PackageState,
    container::ReportedContainer,
    fleet::{Changes, Event, Fleet, Observed, Plan},
    name::{ContainerName, ModelName, NodeName, PackageName, ScenarioName},
    writes::WriteSet,
};

const NODES: usize = 3;
const MODELS: usize = 6;
const PACKAGES: usize = 4;
const SCENARIOS: usize = 3;
const CONTAINERS: usize = 12;

fn node(i: usize) -> NodeName {
    NodeName::new(format!("n{i}")).unwrap()
}
fn model(i: usize) -> ModelName {
    ModelName::new(format!("m{i}")).unwrap()
}
fn package(i: usize) -> PackageName {
    PackageName::new(format!("p{i}")).unwrap()
}
fn scenario(i: usize) -> ScenarioName {
    ScenarioName::new(format!("s{i}")).unwrap()
}
fn container(i: usize) -> ContainerName {
    ContainerName::new(format!("c{i}")).unwrap()
}

fn container_state() -> impl Strategy<Value = ContainerState> {
    prop::sample::select(ContainerState::ALL.to_vec())
}

fn reported() -> impl Strategy<Value = ReportedContainer> {
    (
        0..CONTAINERS,
        container_state(),
        prop::option::weighted(0.9, 0..MODELS),
        prop::option::weighted(0.15, 0..PACKAGES),
    )
        .prop_map(|(c, state, m, p)| ReportedContainer {
            name: container(c),
            state,
            model: m.map(model),
            package: p.map(package),
        })
}

/// A write another writer made to the store, seen by the fleet through [`Fleet::observe`].
#[derive(Clone, Debug)]
enum Outside {
    Container(usize, Option<ContainerState>),
    Model(usize, Option<ModelState>),
    Package(usize, Option<PackageState>),
}

impl Outside {
    fn key_value(&self) -> (String, Option<String>) {
        match self {
            Outside::Container(c, s) => (
                format!("/container/{}/state", container(*c)),
                s.map(|s| s.stored().to_owned()),
            ),
            Outside::Model(m, s) => (
                format!("/model/{}/state", model(*m)),
                s.map(|s| s.stored().to_owned()),
            ),
            Outside::Package(p, s) => (
                format!("/package/{}/state", package(*p)),
                s.map(|s| s.stored().to_owned()),
            ),
        }
    }
}

/// One step of a run: an event the daemon plans, or a write seen in the store.
#[derive(Clone, Debug)]
enum Step {
    Event(Event),
    Outside(Outside),
}

fn outside() -> impl Strategy<Value = Outside> {
    prop_oneof![
        3 => (0..CONTAINERS, prop::option::weighted(0.8, container_state()))
            .prop_map(|(c, s)| Outside::Container(c, s)),
        1 => (0..MODELS, prop::option::of(prop::sample::select(ModelState::ALL.to_vec())))
            .prop_map(|(m, s)| Outside::Model(m, s)),
        1 => (0..PACKAGES, prop::option::of(prop::sample::select(PackageState::ALL.to_vec())))
            .prop_map(|(p, s)| Outside::Package(p, s)),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => event().prop_map(Step::Event),
        1 => outside().prop_map(Step::Outside),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        8 => (0..NODES, prop::collection::vec(reported(), 0..7))
            .prop_map(|(n, containers)| Event::NodeReport { node: node(n), containers }),
        1 => (0..MODELS, prop::sample::select(ModelState::ALL.to_vec()))
            .prop_map(|(m, state)| Event::SetModel { model: model(m), state }),
        1 => (0..PACKAGES, prop::sample::select(PackageState::ALL.to_vec()))
            .prop_map(|(p, state)| Event::SetPackage { package: package(p), state }),
        2 => (0..PACKAGES, prop::collection::vec(0..MODELS, 0..4))
            .prop_map(|(p, ms)| Event::PutPackage {
                package: package(p),
                models: ms.into_iter().map(model).collect(),
            }),
        1 => (0..PACKAGES).prop_map(|p| Event::RemovePackage { package: package(p) }),
        1 => (0..SCENARIOS, prop::option::of(0..PACKAGES))
            .prop_map(|(s, p)| Event::PutScenario { scenario: scenario(s), target: p.map(package) }),
        1 => (0..SCENARIOS).prop_map(|s| Event::RemoveScenario { scenario: scenario(s) }),
    ]
}

type Entry = (ContainerState, Option<ModelName>, Option<PackageName>);

/// The reference: raw inputs only, every state derived from scratch.
#[derive(Default)]
struct Naive {
    nodes: BTreeMap<NodeName, BTreeMap<ContainerName, Entry>>,
    artifacts: BTreeMap<PackageName, Vec<ModelName>>,
    targets: BTreeMap<ScenarioName, Option<PackageName>>,
    known_models: BTreeSet<ModelName>,
    model_override: BTreeMap<ModelName, (ModelState, Vec<(ContainerName, ContainerState)>)>,
    package_override: BTreeMap<PackageName, (PackageState, PackageInputs)>,
    /// Container states another writer stored for containers no node reports.
    stored: BTreeMap<ContainerName, ContainerState>,
}

/// What a package's state depends on.
type PackageInputs = (Option<Vec<ModelName>>, BTreeMap<ModelName, ModelState>);

type Members = BTreeMap<ContainerName, (Option<ModelName>, Option<PackageName>)>;

#[derive(Debug, Default, PartialEq)]
struct Snapshot {
    containers: BTreeMap<ContainerName, ContainerState>,
    /// Each node's containers with their model and package (nodes with none left out).
    members: BTreeMap<NodeName, Members>,
    models: BTreeMap<ModelName, ModelState>,
    packages: BTreeMap<PackageName, PackageState>,
}

fn naive_model(states: &[ContainerState]) -> ModelState {
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

fn naive_package(states: &[ModelState]) -> PackageState {
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
    fn model_inputs(&self, m: &ModelName) -> Vec<(ContainerName, ContainerState)> {
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

    fn members(&self, p: &PackageName) -> BTreeSet<ModelName> {
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

    fn package_names(&self) -> BTreeSet<PackageName> {
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
    fn derive(&mut self) -> Snapshot {
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
    fn apply(&mut self, event: &Event, before: &Snapshot) {
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
            Event::SetScenario { .. } => {}
        }
    }

    /// Applies a write seen in the store: a container's state is an input (a deleted key
    /// takes the container off its node, as a restart would); a model or package state is a
    /// direct update; a deleted model or package key changes nothing, since it is written back.
    fn observe(&mut self, write: &Outside, before: &Snapshot) {
        match write {
            Outside::Container(c, state) => {
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

    fn scenario_for(&self, p: &PackageName) -> Option<ScenarioName> {
        self.targets
            .iter()
            .find(|(_, t)| t.as_ref() == Some(p))
            .map(|(s, _)| s.clone())
    }
}

fn fleet_snapshot(fleet: &Fleet) -> Snapshot {
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

fn diff<K: Ord + Clone, V: PartialEq + Copy>(
    before: &BTreeMap<K, V>,
    after: &BTreeMap<K, V>,
) -> BTreeMap<K, V> {
    after
        .iter()
        .filter(|(k, v)| before.get(k) != Some(v))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

fn check_plan(
    plan: &Changes,
    before: &Snapshot,
    after: &Snapshot,
    naive: &Naive,
    late: Option<(PackageName, ScenarioName)>,
) {
    let puts: BTreeMap<_, _> = plan.container_puts.iter().cloned().collect();
    assert_eq!(
        puts,
        diff(&before.containers, &after.containers),
        "container puts"
    );
    let deletes: BTreeSet<_> = plan.container_deletes.iter().cloned().collect();
    let want: BTreeSet<_> = before
        .containers
        .keys()
        .filter(|c| !after.containers.contains_key(*c))
        .cloned()
        .collect();
    assert_eq!(deletes, want, "container deletes");
    let models: BTreeMap<_, _> = plan
        .models
        .iter()
        .map(|u| (u.name.clone(), u.new))
        .collect();
    assert_eq!(models, diff(&before.models, &after.models), "model changes");
    for u in &plan.models {
        assert_eq!(
            u.old,
            before.models.get(&u.name).copied(),
            "old state of {}",
            u.name
        );
    }
    let packages: BTreeMap<_, _> = plan
        .packages
        .iter()
        .map(|u| (u.name.clone(), u.new))
        .collect();
    assert_eq!(
        packages,
        diff(&before.packages, &after.packages),
        "package changes"
    );
    let deleted: BTreeSet<_> = plan.package_deletes.iter().cloned().collect();
    let want: BTreeSet<_> = before
        .packages
        .keys()
        .filter(|p| !after.packages.contains_key(*p))
        .cloned()
        .collect();
    assert_eq!(deleted, want, "package deletes");
    // Node membership values: exactly the nodes whose members changed, with what they hold.
    let nodes: BTreeMap<NodeName, Option<Members>> = plan
        .nodes
        .iter()
        .map(|(n, v)| {
            let members = v.as_ref().map(|text| {
                state_core::members::decode(text)
                    .expect("membership value decodes")
                    .into_iter()
                    .map(|m| (m.container, (m.model, m.package)))
                    .collect()
            });
            (n.clone(), members)
        })
        .collect();
    assert_eq!(
        nodes.len(),
        plan.nodes.len(),
        "a node listed twice in the plan"
    );
    let want: BTreeMap<NodeName, Option<Members>> = before
        .members
        .keys()
        .chain(after.members.keys())
        .filter(|n| before.members.get(*n) != after.members.get(*n))
        .map(|n| (n.clone(), after.members.get(n).cloned()))
        .collect();
    assert_eq!(nodes, want, "node membership values");
    let reconciles: BTreeMap<_, _> = plan
        .reconciles
        .iter()
        .map(|r| (r.package.clone(), r.scenario.clone()))
        .collect();
    let want: BTreeMap<_, _> = after
        .packages
        .iter()
        .filter(|(p, s)| **s == PackageState::Error && before.packages.get(*p) != Some(s))
        .map(|(p, _)| (p.clone(), naive.scenario_for(p)))
        .chain(late.map(|(p, s)| (p, Some(s))))
        .collect();
    assert_eq!(reconciles, want, "reconciles");
    check_writes(plan, before, after);
}

/// The store writes are exactly the keys whose state (or node membership) changed, spelled out
/// here from the store layout rather than through `state_core::key`.
fn check_writes(plan: &Changes, before: &Snapshot, after: &Snapshot) {
    let got: BTreeMap<String, Option<String>> = WriteSet::of(plan)
        .iter()
        .filter(|w| !w.key.starts_with("/scenario/"))
        .map(|w| {
            let value = if w.key.starts_with("/node/") {
                w.value.as_ref().map(|_| "members".to_owned())
            } else {
                w.value.as_deref().map(str::to_owned)
            };
            (w.key.clone(), value)
        })
        .collect();
    let mut want: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (c, s) in diff(&before.containers, &after.containers) {
        want.insert(format!("/container/{c}/state"), Some(s.stored().to_owned()));
    }
    for c in before
        .containers
        .keys()
        .filter(|c| !after.containers.contains_key(*c))
    {
        want.insert(format!("/container/{c}/state"), None);
    }
    for (m, s) in diff(&before.models, &after.models) {
        want.insert(format!("/model/{m}/state"), Some(s.stored().to_owned()));
    }
    for (p, s) in diff(&before.packages, &after.packages) {
        want.insert(format!("/package/{p}/state"), Some(s.stored().to_owned()));
    }
    for p in before
        .packages
        .keys()
        .filter(|p| !after.packages.contains_key(*p))
    {
        want.insert(format!("/package/{p}/state"), None);
    }
    for n in before.members.keys().chain(after.members.keys()) {
        if before.members.get(n) != after.members.get(n) {
            let value = after.members.contains_key(n).then(|| "members".to_owned());
            want.insert(format!("/node/{n}/containers"), value);
        }
    }
    // Error episodes: the Reconciles (checked against the reference in `check_plan`) open
    // one; leaving Error, or the package going away, closes it.
    for r in &plan.reconciles {
        if let Some(s) = &r.scenario {
            want.insert(
                format!("/reconcile/{}", r.package),
                Some(format!("owed\t{s}")),
            );
        }
    }
    for (p, old) in &before.packages {
        if *old == PackageState::Error && after.packages.get(p) != Some(&PackageState::Error) {
            want.insert(format!("/reconcile/{p}"), None);
        }
    }
    assert_eq!(got, want, "store writes");
}

fn run(steps: &[Step]) {
    let mut store = Store::default();
    let mut fleet = Fleet::new();
    let mut naive = Naive::default();
    let mut before = Snapshot::default();
    for (i, step) in steps.iter().enumerate() {
        let event = match step {
            Step::Event(event) => event,
            Step::Outside(write) => {
                let (key, value) = write.key_value();
                let mut seen = Observed::new();
                assert!(seen.add(&key, value.as_deref()).expect("a valid value"));
                store.write(&key, value.clone());
                for event in fleet.observe(&seen) {
                    let mut plan = fleet.plan(&event);
                    plan.changes.without_stored(&seen);
                    store.apply(&plan.changes);
                    fleet.commit(plan).expect("plan is fresh");
                }
                let back = fleet.written_back(&seen);
                store.apply(&back);
                naive.observe(write, &before);
                before = naive.derive();
                let snap = fleet_snapshot(&fleet);
                assert_eq!(snap, before, "step {i}: {write:?} ({key}): states differ");
                for u in &back.models {
                    assert_eq!(
                        snap.models.get(&u.name),
                        Some(&u.new),
                        "step {i}: written back"
                    );
                }
                check_rebuild(i, &fleet, &naive, &store);
                continue;
            }
        };
        // A scenario that starts targeting a package already in Error, which no scenario
        // targeted, asks for the reconcile that could not be sent before.
        let late = match event {
            Event::PutScenario {
                scenario,
                target: Some(p),
            } if before.packages.get(p) == Some(&PackageState::Error)
                && naive.scenario_for(p).is_none() =>
            {
                Some((p.clone(), scenario.clone()))
            }
            _ => None,
        };
        // Every third event is also committed and undone first: undo must restore the fleet
        // exactly.
        if i % 3 == 0 {
            let before_undo = fleet.clone();
            let undo = fleet
                .commit_undoable(fleet.plan(event))
                .expect("plan is fresh");
            fleet.undo(undo).expect("undo matches the last commit");
            assert!(
                fleet == before_undo,
                "event {i}: undo did not restore the fleet: {event:?}"
            );
        }
        let plan = fleet.plan(event);
        store.apply(&plan.changes);
        fleet.commit_checked(plan, |plan| {
            naive.apply(event, &before);
            let after = naive.derive();
            let context = format!("event {i}: {event:?}");
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                check_plan(&plan.changes, &before, &after, &naive, late.clone())
            }));
            if let Err(e) = result {
                panic!("{context}: plan differs from the reference: {e:?}");
            }
            before = after;
        });
        assert_eq!(
            fleet_snapshot(&fleet),
            before,
            "event {i}: {event:?}: states differ"
        );
        check_rebuild(i, &fleet, &naive, &store);
    }
}

/// What the store holds after the plans so far: every key with its value.
#[derive(Default)]
struct Store(BTreeMap<String, String>);

impl Store {
    fn write(&mut self, key: &str, value: Option<String>) {
        match value {
            Some(v) => self.0.insert(key.to_owned(), v),
            None => self.0.remove(key),
        };
    }

    fn apply(&mut self, changes: &Changes) {
        for w in &WriteSet::of(changes) {
            self.write(&w.key, w.value.as_deref().map(str::to_owned));
        }
    }
}

/// A fleet rebuilt from the store and the artifacts (as a restart or a repair does) is the
/// fleet itself, and calls for no write — unless a direct update is in force, which a rebuild
/// does not keep.
fn check_rebuild(step: usize, fleet: &Fleet, naive: &Naive, store: &Store) {
    if !naive.model_override.is_empty() || !naive.package_override.is_empty() {
        return;
    }
    let mut stored = Observed::new();
    for (key, value) in &store.0 {
        stored.add(key, Some(value)).expect("readable stored value");
    }
    let mut topology: Vec<Event> = naive
        .artifacts
        .iter()
        .map(|(p, models)| Event::PutPackage {
            package: p.clone(),
            models: models.clone(),
        })
        .collect();
    topology.extend(naive.targets.iter().map(|(s, t)| Event::PutScenario {
        scenario: s.clone(),
        target: t.clone(),
    }));
    let (rebuilt, repair) = Fleet::rebuild(&stored, &topology);
    assert_eq!(
        fleet_snapshot(&rebuilt),
        fleet_snapshot(fleet),
        "step {step}: a fleet rebuilt from the store differs"
    );
    assert!(
        repair.writes_nothing(),
        "step {step}: a rebuild of a consistent store writes {repair:?}"
    );
}

trait CommitChecked {
    fn commit_checked(&mut self, plan: Plan, check: impl FnOnce(&Plan));
}

impl CommitChecked for Fleet {
    fn commit_checked(&mut self, plan: Plan, check: impl FnOnce(&Plan)) {
        check(&plan);
        self.commit(plan).expect("plan is fresh");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// 256 sequences of 1 to 59 events: about 7,500 events per run.
    #[test]
    fn incremental_planner_matches_from_scratch_reference(
        steps in prop::collection::vec(step(), 1..60)
    ) {
        run(&steps);
    }
}

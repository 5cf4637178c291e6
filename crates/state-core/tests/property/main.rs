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

mod checks;
mod naive;

use checks::{Store, check_plan, check_rebuild};
use naive::{Naive, Snapshot, fleet_snapshot};
use proptest::prelude::*;
use state_core::{
    ContainerState, ModelState, PackageState,
    container::ReportedContainer,
    fleet::{Event, Fleet, Observed, Plan},
    name::{ContainerName, ModelName, NodeName, PackageName, ScenarioName},
};

pub(crate) const NODES: usize = 3;
pub(crate) const MODELS: usize = 6;
pub(crate) const PACKAGES: usize = 4;
pub(crate) const SCENARIOS: usize = 3;
pub(crate) const CONTAINERS: usize = 12;

pub(crate) fn node(i: usize) -> NodeName {
    NodeName::new(format!("n{i}")).unwrap()
}
pub(crate) fn model(i: usize) -> ModelName {
    ModelName::new(format!("m{i}")).unwrap()
}
pub(crate) fn package(i: usize) -> PackageName {
    PackageName::new(format!("p{i}")).unwrap()
}
pub(crate) fn scenario(i: usize) -> ScenarioName {
    ScenarioName::new(format!("s{i}")).unwrap()
}
pub(crate) fn container(i: usize) -> ContainerName {
    ContainerName::new(format!("c{i}")).unwrap()
}

pub(crate) fn container_state() -> impl Strategy<Value = ContainerState> {
    prop::sample::select(ContainerState::ALL.to_vec())
}

pub(crate) fn reported() -> impl Strategy<Value = ReportedContainer> {
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
pub(crate) enum Outside {
    Container(usize, Option<ContainerState>),
    Model(usize, Option<ModelState>),
    Package(usize, Option<PackageState>),
}

impl Outside {
    pub(crate) fn key_value(&self) -> (String, Option<String>) {
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
pub(crate) enum Step {
    Event(Event),
    Outside(Outside),
}

pub(crate) fn outside() -> impl Strategy<Value = Outside> {
    prop_oneof![
        3 => (0..CONTAINERS, prop::option::weighted(0.8, container_state()))
            .prop_map(|(c, s)| Outside::Container(c, s)),
        1 => (0..MODELS, prop::option::of(prop::sample::select(ModelState::ALL.to_vec())))
            .prop_map(|(m, s)| Outside::Model(m, s)),
        1 => (0..PACKAGES, prop::option::of(prop::sample::select(PackageState::ALL.to_vec())))
            .prop_map(|(p, s)| Outside::Package(p, s)),
    ]
}

pub(crate) fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => event().prop_map(Step::Event),
        1 => outside().prop_map(Step::Outside),
    ]
}

pub(crate) fn event() -> impl Strategy<Value = Event> {
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

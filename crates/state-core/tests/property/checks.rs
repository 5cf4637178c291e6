//! What each step is checked for: the plan against the reference, the store writes against
//! the keys whose values changed, and a fleet rebuilt from the simulated store.

use std::collections::{BTreeMap, BTreeSet};

use crate::naive::{Members, Naive, Snapshot, diff, fleet_snapshot};
use state_core::{
    PackageState,
    fleet::{Changes, Event, Fleet, Observed},
    name::{NodeName, PackageName, ScenarioName},
    writes::WriteSet,
};

pub(crate) fn check_plan(
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
    let model_deletes: BTreeSet<_> = plan.model_deletes.iter().cloned().collect();
    let gone: BTreeSet<_> = before
        .models
        .keys()
        .filter(|m| !after.models.contains_key(*m))
        .cloned()
        .collect();
    assert_eq!(model_deletes, gone, "model deletes");
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
pub(crate) fn check_writes(plan: &Changes, before: &Snapshot, after: &Snapshot) {
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
    for m in before
        .models
        .keys()
        .filter(|m| !after.models.contains_key(*m))
    {
        want.insert(format!("/model/{m}/state"), None);
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

/// What the store holds after the plans so far: every key with its value.
#[derive(Default)]
pub(crate) struct Store(BTreeMap<String, String>);

impl Store {
    pub(crate) fn write(&mut self, key: &str, value: Option<String>) {
        match value {
            Some(v) => self.0.insert(key.to_owned(), v),
            None => self.0.remove(key),
        };
    }

    pub(crate) fn apply(&mut self, changes: &Changes) {
        for w in &WriteSet::of(changes) {
            self.write(&w.key, w.value.as_deref().map(str::to_owned));
        }
    }
}

/// A fleet rebuilt from the store and the artifacts (as a restart or a repair does) is the
/// fleet itself, and calls for no write — unless a direct update is in force, which a rebuild
/// does not keep.
pub(crate) fn check_rebuild(step: usize, fleet: &Fleet, naive: &Naive, store: &Store) {
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
    let (rebuilt, repair) = Fleet::rebuild(stored, &topology);
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

//! The three implementations the benchmarks compare must compute the same states from the same
//! inputs, wherever the seed's rules agree with the contract's (see `reference` for where they do
//! not): otherwise a speed-up could come from doing less.

use std::collections::BTreeMap;

use state_benches::{
    reference::{self, Reference},
    report_parts,
    scratch::FromScratch,
    shape::{NodeList, Podman, Shape},
};
use state_core::{
    ContainerState, ModelState, PackageState,
    container::container_state,
    fleet::{Changes, Fleet},
};

/// A small deterministic generator (xorshift64*), so the test needs no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Container states both rule sets read the same way from a `Status` alone.
const STATES: &[ContainerState] = &[
    ContainerState::Running,
    ContainerState::Paused,
    ContainerState::Exited,
    ContainerState::Dead,
    ContainerState::Created,
    ContainerState::Initialized,
    ContainerState::Unknown,
];

/// A random new list for node `n`: random states, and some containers gone, but never the
/// first of each model, so no model is left without containers (where the seed says Paused
/// and the contract says Created).
fn random_list(shape: &Shape, n: usize, rng: &mut Rng) -> NodeList {
    let mut list = shape.node_list(n);
    list.containers
        .retain(|(name, _)| name.ends_with("_c0") || rng.below(4) != 0);
    for (_, state) in &mut list.containers {
        // Mostly one or two states per event, as in a real fleet; sometimes anything.
        *state = match rng.below(3) {
            0 => STATES[rng.below(STATES.len())],
            _ => [ContainerState::Running, ContainerState::Dead][rng.below(2)],
        };
    }
    list
}

fn ours_models(fleet: &Fleet) -> BTreeMap<String, ModelState> {
    fleet.models().map(|(n, s)| (n.to_string(), s)).collect()
}

fn ours_packages(fleet: &Fleet) -> BTreeMap<String, PackageState> {
    fleet
        .packages()
        .filter_map(|(n, s)| Some((n.to_string(), s?)))
        .collect()
}

fn sorted<K: ToString, V: Copy>(items: impl IntoIterator<Item = (K, V)>) -> BTreeMap<String, V> {
    items.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn plan_changes(plan: &Changes) -> (BTreeMap<String, ModelState>, BTreeMap<String, PackageState>) {
    (
        sorted(plan.models.iter().map(|u| (&u.name, u.new))),
        sorted(plan.packages.iter().map(|u| (&u.name, u.new))),
    )
}

fn check_same_states(fleet: &Fleet, r: &Reference, s: &FromScratch) {
    let models = ours_models(fleet);
    let packages = ours_packages(fleet);
    assert_eq!(models, sorted(r.models().iter().map(|(k, v)| (k, *v))));
    assert_eq!(packages, sorted(r.packages().iter().map(|(k, v)| (k, *v))));
    assert_eq!(models, sorted(s.models().iter().map(|(k, v)| (k, *v))));
    assert_eq!(packages, sorted(s.packages().iter().map(|(k, v)| (k, *v))));
}

#[test]
fn steady_state_is_the_same_in_all_three() {
    for total in [100, 1_000] {
        let shape = Shape::with_containers(total);
        let fleet = state_benches::fleet(&shape);
        check_same_states(
            &fleet,
            &state_benches::reference(&shape),
            &state_benches::from_scratch(&shape),
        );
        assert!(
            ours_models(&fleet)
                .values()
                .all(|s| *s == ModelState::Running)
        );
        assert!(
            ours_packages(&fleet)
                .values()
                .all(|s| *s == PackageState::Running)
        );
    }
}

#[test]
fn random_reports_change_the_same_states_in_all_three() {
    let shape = Shape::with_containers(250);
    let mut fleet = state_benches::fleet(&shape);
    let mut r = state_benches::reference(&shape);
    let mut s = state_benches::from_scratch(&shape);
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut model_changes, mut package_changes) = (0, 0);
    for step in 0..400 {
        let list = random_list(&shape, rng.below(shape.nodes()), &mut rng);
        let event = list.to_event();
        let plan = fleet.apply_event(&event);
        let (models, packages) = plan_changes(&plan);
        model_changes += models.len();
        package_changes += packages.len();

        let out = r.handle_report(&list.node, &list.to_reference());
        assert_eq!(models, sorted(out.models), "reference models, step {step}");
        assert_eq!(
            packages,
            sorted(out.packages),
            "reference packages, step {step}"
        );
        let mut puts: Vec<String> = plan
            .container_puts
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        puts.sort();
        let mut ref_puts = out.container_puts;
        ref_puts.sort();
        assert_eq!(puts, ref_puts, "container puts, step {step}");

        let (node, containers) = report_parts(&event).unwrap();
        let changes = s.report(node, containers);
        assert_eq!(
            models,
            sorted(changes.models),
            "from-scratch models, step {step}"
        );
        assert_eq!(
            packages,
            sorted(changes.packages),
            "from-scratch packages, step {step}"
        );

        check_same_states(&fleet, &r, &s);
    }
    // The events did cascade: the comparison above was not of empty plans.
    assert!(model_changes > 400, "{model_changes} model changes");
    assert!(package_changes > 200, "{package_changes} package changes");
}

#[test]
fn die_and_recover_events_cascade_to_model_and_package() {
    let shape = Shape::with_containers(10_000);
    let mut fleet = state_benches::fleet(&shape);
    let mut r = state_benches::reference(&shape);
    let events = shape.die_and_recover(2);
    let expected = [
        (ModelState::Dead, PackageState::Degraded),
        (ModelState::Running, PackageState::Running),
    ];
    for (list, (model, package)) in events.iter().zip(expected.iter().cycle()) {
        let plan = fleet.apply_event(&list.to_event());
        let out = r.handle_report(&list.node, &list.to_reference());
        let (models, packages) = plan_changes(&plan);
        assert_eq!(models.values().copied().collect::<Vec<_>>(), [*model]);
        assert_eq!(packages.values().copied().collect::<Vec<_>>(), [*package]);
        assert_eq!(
            (models, packages),
            (sorted(out.models), sorted(out.packages))
        );
    }
}

#[test]
fn container_state_parsers_agree_where_the_rules_do() {
    for status in [
        "running",
        "paused",
        "created",
        "initialized",
        "exited",
        "dead",
        "unknown",
    ] {
        for spelling in [status.to_string(), status.to_uppercase()] {
            let podman = Podman::with_status(&spelling);
            let ours = container_state(&podman.btree()).state;
            assert_eq!(
                ours.short(),
                reference::container_state(&podman.hash()),
                "{spelling}"
            );
        }
    }
}

#[test]
fn container_state_parsers_differ_where_the_seed_ignores_flags_and_exit_codes() {
    let oom = Podman::with_status("running").set("OOMKilled", "true");
    assert_eq!(container_state(&oom.btree()).state, ContainerState::Dead);
    assert_eq!(reference::container_state(&oom.hash()), "running");

    let crashed = Podman::with_status("exited").set("ExitCode", "137");
    assert_eq!(
        container_state(&crashed.btree()).state,
        ContainerState::Dead
    );
    assert_eq!(reference::container_state(&crashed.hash()), "exited");
}

#[test]
fn seed_rules_differ_from_the_spec_on_empty_lists() {
    assert_eq!(
        reference::evaluate_model_state_from_containers(&Default::default()),
        ModelState::Paused
    );
    assert_eq!(
        state_core::eval::evaluate_model(Some(&Default::default())).state,
        ModelState::Created
    );
    assert_eq!(
        reference::evaluate_package_state_from_models(&Default::default()),
        PackageState::Paused
    );
    assert_eq!(
        state_core::eval::evaluate_package(&Default::default()).state,
        PackageState::Idle
    );
}

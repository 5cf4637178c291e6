//! Criterion benchmarks of the evaluation hot path, each against the seed design's reference
//! approach (`state_benches::reference`) on the same inputs.
//!
//! Groups and ids (the directories under `target/criterion/` that `cargo xtask bench` reads):
//!
//! - `parse/container_state/{ours,reference}`: one container's state from its podman map.
//! - `parse/classify/{ours,reference}`: one `ContainerInfo` entry: name, model and state.
//! - `model_eval/{ours,ours_count,reference}/{n}`: one model of `n` containers. `ours` is the
//!   table on the per-state counts the planner keeps; `ours_count` counts the states first.
//! - `package_eval/{ours,ours_count,reference}/{n}`: the same for one package of `n` models.
//! - `cascade/{plan,plan_commit,from_scratch,reference}/{containers}`: one NodeAgent report in
//!   which one container changes state, cascading to its model and package, in a fleet of that
//!   many containers. `plan` is `Fleet::plan` alone; `plan_commit` plans and commits;
//!   `from_scratch` re-evaluates every model and package with state-core's tables; `reference`
//!   is the seed's approach.

use std::{collections::BTreeMap, hint::black_box};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use state_benches::{
    reference, report_parts,
    shape::{NodeList, Podman, Shape},
};
use state_core::{
    ContainerState, ModelState,
    container::{Limits, RawContainer, container_state},
    eval::{evaluate_model, evaluate_package},
    table::Counts,
};

/// Fleet sizes, in containers.
const FLEETS: &[usize] = &[100, 10_000, 100_000];
/// Events per rotation: different nodes, so one event's data is not all in cache for the next.
const EVENT_PAIRS: usize = 64;

/// A mix of podman maps, cycled through so branch prediction cannot learn one answer.
fn podman_mix() -> Vec<Podman> {
    let mut mix: Vec<Podman> = ["running", "running", "running", "paused", "created"]
        .into_iter()
        .map(Podman::with_status)
        .collect();
    mix.push(Podman::with_status("exited"));
    mix.push(Podman::with_status("exited").set("ExitCode", "137"));
    mix.push(Podman::with_status("running").set("OOMKilled", "true"));
    mix
}

fn parse(c: &mut Criterion) {
    let mix = podman_mix();
    let btrees: Vec<BTreeMap<String, String>> = mix.iter().map(Podman::btree).collect();
    let hashes: Vec<_> = mix.iter().map(Podman::hash).collect();
    let names: Vec<[String; 1]> = (0..mix.len())
        .map(|i| [format!("/m{i}_container{i}")])
        .collect();
    let empty = BTreeMap::new();
    let limits = Limits::default();

    let mut g = c.benchmark_group("parse");
    let mut i = 0;
    g.bench_function(BenchmarkId::new("container_state", "ours"), |b| {
        b.iter(|| {
            i = (i + 1) % btrees.len();
            container_state(black_box(&btrees[i])).state
        })
    });
    g.bench_function(BenchmarkId::new("container_state", "reference"), |b| {
        b.iter(|| {
            i = (i + 1) % hashes.len();
            reference::container_state(black_box(&hashes[i]))
        })
    });
    g.bench_function(BenchmarkId::new("classify", "ours"), |b| {
        b.iter(|| {
            i = (i + 1) % btrees.len();
            let raw = RawContainer {
                id: "",
                names: black_box(&names[i]),
                state: black_box(&btrees[i]),
                config: &empty,
                annotation: &empty,
            };
            raw.classify(&limits)
        })
    });
    g.bench_function(BenchmarkId::new("classify", "reference"), |b| {
        b.iter(|| {
            i = (i + 1) % hashes.len();
            reference::classify(black_box(&names[i]), black_box(&hashes[i]))
        })
    });
    g.finish();
}

fn model_eval(c: &mut Criterion) {
    let mut g = c.benchmark_group("model_eval");
    for n in [5, 500] {
        // All running: the reference's "all paused" and "all exited" checks stop at once, its
        // "any dead" check scans the whole map, and the table answers from its last row.
        let states = vec![ContainerState::Running; n];
        let counts = Counts::from_states(states.iter().copied());
        let strings: std::collections::HashMap<String, String> = states
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("m_c{i}"), s.short().to_string()))
            .collect();
        g.bench_with_input(BenchmarkId::new("ours", n), &counts, |b, counts| {
            b.iter(|| evaluate_model(Some(black_box(counts))).state)
        });
        g.bench_with_input(BenchmarkId::new("ours_count", n), &states, |b, states| {
            b.iter(|| {
                let counts = Counts::from_states(black_box(states).iter().copied());
                evaluate_model(Some(&counts)).state
            })
        });
        g.bench_with_input(BenchmarkId::new("reference", n), &strings, |b, strings| {
            b.iter(|| reference::evaluate_model_state_from_containers(black_box(strings)))
        });
    }
    g.finish();
}

fn package_eval(c: &mut Criterion) {
    let mut g = c.benchmark_group("package_eval");
    for n in [5, 500] {
        // All running, as above: the reference counts the dead models over the whole map.
        let states = vec![ModelState::Running; n];
        let counts = Counts::from_states(states.iter().copied());
        let map: std::collections::HashMap<String, ModelState> = states
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("m{i}"), *s))
            .collect();
        g.bench_with_input(BenchmarkId::new("ours", n), &counts, |b, counts| {
            b.iter(|| evaluate_package(black_box(counts)).state)
        });
        g.bench_with_input(BenchmarkId::new("ours_count", n), &states, |b, states| {
            b.iter(|| {
                let counts = Counts::from_states(black_box(states).iter().copied());
                evaluate_package(&counts).state
            })
        });
        g.bench_with_input(BenchmarkId::new("reference", n), &map, |b, map| {
            b.iter(|| reference::evaluate_package_state_from_models(black_box(map)))
        });
    }
    g.finish();
}

fn cascade(c: &mut Criterion) {
    let mut g = c.benchmark_group("cascade");
    for &total in FLEETS {
        let shape = Shape::with_containers(total);
        let lists: Vec<NodeList> = shape.die_and_recover(EVENT_PAIRS);
        let events: Vec<_> = lists.iter().map(NodeList::to_event).collect();
        let ref_events: Vec<_> = lists
            .iter()
            .map(|l| (l.node.clone(), l.to_reference()))
            .collect();

        // Planning alone leaves the fleet as it is, so only the "dies" events are planned:
        // the "recovers" ones would change nothing against the steady state.
        let mut fleet = state_benches::fleet(&shape);
        let dies: Vec<_> = events.iter().step_by(2).collect();
        // Criterion's default sample count for the microsecond benchmarks: their medians are
        // what the goals are judged on, on cores shared with builds.
        g.sample_size(100);
        let mut i = 0;
        g.bench_function(BenchmarkId::new("plan", total), |b| {
            b.iter(|| {
                let event = dies[i % dies.len()];
                i += 1;
                fleet.plan(black_box(event))
            })
        });

        // The others change their state: events run in order, a pair at a time, so the fleet
        // is back at its steady state after every second event.
        let mut i = 0;
        g.bench_function(BenchmarkId::new("plan_commit", total), |b| {
            b.iter(|| {
                let event = &events[i % events.len()];
                i += 1;
                fleet.apply_event(black_box(event))
            })
        });
        drop(fleet);

        // The baselines take up to milliseconds per event: fewer, longer samples.
        g.sample_size(20);
        let mut scratch = state_benches::from_scratch(&shape);
        let mut i = 0;
        g.bench_function(BenchmarkId::new("from_scratch", total), |b| {
            b.iter(|| {
                let event = &events[i % events.len()];
                i += 1;
                let (node, containers) = report_parts(event).expect("a node report");
                scratch.report(black_box(node), black_box(containers))
            })
        });
        drop(scratch);

        let mut r = state_benches::reference(&shape);
        let mut i = 0;
        g.bench_function(BenchmarkId::new("reference", total), |b| {
            b.iter(|| {
                let (node, list) = &ref_events[i % ref_events.len()];
                i += 1;
                r.handle_report(black_box(node), black_box(list))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, parse, model_eval, package_eval, cascade);
criterion_main!(benches);

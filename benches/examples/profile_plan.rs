//! Plans (and optionally commits) the benchmark's cascade events in a loop, for a profiler:
//! `valgrind --tool=callgrind target/release/examples/profile_plan 10000 commit`.
//! Arguments: fleet size in containers (default 10000), `plan` or `commit` (default `plan`),
//! number of events (default 20000).

use std::hint::black_box;

use state_benches::shape::{NodeList, Shape};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let total = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let commit = args.get(1).is_some_and(|a| a == "commit");
    let count: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let shape = Shape::with_containers(total);
    let events: Vec<_> = shape
        .die_and_recover(64)
        .iter()
        .map(NodeList::to_event)
        .collect();
    let mut fleet = state_benches::fleet(&shape);
    for i in 0..count {
        if commit {
            black_box(fleet.apply_event(&events[i % events.len()]));
        } else {
            black_box(fleet.plan(&events[(2 * i) % events.len()]));
        }
    }
}

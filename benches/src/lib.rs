//! What the benchmarks in `benches/core.rs` measure, as plain code that tests can check.
//!
//! - [`shape`]: synthetic fleets and events, the same for every implementation.
//! - [`reference`]: the baseline, the seed design's section 7 approach (string states,
//!   everything re-evaluated by scanning on every event).
//! - [`scratch`]: from-scratch evaluation with state-core's own tables, to separate what the
//!   incremental planner saves from what typed states save.
//! - [`fleet`]: the simulated NodeAgents of the fleet-scale runs (`src/bin/fleetgen/`), and
//!   [`etcd_metrics`]: what etcd says it did, for both load generators.
//!
//! `cargo xtask bench` runs the benchmarks and summarises them; `benches/README.md` says how to
//! read the summary.

pub mod etcd_metrics;
pub mod fleet;
pub mod reference;
pub mod scratch;
pub mod shape;

use state_core::{
    fleet::{Event, Fleet},
    name::{ModelName, NodeName, PackageName},
};

use crate::{reference::Reference, scratch::FromScratch, shape::Shape};

/// State-core's planner with the shape's artifacts and steady state committed.
pub fn fleet(shape: &Shape) -> Fleet {
    let mut fleet = Fleet::new();
    for event in shape::put_packages(&shape.artifacts()) {
        fleet.apply_event(&event);
    }
    for list in shape.steady_state() {
        fleet.apply_event(&list.to_event());
    }
    fleet
}

/// The reference with the shape's artifacts and steady state stored and evaluated.
pub fn reference(shape: &Shape) -> Reference {
    let mut r = Reference::new(&shape.artifacts());
    for list in shape.steady_state() {
        r.load(&list.node, &list.to_reference());
    }
    r.evaluate_all();
    r
}

/// From-scratch evaluation with the shape's artifacts and steady state loaded and evaluated.
pub fn from_scratch(shape: &Shape) -> FromScratch {
    let artifacts = shape
        .artifacts()
        .into_iter()
        .map(|(p, models)| {
            (
                PackageName::new(p).expect("synthetic package names are valid"),
                models
                    .into_iter()
                    .map(|m| ModelName::new(m).expect("synthetic model names are valid"))
                    .collect(),
            )
        })
        .collect();
    let mut s = FromScratch::new(artifacts);
    for list in shape.steady_state() {
        if let Event::NodeReport { node, containers } = list.to_event() {
            s.load(&node, &containers);
        }
    }
    s.evaluate();
    s
}

/// A node report's parts, for [`FromScratch::report`].
pub fn report_parts(
    event: &Event,
) -> Option<(&NodeName, &[state_core::container::ReportedContainer])> {
    match event {
        Event::NodeReport { node, containers } => Some((node, containers)),
        _ => None,
    }
}

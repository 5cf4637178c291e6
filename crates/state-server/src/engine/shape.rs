//! The fleet's shape for the explorer attached to a daemon (`/v1/fleet`): which models each
//! package lists, each scenario's target and state, each node's containers, and the states the
//! fleet holds, in the explorer's own spellings (state-core's short names).

use std::collections::BTreeMap;

use serde::Serialize;
use state_core::fleet::Fleet;

/// A scenario: its target package and state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ScenarioShape {
    pub target: Option<String>,
    pub state: Option<&'static str>,
}

/// A package: the models it lists (its artifact's, or those that joined it by annotation).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PackageShape {
    pub models: Vec<String>,
}

/// A container as reported: its state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ContainerShape {
    pub state: &'static str,
}

/// The whole fleet, sorted by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Shape {
    pub packages: BTreeMap<String, PackageShape>,
    pub scenarios: BTreeMap<String, ScenarioShape>,
    pub nodes: BTreeMap<String, BTreeMap<String, ContainerShape>>,
    pub models: BTreeMap<String, &'static str>,
    pub package_states: BTreeMap<String, &'static str>,
}

/// The shape of `fleet`.
pub(super) fn of(fleet: &Fleet) -> Shape {
    let mut shape = Shape::default();
    for (name, state) in fleet.packages() {
        let models = match fleet.artifact_models(name.as_str()) {
            Some(models) => models.iter().map(ToString::to_string).collect(),
            None => fleet
                .members(name.as_str())
                .map(ToString::to_string)
                .collect(),
        };
        shape
            .packages
            .insert(name.to_string(), PackageShape { models });
        if let Some(state) = state {
            shape.package_states.insert(name.to_string(), state.short());
        }
    }
    for (name, state, target) in fleet.scenarios() {
        let s = ScenarioShape {
            target: target.map(ToString::to_string),
            state: state.map(|s| s.short()),
        };
        shape.scenarios.insert(name.to_string(), s);
    }
    for (node, containers) in fleet.nodes() {
        let list = containers
            .iter()
            .map(|(name, entry)| {
                let c = ContainerShape {
                    state: entry.state.short(),
                };
                (name.to_string(), c)
            })
            .collect();
        shape.nodes.insert(node.to_string(), list);
    }
    for (name, state) in fleet.models() {
        shape.models.insert(name.to_string(), state.short());
    }
    shape
}

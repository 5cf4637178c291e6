//! Synthetic fleets and events, the same for every implementation under test.
//!
//! A fleet has `packages` packages of `models_per_package` models of `containers_per_model`
//! containers. Each node runs `models_per_node` models, and a package's models are spread over
//! several nodes (model `m` runs on node `m % nodes`).
//!
//! A NodeAgent report carries its node's full container list (`docs/contract.md#actors`), so planning one report
//! costs at least a look at every container of that node. The shapes here therefore keep the
//! node size fixed (25 containers) and grow the fleet by adding nodes: the per-event cost should
//! then depend on the node, not on the fleet.

use std::collections::{BTreeMap, HashMap};

use state_core::{
    ContainerState,
    container::{Limits, RawContainer, ReportedContainer},
    fleet::Event,
    name::{ModelName, NodeName, PackageName},
};

/// The dimensions of a synthetic fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Number of packages.
    pub packages: usize,
    /// Models per package (each model belongs to exactly one package).
    pub models_per_package: usize,
    pub containers_per_model: usize,
    /// Models per node.
    pub models_per_node: usize,
}

impl Shape {
    /// The benchmark shape with about `total` containers: packages of 5 models of 5 containers,
    /// 5 models (25 containers) per node.
    pub fn with_containers(total: usize) -> Shape {
        let per_package = 25;
        Shape {
            packages: total.div_ceil(per_package).max(1),
            models_per_package: 5,
            containers_per_model: 5,
            models_per_node: 5,
        }
    }

    /// Number of models.
    pub fn models(&self) -> usize {
        self.packages * self.models_per_package
    }

    /// Number of containers.
    pub fn containers(&self) -> usize {
        self.models() * self.containers_per_model
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.models().div_ceil(self.models_per_node).max(1)
    }

    /// The models running on node `n`.
    pub fn models_on(&self, n: usize) -> impl Iterator<Item = usize> + use<> {
        (n..self.models()).step_by(self.nodes())
    }

    /// The models of package `p`.
    pub fn models_of(&self, p: usize) -> impl Iterator<Item = usize> + use<> {
        let per = self.models_per_package;
        p * per..(p + 1) * per
    }

    /// The node running model `m`.
    pub fn node_of(&self, m: usize) -> usize {
        m % self.nodes()
    }

    /// Every package with the models its artifact lists, as names.
    pub fn artifacts(&self) -> Vec<(String, Vec<String>)> {
        (0..self.packages)
            .map(|p| (package_name(p), self.models_of(p).map(model_name).collect()))
            .collect()
    }

    /// The full container list of node `n`, every container running.
    pub fn node_list(&self, n: usize) -> NodeList {
        let containers = self
            .models_on(n)
            .flat_map(|m| {
                (0..self.containers_per_model)
                    .map(move |c| (container_name(m, c), ContainerState::Running))
            })
            .collect();
        NodeList {
            node: node_name(n),
            containers,
        }
    }

    /// The fleet's steady state: every node's list, every container running.
    pub fn steady_state(&self) -> Vec<NodeList> {
        (0..self.nodes()).map(|n| self.node_list(n)).collect()
    }

    /// `count` pairs of events on nodes spread over the fleet: in the first of each pair one
    /// container of the node dies (its model becomes Dead, its package Degraded), in the second
    /// it runs again. Applying a whole pair returns the fleet to its steady state.
    pub fn die_and_recover(&self, count: usize) -> Vec<NodeList> {
        let nodes = self.nodes();
        let mut events = Vec::with_capacity(2 * count);
        for i in 0..count {
            // Spread the nodes over the fleet so consecutive events touch different memory.
            let n = (i * 7919) % nodes;
            let mut list = self.node_list(n);
            let victim = i % list.containers.len();
            list.containers[victim].1 = ContainerState::Dead;
            events.push(list);
            events.push(self.node_list(n));
        }
        events
    }
}

/// `m{m}`
pub fn model_name(m: usize) -> String {
    format!("m{m}")
}

/// `p{p}`
pub fn package_name(p: usize) -> String {
    format!("p{p}")
}

/// `node{n}`
pub fn node_name(n: usize) -> String {
    format!("node{n}")
}

/// `m{m}_c{c}`: the NodeAgent naming, `{model}_{container}`.
pub fn container_name(m: usize, c: usize) -> String {
    format!("m{m}_c{c}")
}

/// One node's report in a neutral form: container names and states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeList {
    pub node: String,
    pub containers: Vec<(String, ContainerState)>,
}

impl NodeList {
    /// The podman `state` maps the NodeAgent would send for this list.
    pub fn podman(&self) -> Vec<(String, Podman)> {
        self.containers
            .iter()
            .map(|(name, state)| (name.clone(), Podman::with_status(state.short())))
            .collect()
    }

    /// The report as state-core takes it, each entry through [`RawContainer::classify`].
    pub fn to_event(&self) -> Event {
        let empty = BTreeMap::new();
        let containers = self
            .podman()
            .into_iter()
            .map(|(name, podman)| {
                let state = podman.btree();
                let names = [name];
                let raw = RawContainer {
                    id: "",
                    names: &names,
                    state: &state,
                    config: &empty,
                    annotation: &empty,
                };
                raw.classify(&Limits::default())
                    .expect("synthetic containers are valid")
            })
            .collect::<Vec<ReportedContainer>>();
        Event::NodeReport {
            node: NodeName::new(self.node.as_str()).expect("synthetic node names are valid"),
            containers,
        }
    }

    /// The report as the reference takes it: names and state strings, each state through the
    /// reference's own parser.
    pub fn to_reference(&self) -> Vec<(String, String)> {
        self.podman()
            .into_iter()
            .map(|(name, podman)| (name, crate::reference::container_state(&podman.hash())))
            .collect()
    }
}

/// A podman inspect `state` map, as a list of fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Podman(pub Vec<(&'static str, String)>);

impl Podman {
    /// The fields podman reports for a container with this `Status`.
    pub fn with_status(status: &str) -> Podman {
        let running = status == "running";
        let flag = |b: bool| if b { "true" } else { "false" }.to_string();
        Podman(vec![
            ("Status", status.to_string()),
            ("Running", flag(running)),
            ("Paused", flag(status == "paused")),
            ("Restarting", flag(false)),
            ("OOMKilled", flag(false)),
            ("Dead", flag(false)),
            ("Pid", if running { "4242" } else { "0" }.to_string()),
            ("ExitCode", "0".to_string()),
            ("Error", String::new()),
            ("StartedAt", "2026-11-27T06:00:00.000000000Z".to_string()),
            ("FinishedAt", "0001-01-01T00:00:00Z".to_string()),
        ])
    }

    /// Replaces or adds a field.
    pub fn set(mut self, key: &'static str, value: &str) -> Podman {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value.to_string(),
            None => self.0.push((key, value.to_string())),
        }
        self
    }

    /// As state-core reads it.
    pub fn btree(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    /// As the reference reads it (and as prost decodes a protobuf map by default).
    pub fn hash(&self) -> HashMap<String, String> {
        self.0
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }
}

/// Package artifacts as state-core events.
pub fn put_packages(artifacts: &[(String, Vec<String>)]) -> Vec<Event> {
    artifacts
        .iter()
        .map(|(p, models)| Event::PutPackage {
            package: PackageName::new(p.as_str()).expect("synthetic package names are valid"),
            models: models
                .iter()
                .map(|m| ModelName::new(m.as_str()).expect("synthetic model names are valid"))
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_have_the_sizes_the_benches_name() {
        for (total, nodes) in [(100, 4), (10_000, 400), (100_000, 4_000)] {
            let shape = Shape::with_containers(total);
            assert_eq!(shape.containers(), total);
            assert_eq!(shape.nodes(), nodes);
            let lists = shape.steady_state();
            assert!(lists.iter().all(|l| l.containers.len() == 25));
            let listed: usize = lists.iter().map(|l| l.containers.len()).sum();
            assert_eq!(listed, total);
        }
    }

    #[test]
    fn packages_span_several_nodes() {
        let shape = Shape::with_containers(100);
        let nodes: std::collections::BTreeSet<usize> =
            shape.models_of(0).map(|m| shape.node_of(m)).collect();
        assert!(nodes.len() > 1);
    }

    #[test]
    fn die_and_recover_changes_one_container_then_restores_it() {
        let shape = Shape::with_containers(10_000);
        let events = shape.die_and_recover(3);
        for pair in events.chunks(2) {
            let steady = shape.node_list(
                pair[0]
                    .node
                    .strip_prefix("node")
                    .and_then(|n| n.parse().ok())
                    .unwrap(),
            );
            let dead = pair[0]
                .containers
                .iter()
                .filter(|(_, s)| *s == ContainerState::Dead)
                .count();
            assert_eq!(dead, 1);
            assert_eq!(pair[1], steady);
        }
    }
}

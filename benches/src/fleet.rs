//! A fleet of simulated NodeAgents for the fleet-scale runs (`src/bin/fleetgen/`): `nodes`
//! nodes of `per_node` containers, four containers per model, one package per node listing
//! its models. Each node's list is a function of its version, so every run sends the same
//! lists, and a NodeAgent sends a list only when its version moves (as Pullpiri's does: it
//! polls every second and sends only a changed list).
//!
//! - version 0: every container running (the fleet at rest);
//! - version 1: every container exited (a power cycle: the storm);
//! - version v >= 2: every container running but one, `v % per_node`, exited (churn: each new
//!   version recovers one container and stops another).

use std::collections::BTreeMap;

use state_core::{
    container::{Limits, RawContainer},
    fleet::{Event, Fleet},
    name::{ModelName, NodeName, PackageName},
    writes::WriteSet,
};
use state_server::pb::monitoringserver::{ContainerInfo, ContainerList};

/// Containers per model.
pub const PER_MODEL: usize = 4;

/// The fleet's dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FleetShape {
    pub nodes: usize,
    pub per_node: usize,
}

impl FleetShape {
    pub fn new(nodes: usize, per_node: usize) -> FleetShape {
        FleetShape {
            nodes: nodes.max(1),
            per_node: per_node.max(1),
        }
    }

    pub fn containers(&self) -> usize {
        self.nodes * self.per_node
    }

    /// Models on each node.
    pub fn models_per_node(&self) -> usize {
        self.per_node.div_ceil(PER_MODEL)
    }

    pub fn node(&self, n: usize) -> String {
        format!("node-{n:06}")
    }

    pub fn model(&self, n: usize, k: usize) -> String {
        format!("n{n}m{k}")
    }

    pub fn package(&self, n: usize) -> String {
        format!("n{n}p")
    }

    /// Container `j` of node `n`, named as a NodeAgent names it: `{model}_{container}`.
    pub fn container(&self, n: usize, j: usize) -> String {
        format!("{}_c{}", self.model(n, j / PER_MODEL), j % PER_MODEL)
    }

    /// Whether container `j` runs at `version`.
    pub fn running(&self, j: usize, version: u64) -> bool {
        match version {
            0 => true,
            1 => false,
            v => (v % self.per_node as u64) as usize != j,
        }
    }

    /// The podman fields of a container that runs or exited.
    fn fields(running: bool) -> BTreeMap<String, String> {
        let pairs: &[(&str, &str)] = if running {
            &[("Status", "running"), ("Running", "true")]
        } else {
            &[("Status", "exited"), ("ExitCode", "0")]
        };
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Node `n`'s list at `version`, as its NodeAgent sends it.
    pub fn list(&self, n: usize, version: u64) -> ContainerList {
        ContainerList {
            node_name: self.node(n),
            containers: (0..self.per_node)
                .map(|j| {
                    let name = self.container(n, j);
                    ContainerInfo {
                        id: format!("id-{name}"),
                        names: vec![name],
                        image: "fleet".into(),
                        state: Self::fields(self.running(j, version)),
                        ..ContainerInfo::default()
                    }
                })
                .collect(),
        }
    }

    /// Every package artifact, as the ApiServer stores it (`Package/{name}`: YAML).
    pub fn artifacts(&self) -> Vec<(String, String)> {
        (0..self.nodes)
            .map(|n| {
                let mut yaml = format!(
                    "apiVersion: v1\nkind: Package\nmetadata:\n  name: {}\nspec:\n  models:\n",
                    self.package(n)
                );
                for k in 0..self.models_per_node() {
                    yaml.push_str(&format!(
                        "    - name: {}\n      node: {}\n",
                        self.model(n, k),
                        self.node(n)
                    ));
                }
                (format!("Package/{}", self.package(n)), yaml)
            })
            .collect()
    }

    /// Node `n`'s list at `version` as state-core's event.
    fn event(&self, n: usize, version: u64) -> Event {
        let limits = Limits::default();
        let list = self.list(n, version);
        let containers = list
            .containers
            .iter()
            .filter_map(|c| {
                RawContainer {
                    id: &c.id,
                    names: &c.names,
                    state: &c.state,
                    config: &c.config,
                    annotation: &c.annotation,
                }
                .classify(&limits)
                .ok()
            })
            .collect();
        Event::NodeReport {
            node: NodeName::new(list.node_name).expect("fleet node names are valid"),
            containers,
        }
    }

    /// Every key a daemon would have stored for this fleet at version 0 (containers,
    /// memberships, models, packages), computed by state-core's own planner, so a daemon
    /// loading them finds nothing to repair; `f` is called with each batch of writes.
    pub fn stored(&self, mut f: impl FnMut(Vec<(String, Option<String>)>)) {
        let mut fleet = Fleet::new();
        for n in 0..self.nodes {
            let package = Event::PutPackage {
                package: PackageName::new(self.package(n)).expect("valid package name"),
                models: (0..self.models_per_node())
                    .map(|k| ModelName::new(self.model(n, k)).expect("valid model name"))
                    .collect(),
            };
            let mut writes = WriteSet::of(&fleet.apply_event(&package));
            writes.merge(WriteSet::of(&fleet.apply_event(&self.event(n, 0))));
            f(writes
                .iter()
                .map(|w| (w.key.clone(), w.value.as_ref().map(|v| v.to_string())))
                .collect());
        }
    }

    /// The raw keys of node `n` whose values differ between versions `from` and `to` (all of
    /// them when `from` is `None`): what a baseline writes for the list that moves `n` there.
    pub fn changed_keys(
        &self,
        prefix: &str,
        n: usize,
        from: Option<u64>,
        to: u64,
    ) -> Vec<(String, String)> {
        let after = self.raw_keys(prefix, n, to);
        match from {
            None => after,
            Some(from) => {
                let before = self.raw_keys(prefix, n, from);
                after
                    .into_iter()
                    .zip(before)
                    .filter(|(a, b)| a.1 != b.1)
                    .map(|(a, _)| a)
                    .collect()
            }
        }
    }

    /// The state keys one list of node `n` at `version` changes, under `prefix` instead of `/`
    /// (so a baseline writing them does not disturb a daemon watching `/`): its containers, its
    /// models and its package, with the values the daemon would store.
    pub fn raw_keys(&self, prefix: &str, n: usize, version: u64) -> Vec<(String, String)> {
        let mut keys = Vec::new();
        let mut all_running = true;
        let mut model_running = vec![true; self.models_per_node()];
        for j in 0..self.per_node {
            let running = self.running(j, version);
            all_running &= running;
            model_running[j / PER_MODEL] &= running;
            let state = if running { "running" } else { "exited" };
            keys.push((
                format!("{prefix}container/{}/state", self.container(n, j)),
                state.to_owned(),
            ));
        }
        for (k, running) in model_running.iter().enumerate() {
            let state = if *running {
                "MODEL_STATE_RUNNING"
            } else {
                "MODEL_STATE_EXITED"
            };
            keys.push((
                format!("{prefix}model/{}/state", self.model(n, k)),
                state.to_owned(),
            ));
        }
        let package = if all_running {
            "PACKAGE_STATE_RUNNING"
        } else {
            "PACKAGE_STATE_DEGRADED"
        };
        keys.push((
            format!("{prefix}package/{}/state", self.package(n)),
            package.to_owned(),
        ));
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_churn_version_changes_the_list_and_the_storm_changes_every_container() {
        let f = FleetShape::new(3, 20);
        for v in 2..30 {
            assert_ne!(f.list(1, v), f.list(1, v + 1), "version {v}");
        }
        let (rest, storm) = (f.list(0, 0), f.list(0, 1));
        assert!(
            rest.containers
                .iter()
                .zip(&storm.containers)
                .all(|(a, b)| a.state != b.state)
        );
        assert_eq!(f.container(2, 5), "n2m1_c1");
    }

    #[test]
    fn the_stored_fleet_is_what_state_core_derives() {
        let f = FleetShape::new(2, 8);
        let mut keys = Vec::new();
        f.stored(|batch| keys.extend(batch));
        let value = |k: &str| {
            keys.iter()
                .find(|(key, _)| key == k)
                .and_then(|(_, v)| v.clone())
        };
        assert_eq!(
            value("/container/n1m1_c3/state").as_deref(),
            Some("running")
        );
        assert_eq!(
            value("/model/n0m0/state").as_deref(),
            Some("MODEL_STATE_RUNNING")
        );
        assert_eq!(
            value("/package/n1p/state").as_deref(),
            Some("PACKAGE_STATE_RUNNING")
        );
        assert!(value("/node/node-000001/containers").is_some());
    }
}

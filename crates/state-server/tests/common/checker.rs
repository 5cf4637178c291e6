//! The consistency checker every replica, outage and restart test ends with: read all of etcd
//! and check that every stored model and package state is what the tables give for the stored
//! containers, node memberships and artifacts (`docs/contract.md#model-table`,
//! `docs/contract.md#package-table`). States set directly (`SendStateChange` on a model or
//! package, or an outside write taken as one) are named by the test and left out.

use state_core::{
    ContainerState, ModelState, PackageState,
    container::ReportedContainer,
    fleet::{Event, Fleet},
    key::{StateKey, parse_node_key},
    members,
};

use super::Etcd;

/// Checks etcd as described above; `direct` names the models and packages whose stored state
/// was set directly. Returns how many states it checked.
pub async fn check_consistent(etcd: &Etcd, direct: &[&str]) -> usize {
    check_stored(&etcd.dump().await, direct)
}

/// [`check_consistent`] on keys already read (`(key, value, revision)`).
pub fn check_stored(dump: &[(String, String, i64)], direct: &[&str]) -> usize {
    let mut fleet = Fleet::new();
    let mut containers = std::collections::HashMap::new();
    let mut nodes = Vec::new();
    let mut stored_models = Vec::new();
    let mut stored_packages = Vec::new();
    for (key, value, _) in dump {
        if let Some(node) = parse_node_key(key) {
            nodes.push((node, members::decode(value).expect("readable membership")));
            continue;
        }
        if key.starts_with("Package/") || key.starts_with("Scenario/") {
            let parsed = state_artifact::parse_one(value).expect("readable artifact");
            if let Some(event) = parsed.artifact.event() {
                fleet.apply_event(&event);
            }
            continue;
        }
        match StateKey::parse(key) {
            Some(StateKey::Container(c)) => {
                containers.insert(c, ContainerState::parse(value).expect("container state"));
            }
            Some(StateKey::Model(m)) => {
                stored_models.push((m, ModelState::parse(value).expect("model state")))
            }
            Some(StateKey::Package(p)) => {
                stored_packages.push((p, PackageState::parse(value).expect("package state")))
            }
            _ => {}
        }
    }
    for (node, list) in nodes {
        let reported = list
            .into_iter()
            .map(|m| ReportedContainer {
                state: *containers.get(&m.container).unwrap_or_else(|| {
                    panic!("{} is listed on {node} but has no state key", m.container)
                }),
                name: m.container,
                model: m.model,
                package: m.package,
            })
            .collect();
        fleet.apply_event(&Event::NodeReport {
            node,
            containers: reported,
        });
    }
    let mut checked = 0;
    for (m, stored) in &stored_models {
        if direct.contains(&m.as_str()) {
            continue;
        }
        if let Some(want) = fleet.model_state(m.as_str()) {
            assert_eq!(
                *stored, want,
                "model {m}: stored state disagrees with its containers"
            );
            checked += 1;
        }
    }
    for (p, stored) in &stored_packages {
        if direct.contains(&p.as_str()) {
            continue;
        }
        if let Some(want) = fleet.package_state(p.as_str()) {
            assert_eq!(
                *stored, want,
                "package {p}: stored state disagrees with its models"
            );
            checked += 1;
        }
    }
    checked
}

//! The store keys (`docs/contract.md#store-keys`): the four state keys and the node membership
//! key, their builders and their inverse.
//!
//! Keys are built only from validated names, so a name can never reach outside its own
//! `/kind/{name}/state` slot.

use alloc::{format, string::String};

use crate::name::{ContainerName, ModelName, NodeName, PackageName, ScenarioName};

/// `/container/{name}/state`
pub fn container_key(name: &ContainerName) -> String {
    format!("/container/{name}/state")
}

/// `/model/{name}/state`
pub fn model_key(name: &ModelName) -> String {
    format!("/model/{name}/state")
}

/// `/package/{name}/state`
pub fn package_key(name: &PackageName) -> String {
    format!("/package/{name}/state")
}

/// `/scenario/{name}/state`
pub fn scenario_key(name: &ScenarioName) -> String {
    format!("/scenario/{name}/state")
}

/// Which of the four state keys a key is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateKey {
    /// `/container/{name}/state`
    Container(ContainerName),
    /// `/model/{name}/state`
    Model(ModelName),
    /// `/package/{name}/state`
    Package(PackageName),
    /// `/scenario/{name}/state`
    Scenario(ScenarioName),
}

impl StateKey {
    /// Parses a store key back; `None` for anything that is not exactly one of the four forms
    /// with a valid name.
    pub fn parse(key: &str) -> Option<StateKey> {
        let rest = key.strip_prefix('/')?.strip_suffix("/state")?;
        let (kind, name) = rest.split_once('/')?;
        let name = String::from(name);
        Some(match kind {
            "container" => StateKey::Container(ContainerName::new(name).ok()?),
            "model" => StateKey::Model(ModelName::new(name).ok()?),
            "package" => StateKey::Package(PackageName::new(name).ok()?),
            "scenario" => StateKey::Scenario(ScenarioName::new(name).ok()?),
            _ => return None,
        })
    }
}

/// Prefix of container state keys.
pub const CONTAINER_PREFIX: &str = "/container/";
/// Prefix of model state keys.
pub const MODEL_PREFIX: &str = "/model/";
/// Prefix of package state keys.
pub const PACKAGE_PREFIX: &str = "/package/";
/// Prefix of scenario state keys.
pub const SCENARIO_PREFIX: &str = "/scenario/";
/// Prefix of package artifacts (`Package/{name}`).
pub const PACKAGE_ARTIFACT_PREFIX: &str = "Package/";
/// Prefix of scenario artifacts (`Scenario/{name}`).
pub const SCENARIO_ARTIFACT_PREFIX: &str = "Scenario/";
/// Prefix of model artifacts (`Model/{name}`).
pub const MODEL_ARTIFACT_PREFIX: &str = "Model/";
/// Prefix of node membership keys.
pub const NODE_PREFIX: &str = "/node/";

/// `/node/{name}/containers`: which containers a node runs (see [`crate::members`]).
pub fn node_key(node: &NodeName) -> String {
    format!("{NODE_PREFIX}{node}/containers")
}

/// The node a membership key belongs to; `None` for any other key.
pub fn parse_node_key(key: &str) -> Option<NodeName> {
    let name = key.strip_prefix(NODE_PREFIX)?.strip_suffix("/containers")?;
    NodeName::new(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_keys_round_trip_and_refuse_escapes() {
        let n1 = NodeName::new("n1").unwrap();
        assert_eq!(node_key(&n1), "/node/n1/containers");
        assert_eq!(parse_node_key(&node_key(&n1)), Some(n1));
        assert_eq!(parse_node_key("/node/../x/containers"), None);
        assert_eq!(parse_node_key("/model/m/state"), None);
    }

    #[test]
    fn state_keys_parse_back_only_in_their_exact_form() {
        let m = ModelName::new("m").unwrap();
        assert_eq!(StateKey::parse(&model_key(&m)), Some(StateKey::Model(m)));
        assert_eq!(StateKey::parse("/model/m/state/x"), None);
        assert_eq!(StateKey::parse("/volume/v/state"), None);
    }
}

//! The four store-key builders (spec §3) and their inverse.
//!
//! Keys are built only from validated names, so a name can never reach outside its own
//! `/kind/{name}/state` slot.

use alloc::{format, string::String};

use crate::name::{ContainerName, ModelName, PackageName, ScenarioName};

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

    /// The key text.
    pub fn to_key(&self) -> String {
        match self {
            StateKey::Container(n) => container_key(n),
            StateKey::Model(n) => model_key(n),
            StateKey::Package(n) => package_key(n),
            StateKey::Scenario(n) => scenario_key(n),
        }
    }
}

/// Prefix under which every key of a kind lives (`/model/`).
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

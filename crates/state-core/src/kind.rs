//! The stateful resource kinds — scenario, package and model — as one type from the wire edge
//! inward (`docs/contract.md#queries`, `docs/contract.md#state-change-checks`).
//!
//! Containers are not among them: their states come only from node reports and have a key kind
//! of their own. [`Stateful`] is what get, list, change and the write set need to know about a
//! kind (its name type, state type, key, direct-set event and stored-state lookup), so each of
//! those is written once. A new kind is one more [`Kind`] variant and one more [`Stateful`] impl.

use alloc::string::String;
use core::fmt;

use crate::{
    ModelState, PackageState, ResourceType, ScenarioState,
    error::{NameError, ParseStateError},
    fleet::{Event, Fleet},
    key::{model_key, package_key, scenario_key},
    name::{ModelName, PackageName, ScenarioName},
};

/// A kind of resource whose state can be read and changed through the StateManager.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Scenario: moved only along the scenario table.
    Scenario,
    /// Package: derived from its models, or set directly.
    Package,
    /// Model: derived from its containers, or set directly (cascades to its packages).
    Model,
}

const KIND_NAMES: &[&str] = &["scenario", "package", "model"];

impl Kind {
    /// Every kind, in wire order.
    pub const ALL: [Kind; 3] = [Kind::Scenario, Kind::Package, Kind::Model];

    /// Lower-case name, as in store keys and on the command line.
    pub const fn short(self) -> &'static str {
        self.resource_type().short()
    }

    /// The wire resource type.
    pub const fn resource_type(self) -> ResourceType {
        match self {
            Kind::Scenario => ResourceType::Scenario,
            Kind::Package => ResourceType::Package,
            Kind::Model => ResourceType::Model,
        }
    }

    /// The kind of a wire resource type; `None` for volume, network, node and unspecified,
    /// which have no state here.
    pub const fn from_resource_type(r: ResourceType) -> Option<Kind> {
        match r {
            ResourceType::Scenario => Some(Kind::Scenario),
            ResourceType::Package => Some(Kind::Package),
            ResourceType::Model => Some(Kind::Model),
            _ => None,
        }
    }

    /// Parses `scenario`, `Package` or `RESOURCE_TYPE_MODEL`.
    pub fn parse(input: &str) -> Result<Kind, ParseStateError> {
        ResourceType::parse(input)
            .ok()
            .and_then(Kind::from_resource_type)
            .ok_or_else(|| ParseStateError::new("resource kind", input.trim(), KIND_NAMES))
    }

    /// Parses a state of this kind.
    pub fn parse_state(self, input: &str) -> Result<State, ParseStateError> {
        Ok(match self {
            Kind::Scenario => State::Scenario(ScenarioState::parse(input)?),
            Kind::Package => State::Package(PackageState::parse(input)?),
            Kind::Model => State::Model(ModelState::parse(input)?),
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short())
    }
}

/// A state of one of the stateful kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// A scenario's state.
    Scenario(ScenarioState),
    /// A package's state.
    Package(PackageState),
    /// A model's state.
    Model(ModelState),
}

impl State {
    /// Whose state this is.
    pub const fn kind(self) -> Kind {
        match self {
            State::Scenario(_) => Kind::Scenario,
            State::Package(_) => Kind::Package,
            State::Model(_) => Kind::Model,
        }
    }

    /// The exact value stored for this state (`MODEL_STATE_RUNNING`).
    pub fn stored(self) -> &'static str {
        match self {
            State::Scenario(s) => s.stored(),
            State::Package(s) => s.stored(),
            State::Model(s) => s.stored(),
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.stored())
    }
}

/// One named resource of a stateful kind: what get and list answer about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    Scenario(ScenarioName),
    Package(PackageName),
    Model(ModelName),
}

impl Resource {
    /// Validates `name` as a name of `kind`.
    pub fn new(kind: Kind, name: &str) -> Result<Resource, NameError> {
        Ok(match kind {
            Kind::Scenario => Resource::Scenario(ScenarioName::new(name)?),
            Kind::Package => Resource::Package(PackageName::new(name)?),
            Kind::Model => Resource::Model(ModelName::new(name)?),
        })
    }

    pub const fn kind(&self) -> Kind {
        match self {
            Resource::Scenario(_) => Kind::Scenario,
            Resource::Package(_) => Kind::Package,
            Resource::Model(_) => Kind::Model,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Resource::Scenario(n) => n.as_str(),
            Resource::Package(n) => n.as_str(),
            Resource::Model(n) => n.as_str(),
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.name())
    }
}

/// What the StateManager needs to know about one stateful kind.
pub trait Stateful {
    /// Which kind this is.
    const KIND: Kind;
    /// Its validated name type.
    type Name: Clone + fmt::Debug + PartialEq + Eq + fmt::Display;
    /// Its state enum.
    type State: Copy + fmt::Debug + PartialEq + Eq;

    /// Validates a name.
    fn name(input: &str) -> Result<Self::Name, NameError>;
    /// Parses a state spelling (`docs/contract.md#state-spellings`).
    fn parse(input: &str) -> Result<Self::State, ParseStateError>;
    /// Its store key.
    fn key(name: &Self::Name) -> String;
    /// The event that sets its state directly.
    fn set(name: &Self::Name, state: Self::State) -> Event;
    /// Its state in the fleet, if it has one.
    fn stored(fleet: &Fleet, name: &Self::Name) -> Option<Self::State>;
    /// The state, as a state of any kind.
    fn any(state: Self::State) -> State;
}

/// [`Stateful`] for scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScenarioKind;
/// [`Stateful`] for packages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackageKind;
/// [`Stateful`] for models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelKind;

impl Stateful for ScenarioKind {
    const KIND: Kind = Kind::Scenario;
    type Name = ScenarioName;
    type State = ScenarioState;

    fn name(input: &str) -> Result<ScenarioName, NameError> {
        ScenarioName::new(input)
    }
    fn parse(input: &str) -> Result<ScenarioState, ParseStateError> {
        ScenarioState::parse(input)
    }
    fn key(name: &ScenarioName) -> String {
        scenario_key(name)
    }
    fn set(name: &ScenarioName, state: ScenarioState) -> Event {
        Event::SetScenario {
            scenario: name.clone(),
            state,
        }
    }
    fn stored(fleet: &Fleet, name: &ScenarioName) -> Option<ScenarioState> {
        fleet.scenario_state(name.as_str())
    }
    fn any(state: ScenarioState) -> State {
        State::Scenario(state)
    }
}

impl Stateful for PackageKind {
    const KIND: Kind = Kind::Package;
    type Name = PackageName;
    type State = PackageState;

    fn name(input: &str) -> Result<PackageName, NameError> {
        PackageName::new(input)
    }
    fn parse(input: &str) -> Result<PackageState, ParseStateError> {
        PackageState::parse(input)
    }
    fn key(name: &PackageName) -> String {
        package_key(name)
    }
    fn set(name: &PackageName, state: PackageState) -> Event {
        Event::SetPackage {
            package: name.clone(),
            state,
        }
    }
    fn stored(fleet: &Fleet, name: &PackageName) -> Option<PackageState> {
        fleet.package_state(name.as_str())
    }
    fn any(state: PackageState) -> State {
        State::Package(state)
    }
}

impl Stateful for ModelKind {
    const KIND: Kind = Kind::Model;
    type Name = ModelName;
    type State = ModelState;

    fn name(input: &str) -> Result<ModelName, NameError> {
        ModelName::new(input)
    }
    fn parse(input: &str) -> Result<ModelState, ParseStateError> {
        ModelState::parse(input)
    }
    fn key(name: &ModelName) -> String {
        model_key(name)
    }
    fn set(name: &ModelName, state: ModelState) -> Event {
        Event::SetModel {
            model: name.clone(),
            state,
        }
    }
    fn stored(fleet: &Fleet, name: &ModelName) -> Option<ModelState> {
        fleet.model_state(name.as_str())
    }
    fn any(state: ModelState) -> State {
        State::Model(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_the_wire_type_and_their_names() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_resource_type(k.resource_type()), Some(k));
            assert_eq!(Kind::parse(k.short()), Ok(k));
        }
        assert_eq!(Kind::parse("RESOURCE_TYPE_MODEL"), Ok(Kind::Model));
        assert_eq!(Kind::from_resource_type(ResourceType::Volume), None);
        let e = Kind::parse("volume").unwrap_err();
        assert_eq!(e.accepted, KIND_NAMES);
    }

    #[test]
    fn resources_are_validated_names_of_their_kind() {
        let r = Resource::new(Kind::Package, "p1").unwrap();
        assert_eq!(alloc::format!("{r}"), "package p1");
        assert_eq!(
            PackageKind::key(&PackageName::new("p1").unwrap()),
            "/package/p1/state"
        );
        assert_eq!(r.kind(), Kind::Package);
        assert!(Resource::new(Kind::Model, "../x").is_err());
    }
}

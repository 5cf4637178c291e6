//! What the planner takes in ([`Event`]) and gives back ([`Plan`]: the [`Changes`] to store and
//! report, plus the primitive operations that apply them to the fleet).

use alloc::{string::String, vec::Vec};

use super::op::Op;
use crate::{
    ContainerState, ModelState, PackageState, ScenarioState,
    container::ReportedContainer,
    name::{ContainerName, ModelName, NodeName, PackageName, ScenarioName},
    state::PodStatus,
};

/// One event the planner reacts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A node's new full container list; it replaces the node's previous list.
    NodeReport {
        /// The reporting node.
        node: NodeName,
        /// Its containers, already validated.
        containers: Vec<ReportedContainer>,
    },
    /// A direct model update; cascades to the model's packages.
    SetModel {
        /// The model.
        model: ModelName,
        /// Its new state.
        state: ModelState,
    },
    /// A direct package update.
    SetPackage {
        package: PackageName,
        /// Its new state.
        state: PackageState,
    },
    /// A scenario lifecycle step (already checked against the transition table).
    SetScenario {
        scenario: ScenarioName,
        /// Its new state.
        state: ScenarioState,
    },
    /// A scenario completed before the table brought it to `allowed` (Pullpiri mode,
    /// [`crate::lifecycle`]): stored as completed, each step nobody sent recorded as taken
    /// by the daemon.
    CompleteScenario { scenario: ScenarioName },
    /// A `Package/{name}` artifact was stored or replaced.
    PutPackage {
        package: PackageName,
        /// The models it lists.
        models: Vec<ModelName>,
    },
    /// A `Package/{name}` artifact was deleted.
    RemovePackage { package: PackageName },
    /// A `Scenario/{name}` artifact was stored or replaced.
    PutScenario {
        scenario: ScenarioName,
        /// The package it targets.
        target: Option<PackageName>,
    },
    /// A `Scenario/{name}` artifact was deleted.
    RemoveScenario { scenario: ScenarioName },
}

/// A state that changes: `old` is `None` when the resource had no stored state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update<N, S> {
    /// The resource.
    pub name: N,
    /// Its state before.
    pub old: Option<S>,
    /// Its state after.
    pub new: S,
    /// Why it changed, for the history and the watch stream.
    pub why: Why,
}

/// Why a state changed (`docs/contract.md#history`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// The kind's decision table decided it: the index of the deciding row.
    Row(usize),
    /// Set directly (`SendStateChange`, or a write by another program).
    Direct,
    /// A scenario moved through the scenario table.
    Scenario,
    /// A scenario completed, and the daemon took the forward steps between its old state and
    /// `allowed` that no caller sent ([`crate::lifecycle`]).
    StepsTaken,
    /// Derived again from the stored inputs when loading (a half-written plan, or inputs that
    /// changed while no daemon ran).
    Repaired,
    /// Another program deleted the key; the fleet still derives it, so it is written back.
    WrittenBack,
}

/// A request to the ActionController for a package that entered Error
/// (`docs/contract.md#reconcile`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconcile {
    /// The package in Error.
    pub package: PackageName,
    /// The scenario targeting it, if one does.
    pub scenario: Option<ScenarioName>,
}

impl Reconcile {
    /// The pod status the request reports: the package is failing.
    pub const CURRENT: PodStatus = PodStatus::Failed;
    /// The pod status the request asks for: running again.
    pub const DESIRED: PodStatus = PodStatus::Running;
    /// The pod status the request reports in Pullpiri mode: today's ActionController refuses
    /// a current status of NONE, FAILED or UNKNOWN at once, and starts the package's models
    /// again for any other that differs from the desired one. DONE (the workload stopped) is
    /// the truest of those for a package whose models died or exited
    /// (`docs/contract.md#reconcile-in-pullpiri-mode`).
    pub const CURRENT_IN_PULLPIRI_MODE: PodStatus = PodStatus::Done;
}

/// What one event changes: the states to store and report. Unchanged states produce nothing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Container states to write (new or changed).
    pub container_puts: Vec<(ContainerName, ContainerState)>,
    /// Container keys to delete (containers that left their node's list).
    pub container_deletes: Vec<ContainerName>,
    /// Model state changes.
    pub models: Vec<Update<ModelName, ModelState>>,
    /// Model state keys to delete: models that lost their last container and package link.
    pub model_deletes: Vec<ModelName>,
    /// Package state changes.
    pub packages: Vec<Update<PackageName, PackageState>>,
    /// Package state keys to delete (packages that no longer exist).
    pub package_deletes: Vec<PackageName>,
    /// Of the deleted packages, those that were in Error: their error episodes end.
    pub removed_in_error: Vec<PackageName>,
    /// Scenario state changes.
    pub scenarios: Vec<Update<ScenarioName, ScenarioState>>,
    /// Packages that entered Error.
    pub reconciles: Vec<Reconcile>,
    /// Reported containers that belong to no model.
    pub unassigned: Vec<ContainerName>,
    /// Node membership values to store (see [`crate::members`]): for each node whose list of
    /// containers, models or packages changed, its new value, or `None` when it has none left.
    pub nodes: Vec<(NodeName, Option<String>)>,
}

impl Changes {
    /// Whether nothing is to be written to the store.
    pub fn writes_nothing(&self) -> bool {
        self.write_count() == 0
    }

    /// Number of store operations (puts and deletes) needed.
    pub fn write_count(&self) -> usize {
        self.container_puts.len()
            + self.container_deletes.len()
            + self.models.len()
            + self.model_deletes.len()
            + self.packages.len()
            + self.package_deletes.len()
            + self.scenarios.len()
            + self.nodes.len()
            + self.episodes().count()
    }

    /// The error-episode records this plan opens (a package entering Error, with the scenario
    /// its Reconcile names) or closes (`None`: the package left Error or was removed).
    /// Entering Error with no scenario to name records nothing: there is nothing to deliver.
    pub fn episodes(&self) -> impl Iterator<Item = (&PackageName, Option<&ScenarioName>)> {
        let opened = self
            .reconciles
            .iter()
            .filter_map(|r| Some((&r.package, Some(r.scenario.as_ref()?))));
        let closed = self
            .packages
            .iter()
            .filter(|u| u.old == Some(PackageState::Error) && u.new != PackageState::Error)
            .map(|u| (&u.name, None))
            .chain(self.removed_in_error.iter().map(|p| (p, None)));
        opened.chain(closed)
    }
}

/// One event's [`Changes`], and how to apply them to the fleet it was planned on: give it to
/// [`crate::fleet::Fleet::commit`] once the changes are stored.
#[derive(Debug, Default)]
pub struct Plan {
    /// What changes.
    pub changes: Changes,
    pub(super) generation: u64,
    pub(super) ops: Vec<Op>,
}

impl Plan {
    /// Moves the changes out, for reporting after the plan is committed.
    pub fn take_changes(&mut self) -> Changes {
        core::mem::take(&mut self.changes)
    }
}

/// [`crate::fleet::Fleet::commit`] was given a plan made against an older fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("plan was made against fleet generation {planned}, but the fleet is at {current}")]
pub struct StalePlan {
    /// Generation the plan was made at.
    pub planned: u64,
    /// Generation of the fleet.
    pub current: u64,
}

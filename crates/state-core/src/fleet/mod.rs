//! The cascade planner: topology and current states, and for each event a [`Plan`] of what to
//! write. Planning is incremental: each model keeps per-state counts of its containers and each
//! package per-state counts of its models, so one event costs in proportion to what it touches,
//! whatever the size of the fleet.
//!
//! Planning does not change the fleet: [`Fleet::plan`] reads, the caller stores the plan's
//! writes, and only then [`Fleet::commit`] applies it. A plan that could not be stored is
//! simply dropped.
//!
//! Files: [`plan`] (events in, changes out), `planner` (the working state of one plan), `op`
//! (the primitive changes and how they apply), [`undo`] (their inverse), `query` (what the
//! fleet answers), [`observe`] (what other writers stored), `rebuild` (a fleet from a whole
//! store snapshot, and the repair it calls for), and here the fleet itself and its commits.

use alloc::{collections::BTreeSet, vec::Vec};

use hashbrown::{HashMap, HashSet};

pub mod observe;
mod op;
pub mod plan;
mod planner;
mod query;
mod rebuild;
pub mod undo;

pub use observe::{Observed, UnreadableValue};
pub use plan::{Changes, Event, Plan, Reconcile, StalePlan, Update, Why};
pub use undo::Undo;

use crate::{
    ContainerState, ModelState, PackageState, ScenarioState,
    name::{ContainerName, ModelName, NodeName, PackageName, ScenarioName},
    table::Counts,
};

/// A container as last reported by its node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerEntry {
    pub state: ContainerState,
    /// Its model.
    pub model: Option<ModelName>,
    /// The package named by its package annotation.
    pub package: Option<PackageName>,
}

/// A model: its state and what it is made of.
#[derive(Clone, Debug, PartialEq)]
struct ModelEntry {
    state: ModelState,
    /// Per-state counts of its containers, over every node.
    containers: Counts<ContainerState>,
    /// Package -> number of reasons it holds this model (its artifact lists it: 1; each
    /// container annotated with the package: 1).
    links: HashMap<PackageName, u32>,
}

/// A package: its state (`None` before its first evaluation) and its models.
#[derive(Clone, Debug, Default, PartialEq)]
struct PackageEntry {
    state: Option<PackageState>,
    /// Per-state counts of its member models.
    models: Counts<ModelState>,
    /// Models listed by its artifact or joined by a container's package annotation.
    members: HashSet<ModelName>,
    /// The models its artifact lists; `None` when no artifact is stored.
    artifact: Option<Vec<ModelName>>,
}

/// A scenario: its state (`None` before the first step) and the package it targets.
#[derive(Clone, Debug, Default, PartialEq)]
struct ScenarioEntry {
    state: Option<ScenarioState>,
    target: Option<PackageName>,
}

/// Topology and current states of the whole fleet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fleet {
    nodes: HashMap<NodeName, HashMap<ContainerName, ContainerEntry>>,
    /// Which node holds each reported container.
    owner: HashMap<ContainerName, NodeName>,
    /// Container states loaded from the store but not (yet) reported by any node.
    stored_containers: HashMap<ContainerName, ContainerState>,
    models: HashMap<ModelName, ModelEntry>,
    packages: HashMap<PackageName, PackageEntry>,
    scenarios: HashMap<ScenarioName, ScenarioEntry>,
    /// Package -> scenarios targeting it.
    targeted_by: HashMap<PackageName, BTreeSet<ScenarioName>>,
    generation: u64,
}

impl Fleet {
    /// An empty fleet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Plans one event without changing the fleet.
    pub fn plan(&self, event: &Event) -> Plan {
        planner::plan(self, event)
    }

    /// Applies a plan made by [`Fleet::plan`] on this fleet, once its writes are stored.
    pub fn commit(&mut self, plan: Plan) -> Result<(), StalePlan> {
        if plan.generation != self.generation {
            return Err(StalePlan {
                planned: plan.generation,
                current: self.generation,
            });
        }
        self.generation += 1;
        for op in plan.ops {
            self.apply(op);
        }
        Ok(())
    }

    /// Like [`Fleet::commit`], but also returns what it takes to put the fleet back with
    /// [`Fleet::undo`]: for callers that apply several plans before storing them together.
    pub fn commit_undoable(&mut self, plan: Plan) -> Result<Undo, StalePlan> {
        if plan.generation != self.generation {
            return Err(StalePlan {
                planned: plan.generation,
                current: self.generation,
            });
        }
        let mut undo = Undo::new(self.generation);
        self.generation += 1;
        for op in plan.ops {
            undo.record(self, &op);
            self.apply(op);
        }
        Ok(undo)
    }

    /// Plans and commits in one step, for callers with nothing to store (tests, the explorer).
    pub fn apply_event(&mut self, event: &Event) -> Changes {
        let mut plan = self.plan(event);
        let ops = core::mem::take(&mut plan.ops);
        self.generation += 1;
        for op in ops {
            self.apply(op);
        }
        plan.changes
    }
}

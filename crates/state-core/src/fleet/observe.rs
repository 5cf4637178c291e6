//! Writes someone else made — another replica, an operator with `etcdctl`, the first half of a
//! plan whose second half failed — seen in the store one revision at a time, and turned into
//! the ordinary events that bring the fleet to them with every count exact
//! (`docs/contract.md#outside-writes`).
//!
//! Containers and node memberships are inputs: a changed container state or list becomes its
//! node's report, so the cascade is planned as for any report. Model and package states are
//! outputs: a stored value that differs from the fleet's is a direct update. A deleted model or
//! package key is an output gone missing: [`Fleet::written_back`] says what to write back.

use alloc::{collections::BTreeMap, vec::Vec};

use super::{Changes, Event, Fleet, Update, Why};
use crate::{
    ContainerState, ModelState, PackageState, ScenarioState,
    container::ReportedContainer,
    error::ParseStateError,
    key::{StateKey, parse_node_key},
    members::{self, MembersError},
    name::{ContainerName, ModelName, NodeName, PackageName, ScenarioName},
};

/// A stored value that cannot be read as what its key says.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnreadableValue {
    /// A state key holding something that is not a state.
    #[error(transparent)]
    State(#[from] ParseStateError),
    /// A node membership key holding something that is not a membership list.
    #[error(transparent)]
    Members(#[from] MembersError),
}

/// State and membership keys as stored: those that changed at one store revision (`None` is a
/// deletion), or every one of them ([`Fleet::rebuild`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    pub(super) containers: BTreeMap<ContainerName, Option<ContainerState>>,
    /// Node memberships as stored (checked readable when added, decoded where used: a whole
    /// fleet's decoded lists are never held beside the fleet built from them).
    pub(super) nodes: BTreeMap<NodeName, Option<alloc::string::String>>,
    pub(super) models: BTreeMap<ModelName, Option<ModelState>>,
    pub(super) packages: BTreeMap<PackageName, Option<PackageState>>,
    pub(super) scenarios: BTreeMap<ScenarioName, Option<ScenarioState>>,
}

impl Observed {
    /// An empty set of changes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one key as it is now stored (`None`: deleted). Returns `Ok(false)` for a key the
    /// fleet neither derives from nor writes.
    pub fn add(&mut self, key: &str, value: Option<&str>) -> Result<bool, UnreadableValue> {
        if let Some(node) = parse_node_key(key) {
            let members = value
                .map(|v| members::check(v).map(|()| v.into()))
                .transpose()?;
            self.nodes.insert(node, members);
            return Ok(true);
        }
        let Some(key) = StateKey::parse(key) else {
            return Ok(false);
        };
        match key {
            StateKey::Container(name) => {
                let state = value.map(ContainerState::parse).transpose()?;
                self.containers.insert(name, state);
            }
            StateKey::Model(name) => {
                let state = value.map(ModelState::parse).transpose()?;
                self.models.insert(name, state);
            }
            StateKey::Package(name) => {
                let state = value.map(PackageState::parse).transpose()?;
                self.packages.insert(name, state);
            }
            StateKey::Scenario(name) => {
                let state = value.map(ScenarioState::parse).transpose()?;
                self.scenarios.insert(name, state);
            }
        }
        Ok(true)
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
            && self.nodes.is_empty()
            && self.models.is_empty()
            && self.packages.is_empty()
            && self.scenarios.is_empty()
    }
}

impl Fleet {
    /// Takes in what another writer stored. What needs no counting (a container no node
    /// reports, a scenario state) is applied here; the rest comes back as events, to be
    /// planned and committed in order like any other. Their plans hold the cascade the
    /// outside write calls for; [`Changes::without_stored`] drops what the store already holds.
    pub fn observe(&mut self, seen: &Observed) -> Vec<Event> {
        self.generation += 1;
        let mut reports: BTreeMap<NodeName, Vec<ReportedContainer>> = BTreeMap::new();
        let mut covered = hashbrown::HashSet::new();
        // A node whose membership changed reports its new list, each container in its newest
        // known state; a member with no state anywhere is left out, as at start-up.
        for (node, text) in &seen.nodes {
            let list = text
                .as_deref()
                .map(members::decode_checked)
                .unwrap_or_default();
            let mut report = Vec::with_capacity(list.len());
            for m in &list {
                covered.insert(m.container.clone());
                let state = match seen.containers.get(&m.container) {
                    Some(stored) => *stored,
                    None => self.container_state(m.container.as_str()),
                };
                if let Some(state) = state {
                    report.push(ReportedContainer {
                        name: m.container.clone(),
                        state,
                        model: m.model.clone(),
                        package: m.package.clone(),
                    });
                }
            }
            reports.insert(node.clone(), report);
        }
        // A container whose state changed under an unchanged membership: its node reports
        // again with that one state replaced (or the container gone).
        for (name, state) in &seen.containers {
            if covered.contains(name) {
                continue;
            }
            let Some(node) = self.owner.get(name).cloned() else {
                match state {
                    Some(s) => self.stored_containers.insert(name.clone(), *s),
                    None => self.stored_containers.remove(name),
                };
                continue;
            };
            let report = reports
                .entry(node.clone())
                .or_insert_with(|| self.reported(&node));
            match state {
                Some(s) => {
                    if let Some(c) = report.iter_mut().find(|c| &c.name == name) {
                        c.state = *s;
                    }
                }
                None => report.retain(|c| &c.name != name),
            }
        }
        for (name, state) in &seen.scenarios {
            if state.is_none() {
                // Forgotten; a scenario artifact that still targets a package stays known.
                if let Some(s) = self.scenarios.get_mut(name) {
                    s.state = None;
                    if s.target.is_none() {
                        self.scenarios.remove(name);
                    }
                }
            }
        }
        let mut events: Vec<Event> = reports
            .into_iter()
            .map(|(node, containers)| Event::NodeReport { node, containers })
            .collect();
        events.extend(seen.models.iter().filter_map(|(model, state)| {
            state.map(|state| Event::SetModel {
                model: model.clone(),
                state,
            })
        }));
        events.extend(seen.packages.iter().filter_map(|(package, state)| {
            state.map(|state| Event::SetPackage {
                package: package.clone(),
                state,
            })
        }));
        events.extend(seen.scenarios.iter().filter_map(|(scenario, state)| {
            state.map(|state| Event::SetScenario {
                scenario: scenario.clone(),
                state,
            })
        }));
        events
    }

    /// The model and package states whose keys another writer deleted while the fleet still
    /// holds them: written back, since the fleet derives them from what still exists.
    pub fn written_back(&self, seen: &Observed) -> Changes {
        let mut changes = Changes::default();
        for (name, state) in &seen.models {
            if let (None, Some(held)) = (state, self.model_state(name.as_str())) {
                changes.models.push(Update {
                    name: name.clone(),
                    old: None,
                    new: held,
                    why: Why::WrittenBack,
                });
            }
        }
        for (name, state) in &seen.packages {
            if let (None, Some(held)) = (state, self.package_state(name.as_str())) {
                changes.packages.push(Update {
                    name: name.clone(),
                    old: None,
                    new: held,
                    why: Why::WrittenBack,
                });
            }
        }
        changes
    }
}

impl Changes {
    /// Drops the writes the store already holds (those `seen` there), keeping the cascade.
    pub fn without_stored(&mut self, seen: &Observed) {
        self.container_puts
            .retain(|(c, s)| seen.containers.get(c) != Some(&Some(*s)));
        self.container_deletes
            .retain(|c| seen.containers.get(c) != Some(&None));
        self.nodes.retain(|(n, v)| match (seen.nodes.get(n), v) {
            (Some(None), None) => false,
            (Some(Some(stored)), Some(v)) => stored != v,
            _ => true,
        });
        self.models
            .retain(|u| seen.models.get(&u.name) != Some(&Some(u.new)));
        self.model_deletes
            .retain(|m| seen.models.get(m) != Some(&None));
        // A package leaving Error is kept even when the store already holds its new state: that
        // update is what closes its error episode (`docs/contract.md#reconcile`).
        self.packages.retain(|u| {
            seen.packages.get(&u.name) != Some(&Some(u.new))
                || (u.old == Some(PackageState::Error) && u.new != PackageState::Error)
        });
        self.package_deletes
            .retain(|p| seen.packages.get(p) != Some(&None));
        self.scenarios
            .retain(|u| seen.scenarios.get(&u.name) != Some(&Some(u.new)));
    }
}

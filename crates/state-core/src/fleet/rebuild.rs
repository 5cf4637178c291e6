//! A fleet rebuilt from a whole snapshot of the store (at start, and whenever a write may have
//! left etcd somewhere the daemon does not know): stored states loaded, the artifacts' topology
//! applied, every stored node membership replayed as a report of its containers in their stored
//! states, so every count is exact. What the stored outputs (model and package states, node
//! memberships) disagree with comes back as [`Changes`]: the repair to write. Inputs (container
//! states, scenario states) are never rewritten.

use alloc::vec::Vec;

use hashbrown::HashMap;

use super::{Changes, Event, Fleet, ModelEntry, Observed, Reconcile, Update, Why};
use crate::{PackageState, container::ReportedContainer, members, table::Counts};

impl Fleet {
    /// Rebuilds the fleet from `stored` (every state and membership key as stored) and
    /// `topology` (an event per stored artifact). Returns it with the writes that bring the
    /// store's derived states to it, and the Reconciles for packages those writes put into
    /// Error.
    ///
    /// `stored` is taken apart as the fleet is built (for a big fleet, the two are never held
    /// whole at once).
    pub fn rebuild(mut stored: Observed, topology: &[Event]) -> (Fleet, Changes) {
        let mut fleet = Fleet::new();
        // Container states wait in the loaded map: each node's replay below takes its own out
        // of it, and only those no node lists become stored (not reported) containers. Moving
        // them all into the fleet's table first would hold both tables at once.
        let mut containers = core::mem::take(&mut stored.containers);
        // Stored outputs first, each as stored and counting nothing yet: the topology and the
        // memberships below are applied as events, which count every container and model.
        for (name, state) in &stored.models {
            if let Some(s) = state {
                fleet.models.insert(
                    name.clone(),
                    ModelEntry {
                        state: *s,
                        containers: Counts::default(),
                        links: HashMap::new(),
                    },
                );
            }
        }
        for (name, state) in &stored.packages {
            if let Some(s) = state {
                fleet.packages.entry(name.clone()).or_default().state = Some(*s);
            }
        }
        for (name, state) in &stored.scenarios {
            if let Some(s) = state {
                fleet.scenarios.entry(name.clone()).or_default().state = Some(*s);
            }
        }
        for event in topology {
            fleet.apply_event(event);
        }
        fleet.owner.reserve(containers.len());
        for (node, text) in &stored.nodes {
            let Some(text) = text else {
                continue;
            };
            // A member whose container has no stored state is left out, as a node that no
            // longer reports it.
            let list = members::decode_checked(text)
                .into_iter()
                .filter_map(|m| {
                    // Listed by an earlier node too: the fleet has it as reported there.
                    let state = match containers.remove(&m.container) {
                        Some(state) => state,
                        None => fleet.container_state(m.container.as_str()),
                    };
                    Some(ReportedContainer {
                        state: state?,
                        name: m.container,
                        model: m.model,
                        package: m.package,
                    })
                })
                .collect();
            fleet.apply_event(&Event::NodeReport {
                node: node.clone(),
                containers: list,
            });
        }
        fleet.stored_containers.extend(
            containers
                .into_iter()
                .filter_map(|(name, s)| Some((name, s?))),
        );
        let repair = fleet.difference(&stored);
        (fleet, repair)
    }

    /// What the store must be told so that its derived states are the fleet's.
    fn difference(&self, stored: &Observed) -> Changes {
        let mut changes = Changes::default();
        for (node, list) in &self.nodes {
            let value = members::encode(
                list.iter()
                    .map(|(c, e)| (c, e.model.as_ref(), e.package.as_ref())),
            );
            let held = stored.nodes.get(node).and_then(|m| m.as_ref());
            if held != Some(&value) {
                changes.nodes.push((node.clone(), Some(value)));
            }
        }
        for (node, members) in &stored.nodes {
            if members.is_some() && !self.nodes.contains_key(node) {
                changes.nodes.push((node.clone(), None));
            }
        }
        changes.nodes.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, entry) in &self.models {
            let old = stored.models.get(name).copied().flatten();
            if old != Some(entry.state) {
                changes.models.push(Update {
                    name: name.clone(),
                    old,
                    new: entry.state,
                    why: Why::Repaired,
                });
            }
        }
        changes.models.sort_by(|a, b| a.name.cmp(&b.name));
        let mut packages: Vec<_> = self
            .packages
            .iter()
            .filter_map(|(name, p)| Some((name, p.state?)))
            .collect();
        packages.sort_by(|a, b| a.0.cmp(b.0));
        for (name, state) in packages {
            let old = stored.packages.get(name).copied().flatten();
            if old == Some(state) {
                continue;
            }
            if state == PackageState::Error {
                changes.reconciles.push(Reconcile {
                    package: name.clone(),
                    scenario: self.scenario_for(name.as_str()).cloned(),
                });
            }
            changes.packages.push(Update {
                name: name.clone(),
                old,
                new: state,
                why: Why::Repaired,
            });
        }
        changes
    }
}

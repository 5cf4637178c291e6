//! Undoing a commit: before each primitive change, the previous value of every slot it touches
//! is recorded; [`Fleet::undo`] puts them back in reverse order. The property test checks that
//! commit-then-undo leaves the fleet exactly as it was.

use alloc::{collections::BTreeSet, vec::Vec};

use super::{ContainerEntry, Fleet, ModelEntry, PackageEntry, ScenarioEntry, StalePlan, op::Op};
use crate::{
    ContainerState, ModelState, PackageState,
    name::{ContainerName, ModelName, NodeName, PackageName, ScenarioName},
    table::Counts,
};

/// What a [`Fleet::commit_undoable`] changed, to undo it.
#[derive(Debug)]
pub struct Undo {
    /// Generation of the fleet before the commit.
    generation: u64,
    steps: Vec<Step>,
}

/// The previous value of one slot. `existed` is whether the package entry existed.
#[derive(Debug)]
enum Step {
    Owner(ContainerName, Option<NodeName>),
    Stored(ContainerName, Option<ContainerState>),
    NodeEntry(NodeName, ContainerName, Option<ContainerEntry>),
    Model(ModelName, Option<(ModelState, Counts<ContainerState>)>),
    /// A model's whole entry, before it was dropped.
    ModelEntry(ModelName, Option<ModelEntry>),
    Link(ModelName, PackageName, Option<u32>),
    PackageState {
        package: PackageName,
        existed: bool,
        state: Option<PackageState>,
        models: Counts<ModelState>,
    },
    Member {
        package: PackageName,
        existed: bool,
        model: ModelName,
        was_member: bool,
    },
    Artifact {
        package: PackageName,
        existed: bool,
        artifact: Option<Vec<ModelName>>,
    },
    Package(PackageName, Option<PackageEntry>),
    Scenario(ScenarioName, Option<ScenarioEntry>),
    TargetedBy(PackageName, Option<BTreeSet<ScenarioName>>),
}

impl Undo {
    pub(super) fn new(generation: u64) -> Self {
        Undo {
            generation,
            steps: Vec::new(),
        }
    }

    /// Records what `op` is about to overwrite.
    pub(super) fn record(&mut self, fleet: &Fleet, op: &Op) {
        let steps = &mut self.steps;
        let node_entry = |node: &NodeName, name: &ContainerName| {
            Step::NodeEntry(
                node.clone(),
                name.clone(),
                fleet.nodes.get(node).and_then(|l| l.get(name)).cloned(),
            )
        };
        match op {
            Op::PutOnNode(node, name, _) => {
                steps.push(Step::Stored(
                    name.clone(),
                    fleet.stored_containers.get(name).copied(),
                ));
                steps.push(Step::Owner(name.clone(), fleet.owner.get(name).cloned()));
                steps.push(node_entry(node, name));
            }
            Op::RemoveFromNode(node, name) => {
                steps.push(Step::Owner(name.clone(), fleet.owner.get(name).cloned()));
                steps.push(node_entry(node, name));
            }
            Op::SetModel(name, _, _) => steps.push(Step::Model(
                name.clone(),
                fleet.models.get(name).map(|m| (m.state, m.containers)),
            )),
            Op::DropModel(name) => {
                steps.push(Step::ModelEntry(
                    name.clone(),
                    fleet.models.get(name).cloned(),
                ));
            }
            Op::SetLink(model, package, _) => steps.push(Step::Link(
                model.clone(),
                package.clone(),
                fleet
                    .models
                    .get(model)
                    .and_then(|m| m.links.get(package))
                    .copied(),
            )),
            Op::SetPackage(package, _, _) => {
                let p = fleet.packages.get(package);
                steps.push(Step::PackageState {
                    package: package.clone(),
                    existed: p.is_some(),
                    state: p.and_then(|p| p.state),
                    models: p.map(|p| p.models).unwrap_or_default(),
                });
            }
            Op::Join(package, model) | Op::Leave(package, model) => {
                let p = fleet.packages.get(package);
                steps.push(Step::Member {
                    package: package.clone(),
                    existed: p.is_some(),
                    model: model.clone(),
                    was_member: p.is_some_and(|p| p.members.contains(model)),
                });
            }
            Op::SetArtifact(package, _) => {
                let p = fleet.packages.get(package);
                steps.push(Step::Artifact {
                    package: package.clone(),
                    existed: p.is_some(),
                    artifact: p.and_then(|p| p.artifact.clone()),
                });
            }
            Op::DropPackage(package) => steps.push(Step::Package(
                package.clone(),
                fleet.packages.get(package).cloned(),
            )),
            Op::SetScenarioState(name, _) => steps.push(Step::Scenario(
                name.clone(),
                fleet.scenarios.get(name).cloned(),
            )),
            Op::TargetScenario(name, target) => {
                record_scenario(steps, fleet, name, target.as_ref())
            }
            Op::ForgetScenario(name) => record_scenario(steps, fleet, name, None),
        }
    }
}

/// Records a scenario's entry and the target sets of its old and new target.
fn record_scenario(
    steps: &mut Vec<Step>,
    fleet: &Fleet,
    name: &ScenarioName,
    new_target: Option<&PackageName>,
) {
    let old = fleet.scenarios.get(name);
    steps.push(Step::Scenario(name.clone(), old.cloned()));
    for t in old
        .and_then(|s| s.target.as_ref())
        .into_iter()
        .chain(new_target)
    {
        steps.push(Step::TargetedBy(
            t.clone(),
            fleet.targeted_by.get(t).cloned(),
        ));
    }
}

impl Fleet {
    /// Puts back what the commit that returned `undo` changed. Undo commits in the reverse of
    /// the order they were made.
    pub fn undo(&mut self, undo: Undo) -> Result<(), StalePlan> {
        if self.generation != undo.generation + 1 {
            return Err(StalePlan {
                planned: undo.generation + 1,
                current: self.generation,
            });
        }
        for step in undo.steps.into_iter().rev() {
            self.restore(step);
        }
        self.generation = undo.generation;
        Ok(())
    }

    fn restore(&mut self, step: Step) {
        match step {
            Step::Owner(name, prev) => match prev {
                Some(node) => {
                    self.owner.insert(name, node);
                }
                None => {
                    self.owner.remove(&name);
                }
            },
            Step::Stored(name, prev) => match prev {
                Some(state) => {
                    self.stored_containers.insert(name, state);
                }
                None => {
                    self.stored_containers.remove(&name);
                }
            },
            Step::NodeEntry(node, name, prev) => match prev {
                Some(entry) => {
                    self.nodes.entry(node).or_default().insert(name, entry);
                }
                None => {
                    if let Some(list) = self.nodes.get_mut(&node) {
                        list.remove(&name);
                        if list.is_empty() {
                            self.nodes.remove(&node);
                        }
                    }
                }
            },
            Step::Model(name, prev) => match prev {
                Some((state, containers)) => {
                    if let Some(m) = self.models.get_mut(&name) {
                        m.state = state;
                        m.containers = containers;
                    }
                }
                None => {
                    self.models.remove(&name);
                }
            },
            Step::ModelEntry(name, prev) => match prev {
                Some(entry) => {
                    self.models.insert(name, entry);
                }
                None => {
                    self.models.remove(&name);
                }
            },
            Step::Link(model, package, prev) => {
                if let Some(m) = self.models.get_mut(&model) {
                    match prev {
                        Some(refs) => {
                            m.links.insert(package, refs);
                        }
                        None => {
                            m.links.remove(&package);
                        }
                    }
                }
            }
            Step::PackageState {
                package,
                existed,
                state,
                models,
            } => {
                if !existed {
                    self.packages.remove(&package);
                } else if let Some(p) = self.packages.get_mut(&package) {
                    p.state = state;
                    p.models = models;
                }
            }
            Step::Member {
                package,
                existed,
                model,
                was_member,
            } => {
                if !existed {
                    self.packages.remove(&package);
                } else if let Some(p) = self.packages.get_mut(&package) {
                    if was_member {
                        p.members.insert(model);
                    } else {
                        p.members.remove(&model);
                    }
                }
            }
            Step::Artifact {
                package,
                existed,
                artifact,
            } => {
                if !existed {
                    self.packages.remove(&package);
                } else if let Some(p) = self.packages.get_mut(&package) {
                    p.artifact = artifact;
                }
            }
            Step::Package(package, prev) => match prev {
                Some(entry) => {
                    self.packages.insert(package, entry);
                }
                None => {
                    self.packages.remove(&package);
                }
            },
            Step::Scenario(name, prev) => match prev {
                Some(entry) => {
                    self.scenarios.insert(name, entry);
                }
                None => {
                    self.scenarios.remove(&name);
                }
            },
            Step::TargetedBy(package, prev) => match prev {
                Some(set) => {
                    self.targeted_by.insert(package, set);
                }
                None => {
                    self.targeted_by.remove(&package);
                }
            },
        }
    }
}

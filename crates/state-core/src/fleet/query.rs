//! What the fleet answers: states, counts, memberships and the table row behind a state.

use alloc::vec::Vec;

use hashbrown::HashMap;

use super::{ContainerEntry, Fleet};
use crate::{
    ContainerState, ModelState, PackageState, ScenarioState,
    eval::{evaluate_model, evaluate_package},
    kind::{Kind, ModelKind, PackageKind, Resource, ScenarioKind, State, Stateful},
    name::{ContainerName, ModelName, NodeName, PackageName, ScenarioName},
    table::{Counts, Decision},
};

impl Fleet {
    /// The model's current state.
    pub fn model_state(&self, model: &str) -> Option<ModelState> {
        self.models.get(model).map(|m| m.state)
    }

    /// The package's current state.
    pub fn package_state(&self, package: &str) -> Option<PackageState> {
        self.packages.get(package).and_then(|p| p.state)
    }

    /// The scenario's current state.
    pub fn scenario_state(&self, scenario: &str) -> Option<ScenarioState> {
        self.scenarios.get(scenario).and_then(|s| s.state)
    }

    /// The container's current (or last stored) state.
    pub fn container_state(&self, container: &str) -> Option<ContainerState> {
        match self.owner.get(container) {
            Some(node) => self
                .nodes
                .get(node)
                .and_then(|l| l.get(container))
                .map(|e| e.state),
            None => self.stored_containers.get(container).copied(),
        }
    }

    /// A node's containers as the fleet holds them, as the report that would restate them.
    pub fn reported(&self, node: &NodeName) -> Vec<crate::container::ReportedContainer> {
        self.nodes
            .get(node)
            .map(|list| {
                list.iter()
                    .map(|(name, e)| crate::container::ReportedContainer {
                        name: name.clone(),
                        state: e.state,
                        model: e.model.clone(),
                        package: e.package.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many containers, models, packages and scenarios are in each state:
    /// `(kind, state, count)`, with the short spelling of each state, sorted.
    pub fn census(&self) -> Vec<(&'static str, &'static str, usize)> {
        let mut counts: alloc::collections::BTreeMap<(&'static str, &'static str), usize> =
            alloc::collections::BTreeMap::new();
        let mut count = |kind, state| *counts.entry((kind, state)).or_default() += 1;
        for list in self.nodes.values() {
            for e in list.values() {
                count("container", e.state.short());
            }
        }
        for m in self.models.values() {
            count("model", m.state.short());
        }
        for p in self.packages.values() {
            if let Some(s) = p.state {
                count("package", s.short());
            }
        }
        for s in self.scenarios.values() {
            if let Some(s) = s.state {
                count("scenario", s.short());
            }
        }
        counts.into_iter().map(|((k, s), n)| (k, s, n)).collect()
    }

    /// Containers whose state is stored but that no node reports (yet), with that state.
    pub fn stored_containers(&self) -> impl Iterator<Item = (&ContainerName, ContainerState)> {
        self.stored_containers.iter().map(|(c, s)| (c, *s))
    }

    /// The scenario that reconcile requests for this package name (the first by name).
    pub fn scenario_for(&self, package: &str) -> Option<&ScenarioName> {
        self.targeted_by.get(package).and_then(|s| s.iter().next())
    }

    /// Why the model has its state: the model-table row that its containers select now.
    /// When the model was set directly, its state may differ from this decision.
    pub fn explain_model(&self, model: &str) -> Option<Decision<ModelState>> {
        self.models
            .get(model)
            .map(|m| evaluate_model(Some(&m.containers)))
    }

    /// Why the package has its state: the package-table row that its models select now.
    pub fn explain_package(&self, package: &str) -> Option<Decision<PackageState>> {
        self.packages
            .get(package)
            .map(|p| evaluate_package(&p.models))
    }

    /// Per-state counts of the model's containers.
    pub fn model_counts(&self, model: &str) -> Option<Counts<ContainerState>> {
        self.models.get(model).map(|m| m.containers)
    }

    /// Per-state counts of the package's models.
    pub fn package_counts(&self, package: &str) -> Option<Counts<ModelState>> {
        self.packages.get(package).map(|p| p.models)
    }

    /// Every model with its state.
    pub fn models(&self) -> impl Iterator<Item = (&ModelName, ModelState)> {
        self.models.iter().map(|(n, m)| (n, m.state))
    }

    /// Every package with its state (`None` before its first evaluation).
    pub fn packages(&self) -> impl Iterator<Item = (&PackageName, Option<PackageState>)> {
        self.packages.iter().map(|(n, p)| (n, p.state))
    }

    /// The models of a package (listed by its artifact or joined by annotation).
    pub fn members(&self, package: &str) -> impl Iterator<Item = &ModelName> {
        self.packages
            .get(package)
            .into_iter()
            .flat_map(|p| p.members.iter())
    }

    /// The models a package artifact lists, if the artifact is known.
    pub fn artifact_models(&self, package: &str) -> Option<&[ModelName]> {
        self.packages.get(package)?.artifact.as_deref()
    }

    /// The packages a model belongs to.
    pub fn packages_of(&self, model: &str) -> impl Iterator<Item = &PackageName> {
        self.models
            .get(model)
            .into_iter()
            .flat_map(|m| m.links.keys())
    }

    /// Every node with its reported containers.
    pub fn nodes(
        &self,
    ) -> impl Iterator<Item = (&NodeName, &HashMap<ContainerName, ContainerEntry>)> {
        self.nodes.iter()
    }

    /// Every scenario with its state and target.
    pub fn scenarios(
        &self,
    ) -> impl Iterator<Item = (&ScenarioName, Option<ScenarioState>, Option<&PackageName>)> {
        self.scenarios
            .iter()
            .map(|(n, s)| (n, s.state, s.target.as_ref()))
    }

    /// Number of reported containers across all nodes.
    pub fn container_count(&self) -> usize {
        self.owner.len()
    }

    /// The stored state of one resource.
    pub fn state(&self, resource: &Resource) -> Option<State> {
        match resource {
            Resource::Scenario(n) => ScenarioKind::stored(self, n).map(State::Scenario),
            Resource::Package(n) => PackageKind::stored(self, n).map(State::Package),
            Resource::Model(n) => ModelKind::stored(self, n).map(State::Model),
        }
    }

    /// Every resource of a kind that has a state, sorted by name.
    pub fn states(&self, kind: Kind) -> Vec<(Resource, State)> {
        let mut out: Vec<(Resource, State)> = match kind {
            Kind::Scenario => self
                .scenarios()
                .filter_map(|(n, s, _)| Some((Resource::Scenario(n.clone()), State::Scenario(s?))))
                .collect(),
            Kind::Package => self
                .packages()
                .filter_map(|(n, s)| Some((Resource::Package(n.clone()), State::Package(s?))))
                .collect(),
            Kind::Model => self
                .models()
                .map(|(n, s)| (Resource::Model(n.clone()), State::Model(s)))
                .collect(),
        };
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

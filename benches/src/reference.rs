//! The baseline: the approach of the seed design's section 7, written out plainly.
//!
//! - Container states are `HashMap<String, String>` (container name -> state string), as the
//!   seed's `get_container_states_for_model` returns them; model states are
//!   `HashMap<String, ModelState>`, as its `get_model_states_for_package` returns them.
//! - States are compared as strings (`s == "paused"`).
//! - On every event each affected model is re-evaluated from scratch: its containers are found
//!   by scanning every stored container (the in-memory analogue of the seed's prefix query on
//!   `/container/`), and every package that lists the model is found by scanning every
//!   package, then re-evaluated from its models' states.
//!
//! Where this is kinder than the seed: package artifacts are held parsed in memory (the seed
//! reads and parses them from the store on each change), only containers whose state string
//! changed trigger a cascade, and a model reached by several changed containers is evaluated
//! once per event.
//!
//! Where its rules differ from ours (`docs/contract.md#model-table`, `docs/contract.md#package-table`), kept here on purpose because they
//! are the seed's:
//! - a model with no containers, and a package with no models, evaluate "all paused" on an
//!   empty list and come out Paused (ours: Created, and Idle);
//! - a package whose models are all Created is Running (ours: Idle);
//! - the container state is the lower-cased podman `Status` alone: the `Dead` and `OOMKilled`
//!   flags and non-zero exit codes are ignored (`docs/contract.md#defects-not-repeated` lists this), and `stopped`,
//!   `configured`, `stopping`, `removing` are kept as they are.

use std::collections::{HashMap, HashSet};

use state_core::{ModelState, PackageState};

/// Container state string from a podman `state` map: the lower-cased `Status`.
pub fn container_state(state: &HashMap<String, String>) -> String {
    state
        .get("Status")
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// A container entry as the reference sees it: its name, model and state string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classified {
    /// The name, without a leading `/`.
    pub name: String,
    /// The model: the name up to the first underscore.
    pub model: Option<String>,
    /// The state string.
    pub state: String,
}

/// Name, model and state of one `ContainerInfo`, by string handling alone.
pub fn classify(names: &[String], state: &HashMap<String, String>) -> Option<Classified> {
    let name = names.first()?.trim_start_matches('/').to_string();
    if name.is_empty() {
        return None;
    }
    let model = name.split_once('_').map(|(m, _)| m.to_string());
    Some(Classified {
        name,
        model,
        state: container_state(state),
    })
}

/// Model state from its containers: the seed's section 7.1 sample, verbatim in substance.
pub fn evaluate_model_state_from_containers(
    container_states: &HashMap<String, String>,
) -> ModelState {
    match container_states {
        // All containers paused -> Model Paused
        states if states.values().all(|s| s == "paused") => ModelState::Paused,
        // All containers exited -> Model Exited
        states if states.values().all(|s| s == "exited") => ModelState::Exited,
        // Any container dead -> Model Dead
        states if states.values().any(|s| s == "dead") => ModelState::Dead,
        // Default -> Model Running
        _ => ModelState::Running,
    }
}

/// Package state from its models: the seed's section 7.2 sample, verbatim in substance.
pub fn evaluate_package_state_from_models(
    model_states: &HashMap<String, ModelState>,
) -> PackageState {
    let dead_count = model_states
        .values()
        .filter(|&s| *s == ModelState::Dead)
        .count();
    let total_count = model_states.len();
    match (dead_count, total_count) {
        _ if model_states.values().all(|s| *s == ModelState::Paused) => PackageState::Paused,
        _ if model_states.values().all(|s| *s == ModelState::Exited) => PackageState::Exited,
        (dead, total) if dead == total && total > 0 => PackageState::Error,
        (dead, _) if dead > 0 => PackageState::Degraded,
        _ => PackageState::Running,
    }
}

/// What one event changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Container keys written.
    pub container_puts: Vec<String>,
    /// Container keys deleted.
    pub container_deletes: Vec<String>,
    /// Models whose state changed, with the new state.
    pub models: Vec<(String, ModelState)>,
    /// Packages whose state changed, with the new state.
    pub packages: Vec<(String, PackageState)>,
}

/// The reference StateManager's in-memory store.
#[derive(Clone, Debug, Default)]
pub struct Reference {
    /// `/container/{name}/state`
    containers: HashMap<String, String>,
    /// Each node's last list (container names).
    nodes: HashMap<String, Vec<String>>,
    /// `/model/{name}/state`
    models: HashMap<String, ModelState>,
    /// `/package/{name}/state`
    packages: HashMap<String, PackageState>,
    /// `Package/{name}` artifacts: the models each lists.
    artifacts: HashMap<String, Vec<String>>,
}

impl Reference {
    /// A store holding these package artifacts and no states.
    pub fn new(artifacts: &[(String, Vec<String>)]) -> Self {
        Reference {
            artifacts: artifacts.iter().cloned().collect(),
            ..Reference::default()
        }
    }

    /// Stores a node's list without evaluating anything (for setting up a large fleet; see
    /// [`Reference::evaluate_all`]).
    pub fn load(&mut self, node: &str, list: &[(String, String)]) {
        for (name, state) in list {
            self.containers.insert(name.clone(), state.clone());
        }
        self.nodes.insert(
            node.to_string(),
            list.iter().map(|(n, _)| n.clone()).collect(),
        );
    }

    /// Evaluates every model and package once, grouping containers in one pass (set-up only).
    pub fn evaluate_all(&mut self) {
        let mut by_model: HashMap<String, HashMap<String, String>> = HashMap::new();
        for (name, state) in &self.containers {
            if let Some((model, _)) = name.split_once('_') {
                by_model
                    .entry(model.to_string())
                    .or_default()
                    .insert(name.clone(), state.clone());
            }
        }
        for (model, states) in &by_model {
            self.models
                .insert(model.clone(), evaluate_model_state_from_containers(states));
        }
        let packages: Vec<String> = self.artifacts.keys().cloned().collect();
        for package in packages {
            let states = self.get_model_states_for_package(&package);
            self.packages
                .insert(package, evaluate_package_state_from_models(&states));
        }
    }

    /// A node's new full list: store changed container states, delete vanished containers,
    /// and cascade from each affected model to its packages.
    pub fn handle_report(&mut self, node: &str, list: &[(String, String)]) -> Outcome {
        let mut out = Outcome::default();
        let mut affected: Vec<String> = Vec::new();
        let mut note = |name: &str| {
            if let Some((model, _)) = name.split_once('_') {
                if !affected.iter().any(|m| m == model) {
                    affected.push(model.to_string());
                }
            }
        };
        if let Some(old) = self.nodes.get(node) {
            let listed: HashSet<&str> = list.iter().map(|(n, _)| n.as_str()).collect();
            for name in old {
                if !listed.contains(name.as_str()) {
                    self.containers.remove(name);
                    out.container_deletes.push(name.clone());
                    note(name);
                }
            }
        }
        for (name, state) in list {
            if self.containers.get(name) != Some(state) {
                self.containers.insert(name.clone(), state.clone());
                out.container_puts.push(name.clone());
                note(name);
            }
        }
        self.nodes.insert(
            node.to_string(),
            list.iter().map(|(n, _)| n.clone()).collect(),
        );
        for model in affected {
            self.cascade(&model, &mut out);
        }
        out
    }

    /// Container -> model -> packages, re-evaluated from scratch.
    fn cascade(&mut self, model: &str, out: &mut Outcome) {
        let states = self.get_container_states_for_model(model);
        let new = evaluate_model_state_from_containers(&states);
        if self.models.insert(model.to_string(), new) != Some(new) {
            out.models.push((model.to_string(), new));
        }
        let packages: Vec<String> = self
            .artifacts
            .iter()
            .filter(|(_, models)| models.iter().any(|m| m == model))
            .map(|(p, _)| p.clone())
            .collect();
        for package in packages {
            let states = self.get_model_states_for_package(&package);
            let new = evaluate_package_state_from_models(&states);
            if self.packages.insert(package.clone(), new) != Some(new) {
                out.packages.push((package, new));
            }
        }
    }

    /// Every container of the model, found by scanning all containers for `{model}_`.
    pub fn get_container_states_for_model(&self, model: &str) -> HashMap<String, String> {
        let prefix = format!("{model}_");
        self.containers
            .iter()
            .filter(|(name, _)| name.starts_with(&prefix))
            .map(|(name, state)| (name.clone(), state.clone()))
            .collect()
    }

    /// Every model the package's artifact lists, with its stored state.
    pub fn get_model_states_for_package(&self, package: &str) -> HashMap<String, ModelState> {
        self.artifacts
            .get(package)
            .into_iter()
            .flatten()
            .filter_map(|m| self.models.get(m).map(|s| (m.clone(), *s)))
            .collect()
    }

    /// Every model with its state.
    pub fn models(&self) -> &HashMap<String, ModelState> {
        &self.models
    }

    /// Every package with its state.
    pub fn packages(&self) -> &HashMap<String, PackageState> {
        &self.packages
    }
}

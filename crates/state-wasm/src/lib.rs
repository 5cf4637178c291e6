//! WebAssembly bindings of state-core, for the browser state-transition explorer (`web/`).
//!
//! A shim: each export converts its arguments ([`interop`]), calls state-core (or
//! state-artifact, the one artifact reader the daemon uses too), and converts the result. No
//! rule lives here. Errors reach JavaScript as real `Error` objects whose `message` is the core
//! error's text.
//!
//! The exports, by JS name:
//!
//! - `Fleet`: the cascade planner. `reportNode`, `setContainer`, `removeContainer`,
//!   `putPackage`, `removePackage`, `putScenario`, `removeScenario`, `setModel`, `setPackage`
//!   each apply one event and return its plan (changed containers, models, packages, and the
//!   reconcile requests a package entering Error triggers); `view`, `explainModel`,
//!   `explainPackage` and the `*State` getters read.
//! - `containerState(fields)`: the container-state table on raw NodeAgent fields.
//! - `decideScenario(...)`: `SendStateChange` semantics for a scenario step.
//! - `tables()`, `states()`, `scenarioTransitions()`: the rules as data, for drawing.
//! - `parseArtifacts(yaml)`: Scenario / Package / Model documents.
//! - `validateName(kind, name)`: the naming rules.

pub mod interop;

use std::collections::BTreeMap;

use state_core::{
    ContainerState, ModelState, PackageState, ResourceType, ScenarioState,
    change::{ChangeRequest, ValidChange, decide, validate},
    container::ReportedContainer,
    eval::{MODEL_TABLE, PACKAGE_TABLE},
    fleet::{self, Event},
    name::{ContainerName, ModelName, NodeName, PackageName, ScenarioName},
};
use wasm_bindgen::prelude::*;

use crate::interop::{ContainerIn, Skipped, error};

/// The fleet: topology and current states, changed one event at a time.
#[wasm_bindgen(js_name = Fleet)]
#[derive(Debug, Default)]
pub struct WasmFleet {
    inner: fleet::Fleet,
}

fn name<T>(value: &str) -> Result<T, JsValue>
where
    T: for<'a> TryFrom<&'a str, Error = state_core::error::NameError>,
{
    T::try_from(value).map_err(error)
}

#[wasm_bindgen(js_class = Fleet)]
impl WasmFleet {
    /// An empty fleet.
    #[wasm_bindgen(constructor)]
    pub fn new() -> WasmFleet {
        WasmFleet::default()
    }

    fn apply(&mut self, event: &Event, skipped: &[Skipped]) -> Result<JsValue, JsValue> {
        let plan = self.inner.apply_event(event);
        interop::plan(&plan, skipped)
    }

    /// A node's full container list (`[{name, fields, annotation?, config?}]`), replacing its
    /// previous one. Invalid entries are skipped and listed in the plan's `skipped`.
    #[wasm_bindgen(js_name = reportNode)]
    pub fn report_node(&mut self, node: &str, containers: JsValue) -> Result<JsValue, JsValue> {
        let node = name::<NodeName>(node)?;
        let list: Vec<ContainerIn> = interop::from_js("containers", &containers)?;
        let mut skipped = Vec::new();
        let mut reported = Vec::with_capacity(list.len());
        for c in &list {
            match c.classify() {
                Ok(r) => reported.push(r),
                Err(e) => skipped.push(Skipped {
                    name: c.name.clone(),
                    error: e.to_string(),
                }),
            }
        }
        self.apply(
            &Event::NodeReport {
                node,
                containers: reported,
            },
            &skipped,
        )
    }

    /// The node's list with one container added or replaced. An invalid container throws.
    #[wasm_bindgen(js_name = setContainer)]
    pub fn set_container(&mut self, node: &str, container: JsValue) -> Result<JsValue, JsValue> {
        let node = name::<NodeName>(node)?;
        let c: ContainerIn = interop::from_js("container", &container)?;
        let new = c.classify().map_err(error)?;
        let mut list = self.node_list(&node);
        list.retain(|r| r.name != new.name);
        list.push(new);
        self.apply(
            &Event::NodeReport {
                node,
                containers: list,
            },
            &[],
        )
    }

    /// The node's list without one container.
    #[wasm_bindgen(js_name = removeContainer)]
    pub fn remove_container(&mut self, node: &str, container: &str) -> Result<JsValue, JsValue> {
        let node = name::<NodeName>(node)?;
        let container = name::<ContainerName>(container)?;
        let mut list = self.node_list(&node);
        list.retain(|r| r.name != container);
        self.apply(
            &Event::NodeReport {
                node,
                containers: list,
            },
            &[],
        )
    }

    fn node_list(&self, node: &NodeName) -> Vec<ReportedContainer> {
        self.inner.reported(node)
    }

    /// A `Package/{name}` artifact listing `models`.
    #[wasm_bindgen(js_name = putPackage)]
    pub fn put_package(&mut self, package: &str, models: Vec<String>) -> Result<JsValue, JsValue> {
        let package = name::<PackageName>(package)?;
        let models = models
            .iter()
            .map(|m| name::<ModelName>(m))
            .collect::<Result<_, _>>()?;
        self.apply(&Event::PutPackage { package, models }, &[])
    }

    /// The `Package/{name}` artifact is deleted.
    #[wasm_bindgen(js_name = removePackage)]
    pub fn remove_package(&mut self, package: &str) -> Result<JsValue, JsValue> {
        let package = name::<PackageName>(package)?;
        self.apply(&Event::RemovePackage { package }, &[])
    }

    /// A `Scenario/{name}` artifact targeting `target` (or nothing).
    #[wasm_bindgen(js_name = putScenario)]
    pub fn put_scenario(
        &mut self,
        scenario: &str,
        target: Option<String>,
    ) -> Result<JsValue, JsValue> {
        let scenario = name::<ScenarioName>(scenario)?;
        let target = target
            .filter(|t| !t.is_empty())
            .map(|t| name::<PackageName>(&t))
            .transpose()?;
        self.apply(&Event::PutScenario { scenario, target }, &[])
    }

    /// The `Scenario/{name}` artifact is deleted.
    #[wasm_bindgen(js_name = removeScenario)]
    pub fn remove_scenario(&mut self, scenario: &str) -> Result<JsValue, JsValue> {
        let scenario = name::<ScenarioName>(scenario)?;
        self.apply(&Event::RemoveScenario { scenario }, &[])
    }

    /// A direct model update (any spelling of a model state); cascades to its packages.
    #[wasm_bindgen(js_name = setModel)]
    pub fn set_model(&mut self, model: &str, state: &str) -> Result<JsValue, JsValue> {
        let model = name::<ModelName>(model)?;
        let state = ModelState::parse(state).map_err(error)?;
        self.apply(&Event::SetModel { model, state }, &[])
    }

    /// A direct package update (any spelling of a package state).
    #[wasm_bindgen(js_name = setPackage)]
    pub fn set_package(&mut self, package: &str, state: &str) -> Result<JsValue, JsValue> {
        let package = name::<PackageName>(package)?;
        let state = PackageState::parse(state).map_err(error)?;
        self.apply(&Event::SetPackage { package, state }, &[])
    }

    /// The model's state (short spelling), or `undefined`.
    #[wasm_bindgen(js_name = modelState)]
    pub fn model_state(&self, model: &str) -> Option<String> {
        self.inner.model_state(model).map(|s| s.short().into())
    }

    /// The package's state (short spelling), or `undefined`.
    #[wasm_bindgen(js_name = packageState)]
    pub fn package_state(&self, package: &str) -> Option<String> {
        self.inner.package_state(package).map(|s| s.short().into())
    }

    /// The container's state (short spelling), or `undefined`.
    #[wasm_bindgen(js_name = containerState)]
    pub fn container_state(&self, container: &str) -> Option<String> {
        self.inner
            .container_state(container)
            .map(|s| s.short().into())
    }

    /// Number of reported containers.
    #[wasm_bindgen(js_name = containerCount)]
    pub fn container_count(&self) -> usize {
        self.inner.container_count()
    }

    /// The whole fleet: `{containers, models, packages, scenarios}`, each sorted by name.
    pub fn view(&self) -> Result<JsValue, JsValue> {
        interop::view(&self.inner)
    }

    /// Why the model has its state: `{table, row, state, current, counts}`. Throws for an
    /// unknown model.
    #[wasm_bindgen(js_name = explainModel)]
    pub fn explain_model(&self, model: &str) -> Result<JsValue, JsValue> {
        let d = self
            .inner
            .explain_model(model)
            .ok_or_else(|| error(format!("unknown model {model:?}")))?;
        interop::explanation(
            &MODEL_TABLE,
            d,
            self.inner.model_counts(model),
            self.inner.model_state(model),
            ModelState::short,
        )
    }

    /// Why the package has its state: `{table, row, state, current, counts}`. Throws for an
    /// unknown package.
    #[wasm_bindgen(js_name = explainPackage)]
    pub fn explain_package(&self, package: &str) -> Result<JsValue, JsValue> {
        let d = self
            .inner
            .explain_package(package)
            .ok_or_else(|| error(format!("unknown package {package:?}")))?;
        interop::explanation(
            &PACKAGE_TABLE,
            d,
            self.inner.package_counts(package),
            self.inner.package_state(package),
            PackageState::short,
        )
    }
}

/// The container-state table applied to raw NodeAgent fields (`{Status, ExitCode, Dead,
/// OOMKilled, ...}`): `{state, row}`.
#[wasm_bindgen(js_name = containerState)]
pub fn container_state(fields: JsValue) -> Result<JsValue, JsValue> {
    let fields: BTreeMap<String, String> = interop::from_js("fields", &fields)?;
    interop::container_decision(state_core::container::container_state(&fields))
}

/// `SendStateChange` for a scenario: validation, compare-and-set against `stored` (`""` or
/// `undefined`: absent), the no-op rule, the transition table and the owner check (refusing
/// only when `strict`). Returns `{outcome, target, wrongOwner}`; a refusal throws an `Error`
/// whose `code` is the wire error code.
#[wasm_bindgen(js_name = decideScenario)]
pub fn decide_scenario_change(
    scenario: &str,
    stored: Option<String>,
    current: &str,
    target: &str,
    source: &str,
    strict: bool,
) -> Result<JsValue, JsValue> {
    let req = ChangeRequest {
        resource_type: ResourceType::Scenario,
        name: scenario,
        current,
        target,
        source,
    };
    let change = match validate(&req) {
        Ok(ValidChange::Scenario(c)) => c,
        Ok(_) => return Err(error("not a scenario change")),
        Err(e) => return Err(interop::coded_error(&e, e.kind())),
    };
    let stored = match stored.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(ScenarioState::parse(s).map_err(error)?),
    };
    let outcome =
        decide(&change, stored, source, strict).map_err(|e| interop::coded_error(&e, e.kind()))?;
    interop::scenario_outcome(&outcome, change.target)
}

/// The container, model and package decision tables: `{container, model, package}`, each
/// `{name, rows: [{when, then}]}`.
#[wasm_bindgen]
pub fn tables() -> Result<JsValue, JsValue> {
    interop::tables()
}

/// Every state of each kind: `{container, model, package, scenario}`.
#[wasm_bindgen]
pub fn states() -> Result<JsValue, JsValue> {
    interop::states()
}

/// The scenario transition table: `[{from, to, owners}]` (`from` is `null` for a new
/// scenario).
#[wasm_bindgen(js_name = scenarioTransitions)]
pub fn scenario_transitions() -> Result<JsValue, JsValue> {
    interop::transitions()
}

/// Reads a (multi-document) artifact YAML file with the daemon's reader:
/// `{artifacts: [{kind, name, ...}], errors: [message], problems: [{document, line, message}]}`
/// (`line` counts from 1: where the YAML reader stopped, or the line that starts the document).
#[wasm_bindgen(js_name = parseArtifacts)]
pub fn parse_artifacts(yaml: &str) -> Result<JsValue, JsValue> {
    interop::artifacts(yaml, &state_artifact::parse(yaml))
}

/// A state of `kind` (`container`, `model`, `package`, `scenario`) in any spelling state-core
/// accepts (the stored `MODEL_STATE_RUNNING` or `running`) as its short name; throws an `Error`
/// for an unknown kind or state. The explorer attached to a daemon reads the daemon's stored
/// spellings with it.
#[wasm_bindgen(js_name = shortState)]
pub fn short_state(kind: &str, state: &str) -> Result<String, JsValue> {
    let short = match kind {
        "container" => ContainerState::parse(state).map(ContainerState::short),
        "model" => ModelState::parse(state).map(ModelState::short),
        "package" => PackageState::parse(state).map(PackageState::short),
        "scenario" => ScenarioState::parse(state).map(ScenarioState::short),
        other => return Err(error(format!("unknown kind of state {other:?}"))),
    };
    short.map(str::to_owned).map_err(error)
}

/// Checks a name of the given kind (`container`, `model`, `package`, `scenario`, `node`);
/// throws an `Error` saying what is wrong.
#[wasm_bindgen(js_name = validateName)]
pub fn validate_name(kind: &str, value: &str) -> Result<(), JsValue> {
    let known = match kind {
        "container" => ContainerName::KIND,
        "model" => ModelName::KIND,
        "package" => PackageName::KIND,
        "scenario" => ScenarioName::KIND,
        "node" => NodeName::KIND,
        other => return Err(error(format!("unknown kind of name {other:?}"))),
    };
    state_core::name::validate_name(known, value).map_err(error)
}

/// The name Pullpiri's NodeAgent gives container `container` of model `model`
/// (`{model}_{container}`).
#[wasm_bindgen(js_name = nodeAgentName)]
pub fn node_agent_name(model: &str, container: &str) -> String {
    state_core::container::node_agent_name(model, container)
}

/// The part of a NodeAgent container name after its model, or `undefined` when the name does
/// not follow the convention for that model.
#[wasm_bindgen(js_name = nodeAgentSuffix)]
pub fn node_agent_suffix(name: &str, model: &str) -> Option<String> {
    state_core::container::node_agent_suffix(name, model).map(str::to_owned)
}

/// The pod statuses a reconcile request carries: `{current, desired}` (`FAILED`, `RUNNING`).
#[wasm_bindgen(js_name = reconcileStatuses)]
pub fn reconcile_statuses() -> Result<JsValue, JsValue> {
    interop::reconcile_statuses()
}

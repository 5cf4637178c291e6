//! Every conversion between JavaScript values and state-core types lives here.
//!
//! Values cross the boundary as JSON (`JSON.stringify` / `JSON.parse` on the JS side, serde on
//! ours): one path for every shape, plain JS objects out, and large views (a 10,000-container
//! fleet) cost one string instead of tens of thousands of boundary calls. Errors become real JS
//! `Error`s whose `message` is the core error's `Display`; errors that map onto a wire error code
//! also carry it as `code`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use state_artifact::{Artifact, ArtifactError, Parsed};
use state_core::{
    ContainerState, ModelState, PackageState, ScenarioState,
    change::ErrorKind,
    container::{CONTAINER_RULES, ContainerRule, EntryError, Limits, RawContainer, Then},
    fleet::{Changes, Fleet, Reconcile, Update},
    table::{Counted, Counts, Decision, Table},
};
use wasm_bindgen::JsValue;

/// A JS `Error` with `message`.
pub fn error(message: impl std::fmt::Display) -> JsValue {
    js_sys::Error::new(&message.to_string()).into()
}

/// A JS `Error` with `message` and a `code` property (the wire `ErrorCode` value name).
pub fn coded_error(message: impl std::fmt::Display, kind: ErrorKind) -> JsValue {
    let e = js_sys::Error::new(&message.to_string());
    // Setting a property on a fresh Error object cannot fail; if it did, the message remains.
    let _ = js_sys::Reflect::set(&e, &"code".into(), &error_code(kind).into());
    e.into()
}

/// The wire `ErrorCode` value name of an error category.
pub fn error_code(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest => "ERROR_CODE_INVALID_REQUEST",
        ErrorKind::PreconditionFailed => "ERROR_CODE_PRECONDITION_FAILED",
        ErrorKind::InvalidStateTransition => "ERROR_CODE_INVALID_STATE_TRANSITION",
        ErrorKind::PermissionDenied => "ERROR_CODE_PERMISSION_DENIED",
    }
}

/// Any serialisable value as a plain JS value.
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value).map_err(error)?;
    js_sys::JSON::parse(&text)
}

/// A JS value read into `T`; a shape mismatch throws an `Error` naming what was wrong.
pub fn from_js<T: DeserializeOwned>(what: &str, value: &JsValue) -> Result<T, JsValue> {
    let text: String = js_sys::JSON::stringify(value)
        .map_err(|_| error(format!("{what}: not JSON-serialisable")))?
        .into();
    serde_json::from_str(&text).map_err(|e| error(format!("{what}: {e}")))
}

/// A container as the explorer (or a NodeAgent) describes it: the raw podman inspect fields
/// (`Status`, `ExitCode`, `Dead`, `OOMKilled`, ...) and the maps membership reads.
#[derive(Clone, Debug, Deserialize)]
pub struct ContainerIn {
    /// The container name (`{model}_{rest}`).
    pub name: String,
    /// The `state` map of `ContainerInfo`.
    #[serde(default, alias = "state")]
    pub fields: BTreeMap<String, String>,
    /// The `annotation` map.
    #[serde(default)]
    pub annotation: BTreeMap<String, String>,
    /// The `config` map.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

impl ContainerIn {
    /// Validates the container and derives its state and membership, through the core rules.
    pub fn classify(&self) -> Result<state_core::container::ReportedContainer, EntryError> {
        let names = [self.name.clone()];
        RawContainer {
            id: "",
            names: &names,
            state: &self.fields,
            config: &self.config,
            annotation: &self.annotation,
        }
        .classify(&Limits::default())
    }
}

#[derive(Serialize)]
struct Put<'a> {
    name: &'a str,
    state: &'static str,
}

#[derive(Serialize)]
struct Changed<'a> {
    name: &'a str,
    old: Option<&'static str>,
    new: &'static str,
}

/// The `ReconcileRequest` the daemon would send to the ActionController
/// (`docs/contract.md#reconcile`).
#[derive(Serialize)]
struct ReconcileRequest<'a> {
    scenario_name: &'a str,
    current: &'static str,
    desired: &'static str,
}

#[derive(Serialize)]
struct ReconcileOut<'a> {
    package: &'a str,
    scenario: Option<&'a str>,
    request: ReconcileRequest<'a>,
}

/// A container entry that was skipped, and why.
#[derive(Debug, Serialize)]
pub struct Skipped {
    /// The entry's name as given.
    pub name: String,
    /// Why it was skipped.
    pub error: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlanOut<'a> {
    containers: Vec<Put<'a>>,
    container_deletes: Vec<&'a str>,
    models: Vec<Changed<'a>>,
    model_deletes: Vec<&'a str>,
    packages: Vec<Changed<'a>>,
    package_deletes: Vec<&'a str>,
    scenarios: Vec<Changed<'a>>,
    reconciles: Vec<ReconcileOut<'a>>,
    unassigned: Vec<&'a str>,
    skipped: &'a [Skipped],
}

fn changed<N: AsRef<str>, S: Copy>(u: &Update<N, S>, short: fn(S) -> &'static str) -> Changed<'_> {
    Changed {
        name: u.name.as_ref(),
        old: u.old.map(short),
        new: short(u.new),
    }
}

fn reconcile(r: &Reconcile) -> ReconcileOut<'_> {
    let scenario = r.scenario.as_ref().map(|s| s.as_str());
    ReconcileOut {
        package: r.package.as_str(),
        scenario,
        request: ReconcileRequest {
            scenario_name: scenario.unwrap_or(""),
            current: Reconcile::CURRENT.name(),
            desired: Reconcile::DESIRED.name(),
        },
    }
}

/// `{current, desired}`: the pod statuses of every reconcile request.
pub fn reconcile_statuses() -> Result<JsValue, JsValue> {
    #[derive(Serialize)]
    struct Statuses {
        current: &'static str,
        desired: &'static str,
    }
    to_js(&Statuses {
        current: Reconcile::CURRENT.name(),
        desired: Reconcile::DESIRED.name(),
    })
}

/// A plan as a plain object: what changed, with states in their short (lower-case) spelling.
pub fn plan(plan: &Changes, skipped: &[Skipped]) -> Result<JsValue, JsValue> {
    to_js(&PlanOut {
        containers: plan
            .container_puts
            .iter()
            .map(|(n, s)| Put {
                name: n.as_str(),
                state: s.short(),
            })
            .collect(),
        container_deletes: plan.container_deletes.iter().map(|n| n.as_str()).collect(),
        models: plan
            .models
            .iter()
            .map(|u| changed(u, ModelState::short))
            .collect(),
        model_deletes: plan.model_deletes.iter().map(|n| n.as_str()).collect(),
        packages: plan
            .packages
            .iter()
            .map(|u| changed(u, PackageState::short))
            .collect(),
        package_deletes: plan.package_deletes.iter().map(|n| n.as_str()).collect(),
        scenarios: plan
            .scenarios
            .iter()
            .map(|u| changed(u, ScenarioState::short))
            .collect(),
        reconciles: plan.reconciles.iter().map(reconcile).collect(),
        unassigned: plan.unassigned.iter().map(|n| n.as_str()).collect(),
        skipped,
    })
}

#[derive(Serialize)]
struct RowOut {
    when: &'static str,
    then: &'static str,
}

#[derive(Serialize)]
struct TableOut {
    name: &'static str,
    rows: Vec<RowOut>,
}

fn table<S: Counted, T: Copy>(t: &Table<S, T>, short: fn(T) -> &'static str) -> TableOut {
    TableOut {
        name: t.name,
        rows: t
            .rows
            .iter()
            .map(|r| RowOut {
                when: r.text,
                then: short(r.then),
            })
            .collect(),
    }
}

fn container_table(rules: &[ContainerRule]) -> TableOut {
    TableOut {
        name: "container state",
        rows: rules
            .iter()
            .map(|r| RowOut {
                when: r.text,
                then: match r.then {
                    Then::State(s) => s.short(),
                    Then::SameAsStatus => "the Status itself",
                },
            })
            .collect(),
    }
}

#[derive(Serialize)]
struct Tables {
    container: TableOut,
    model: TableOut,
    package: TableOut,
}

/// The three decision tables, row by row, in the contract's words.
pub fn tables() -> Result<JsValue, JsValue> {
    to_js(&Tables {
        container: container_table(CONTAINER_RULES),
        model: table(&state_core::eval::MODEL_TABLE, ModelState::short),
        package: table(&state_core::eval::PACKAGE_TABLE, PackageState::short),
    })
}

#[derive(Serialize)]
struct StatesOut {
    container: Vec<&'static str>,
    model: Vec<&'static str>,
    package: Vec<&'static str>,
    scenario: Vec<&'static str>,
}

/// Every state of each kind, short spelling, in wire order.
pub fn states() -> Result<JsValue, JsValue> {
    to_js(&StatesOut {
        container: ContainerState::ALL.iter().map(|s| s.short()).collect(),
        model: ModelState::ALL.iter().map(|s| s.short()).collect(),
        package: PackageState::ALL.iter().map(|s| s.short()).collect(),
        scenario: ScenarioState::ALL.iter().map(|s| s.short()).collect(),
    })
}

#[derive(Serialize)]
struct TransitionOut {
    from: Option<&'static str>,
    to: &'static str,
    owners: Vec<&'static str>,
}

/// The scenario transition table.
pub fn transitions() -> Result<JsValue, JsValue> {
    let out: Vec<TransitionOut> = state_core::scenario::SCENARIO_TRANSITIONS
        .iter()
        .map(|t| TransitionOut {
            from: t.from.map(ScenarioState::short),
            to: t.to.short(),
            owners: t.owners.iter().map(|c| c.name()).collect(),
        })
        .collect();
    to_js(&out)
}

#[derive(Serialize)]
struct DecisionOut {
    state: &'static str,
    row: usize,
}

/// A container-state decision: the state and the deciding row of the container table.
pub fn container_decision(d: Decision<ContainerState>) -> Result<JsValue, JsValue> {
    to_js(&DecisionOut {
        state: d.state.short(),
        row: d.row,
    })
}

#[derive(Serialize)]
struct Explanation {
    /// What the table decides.
    table: &'static str,
    /// The deciding row.
    row: usize,
    /// The state the row gives.
    state: &'static str,
    /// The state the fleet holds (differs from `state` after a direct update).
    current: Option<&'static str>,
    /// Children per state, only the non-zero ones.
    counts: BTreeMap<&'static str, u32>,
}

/// Why a model or package has its state: the deciding row and the counts it looked at.
pub fn explanation<S: Counted, T: Copy>(
    t: &Table<S, T>,
    d: Decision<T>,
    counts: Option<Counts<S>>,
    current: Option<T>,
    short: fn(T) -> &'static str,
) -> Result<JsValue, JsValue> {
    let counts = counts
        .map(|c| {
            S::ALL
                .iter()
                .filter(|s| c.of(**s) > 0)
                .map(|s| (s.short(), c.of(*s)))
                .collect()
        })
        .unwrap_or_default();
    to_js(&Explanation {
        table: t.name,
        row: d.row,
        state: short(d.state),
        current: current.map(short),
        counts,
    })
}

#[derive(Serialize)]
struct ContainerView<'a> {
    name: &'a str,
    node: &'a str,
    state: &'static str,
    model: Option<&'a str>,
    package: Option<&'a str>,
}

#[derive(Serialize)]
struct ModelView<'a> {
    name: &'a str,
    state: &'static str,
    packages: Vec<&'a str>,
}

#[derive(Serialize)]
struct PackageView<'a> {
    name: &'a str,
    state: Option<&'static str>,
    models: Vec<&'a str>,
    scenario: Option<&'a str>,
}

#[derive(Serialize)]
struct ScenarioView<'a> {
    name: &'a str,
    target: Option<&'a str>,
}

#[derive(Serialize)]
struct View<'a> {
    containers: Vec<ContainerView<'a>>,
    models: Vec<ModelView<'a>>,
    packages: Vec<PackageView<'a>>,
    scenarios: Vec<ScenarioView<'a>>,
}

/// The whole fleet as plain data, every list sorted by name.
pub fn view(fleet: &Fleet) -> Result<JsValue, JsValue> {
    let mut containers: Vec<ContainerView<'_>> = fleet
        .nodes()
        .flat_map(|(node, list)| {
            list.iter().map(move |(name, e)| ContainerView {
                name: name.as_str(),
                node: node.as_str(),
                state: e.state.short(),
                model: e.model.as_ref().map(|m| m.as_str()),
                package: e.package.as_ref().map(|p| p.as_str()),
            })
        })
        .collect();
    containers.sort_unstable_by(|a, b| a.name.cmp(b.name));
    let mut models: Vec<ModelView<'_>> = fleet
        .models()
        .map(|(name, state)| {
            let mut packages: Vec<&str> = fleet
                .packages_of(name.as_str())
                .map(|p| p.as_str())
                .collect();
            packages.sort_unstable();
            ModelView {
                name: name.as_str(),
                state: state.short(),
                packages,
            }
        })
        .collect();
    models.sort_unstable_by(|a, b| a.name.cmp(b.name));
    let mut packages: Vec<PackageView<'_>> = fleet
        .packages()
        .map(|(name, state)| {
            // Artifact order first, then models joined by annotation.
            let mut listed: Vec<&str> = fleet
                .artifact_models(name.as_str())
                .unwrap_or(&[])
                .iter()
                .map(|m| m.as_str())
                .collect();
            let mut extra: Vec<&str> = fleet
                .members(name.as_str())
                .map(|m| m.as_str())
                .filter(|m| !listed.contains(m))
                .collect();
            extra.sort_unstable();
            listed.extend(extra);
            PackageView {
                name: name.as_str(),
                state: state.map(PackageState::short),
                models: listed,
                scenario: fleet.scenario_for(name.as_str()).map(|s| s.as_str()),
            }
        })
        .collect();
    packages.sort_unstable_by(|a, b| a.name.cmp(b.name));
    let mut scenarios: Vec<ScenarioView<'_>> = fleet
        .scenarios()
        .map(|(name, _, target)| ScenarioView {
            name: name.as_str(),
            target: target.map(|t| t.as_str()),
        })
        .collect();
    scenarios.sort_unstable_by(|a, b| a.name.cmp(b.name));
    to_js(&View {
        containers,
        models,
        packages,
        scenarios,
    })
}

#[derive(Serialize)]
struct ModelEntryOut<'a> {
    name: &'a str,
    node: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(tag = "kind")]
enum ArtifactOut<'a> {
    Scenario {
        name: &'a str,
        target: Option<&'a str>,
        action: Option<&'a str>,
    },
    Package {
        name: &'a str,
        models: Vec<ModelEntryOut<'a>>,
    },
    Model {
        name: &'a str,
        containers: &'a [String],
    },
}

#[derive(Serialize)]
struct ArtifactsOut<'a> {
    artifacts: Vec<ArtifactOut<'a>>,
    errors: Vec<String>,
    problems: Vec<ProblemOut>,
}

/// A document that could not be read, with where it is: the explorer's import dialog shows
/// each next to its line.
#[derive(Serialize)]
struct ProblemOut {
    document: usize,
    line: usize,
    message: String,
}

/// The documents of artifact file `text`: the valid ones, and one message per bad one (in
/// `errors`, and with its document and line in `problems`).
pub fn artifacts(
    text: &str,
    results: &[Result<Parsed, ArtifactError>],
) -> Result<JsValue, JsValue> {
    let mut out = ArtifactsOut {
        artifacts: Vec::new(),
        errors: Vec::new(),
        problems: Vec::new(),
    };
    for r in results {
        match r {
            Err(e) => {
                out.errors.push(e.to_string());
                out.problems.push(ProblemOut {
                    document: e.document(),
                    line: e.line(text),
                    message: e.to_string(),
                });
            }
            Ok(p) => out.artifacts.push(match &p.artifact {
                Artifact::Scenario(s) => ArtifactOut::Scenario {
                    name: s.name.as_str(),
                    target: s.target.as_ref().map(|t| t.as_str()),
                    action: s.action.as_deref(),
                },
                Artifact::Package(p) => ArtifactOut::Package {
                    name: p.name.as_str(),
                    models: p
                        .models
                        .iter()
                        .map(|m| ModelEntryOut {
                            name: m.name.as_str(),
                            node: m.node.as_ref().map(|n| n.as_str()),
                        })
                        .collect(),
                },
                Artifact::Model(m) => ArtifactOut::Model {
                    name: m.name.as_str(),
                    containers: &m.containers,
                },
            }),
        }
    }
    to_js(&out)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ScenarioOutcome {
    /// `noop` (the target is already stored) or `write`.
    outcome: &'static str,
    /// The target state, short spelling.
    target: &'static str,
    /// The owners of the transition when a non-owner's request was accepted.
    wrong_owner: Option<Vec<&'static str>>,
}

/// The outcome of a scenario `SendStateChange` that passed every check.
pub fn scenario_outcome(
    outcome: &state_core::change::Outcome,
    target: ScenarioState,
) -> Result<JsValue, JsValue> {
    use state_core::change::Outcome;
    to_js(&match outcome {
        Outcome::NoOp => ScenarioOutcome {
            outcome: "noop",
            target: target.short(),
            wrong_owner: None,
        },
        // The explorer decides by the table alone, where steps are never taken on a caller's
        // behalf (that is Pullpiri mode's rule in the daemon); were they, it is a write.
        Outcome::Write { wrong_owner } | Outcome::StepsTaken { wrong_owner, .. } => {
            ScenarioOutcome {
                outcome: "write",
                target: target.short(),
                wrong_owner: wrong_owner.map(|o| o.iter().map(|c| c.name()).collect()),
            }
        }
    })
}

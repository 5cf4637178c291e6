//! Runs every fixture file in `tests/fixtures/` against the core. Each module has one `check`
//! helper; the fixture files are the cases (shared with the wasm tests and the benchmarks).

use serde::Deserialize;
use state_core::{
    ContainerState, ModelState, PackageState, ResourceType, ScenarioState,
    change::{ChangeRequest, ErrorKind, Outcome, ValidChange, decide, validate},
    container::{Limits, RawContainer, container_state},
    eval::{MODEL_TABLE, PACKAGE_TABLE},
    name::{ModelName, validate_name},
    scenario::{Verdict, check_transition},
    table::Counts,
};

#[path = "fixtures/cascade_schema.rs"]
mod cascade_schema;
use cascade_schema::*;

fn load<T: for<'de> Deserialize<'de>>(file: &str) -> Vec<T> {
    #[derive(Deserialize)]
    struct File<T> {
        case: Vec<T>,
    }
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let file: File<T> = toml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(!file.case.is_empty(), "{path} has no cases");
    file.case
}

#[derive(Deserialize)]
struct ContainerCase {
    name: String,
    fields: Map,
    state: String,
    rule: usize,
}

#[test]
fn container_state_fixtures() {
    for case in load::<ContainerCase>("container_state.toml") {
        let got = container_state(&case.fields);
        let want = ContainerState::parse(&case.state).unwrap();
        assert_eq!((got.state, got.row), (want, case.rule), "{}", case.name);
    }
}

#[derive(Deserialize)]
struct MembershipCase {
    name: String,
    names: Vec<String>,
    #[serde(default)]
    id: String,
    #[serde(default)]
    annotation: Map,
    #[serde(default)]
    config: Map,
    #[serde(default)]
    state_fields: Map,
    container: Option<String>,
    model: Option<String>,
    rule: Option<usize>,
    package: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

#[test]
fn membership_fixtures() {
    for case in load::<MembershipCase>("membership.toml") {
        let raw = RawContainer {
            id: &case.id,
            names: &case.names,
            state: &case.state_fields,
            config: &case.config,
            annotation: &case.annotation,
        };
        let result = raw.classify(&Limits::default());
        if let Some(error) = &case.error {
            let err = result.expect_err(&case.name).to_string();
            assert!(
                err.contains(error.as_str()),
                "{}: {err:?} lacks {error:?}",
                case.name
            );
            continue;
        }
        let got = result.unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let want_name = case
            .container
            .clone()
            .unwrap_or_else(|| case.names[0].clone());
        assert_eq!(got.name.as_str(), want_name, "{}", case.name);
        assert_eq!(
            got.model.as_ref().map(|m| m.as_str()),
            case.model.as_deref(),
            "{}",
            case.name
        );
        assert_eq!(
            got.package.as_ref().map(|p| p.as_str()),
            case.package.as_deref(),
            "{}",
            case.name
        );
        if let Some(rule) = case.rule {
            let (_, row) =
                state_core::container::model_of(raw.raw_name(), &case.annotation, &case.config)
                    .unwrap();
            assert_eq!(row, rule, "{}", case.name);
        }
        let want_state = case.state.as_deref().unwrap_or("unknown");
        assert_eq!(
            got.state,
            ContainerState::parse(want_state).unwrap(),
            "{}",
            case.name
        );
    }
}

#[derive(Deserialize)]
struct NameCase {
    input: String,
    valid: bool,
}

#[test]
fn name_fixtures() {
    for case in load::<NameCase>("names.toml") {
        let input = match case.input.strip_prefix("LONG:") {
            Some(n) => "a".repeat(n.parse().unwrap()),
            None => case.input.clone(),
        };
        let result = validate_name("model", &input);
        assert_eq!(result.is_ok(), case.valid, "{:?}: {result:?}", case.input);
        if let Err(e) = result {
            assert!(!e.to_string().is_empty());
        }
        if let Ok(name) = ModelName::new(input.clone()) {
            let key = state_core::key::model_key(&name);
            assert_eq!(key, format!("/model/{input}/state"));
            assert_eq!(
                state_core::key::StateKey::parse(&key),
                Some(state_core::key::StateKey::Model(name))
            );
        }
    }
}

#[derive(Deserialize)]
struct TableCase {
    name: String,
    #[serde(default)]
    lookup_failed: bool,
    #[serde(default)]
    containers: Vec<String>,
    #[serde(default)]
    models: Vec<String>,
    state: String,
    row: usize,
}

#[test]
fn model_table_fixtures() {
    for case in load::<TableCase>("model_table.toml") {
        let counts = Counts::from_states(
            case.containers
                .iter()
                .map(|s| ContainerState::parse(s).unwrap()),
        );
        let got = MODEL_TABLE.decide((!case.lookup_failed).then_some(&counts));
        let want = ModelState::parse(&case.state).unwrap();
        assert_eq!((got.state, got.row), (want, case.row), "{}", case.name);
    }
}

#[test]
fn package_table_fixtures() {
    for case in load::<TableCase>("package_table.toml") {
        let counts = Counts::from_states(case.models.iter().map(|s| ModelState::parse(s).unwrap()));
        let got = PACKAGE_TABLE.decide(Some(&counts));
        let want = PackageState::parse(&case.state).unwrap();
        assert_eq!((got.state, got.row), (want, case.row), "{}", case.name);
    }
}

/// Every row of the model and package tables is the deciding row of some fixture.
#[test]
fn fixtures_cover_every_table_row() {
    let model_rows: Vec<usize> = load::<TableCase>("model_table.toml")
        .iter()
        .map(|c| c.row)
        .collect();
    for row in 0..MODEL_TABLE.rows.len() {
        assert!(
            model_rows.contains(&row),
            "model table row {row} has no fixture"
        );
    }
    let package_rows: Vec<usize> = load::<TableCase>("package_table.toml")
        .iter()
        .map(|c| c.row)
        .collect();
    for row in 0..PACKAGE_TABLE.rows.len() {
        assert!(
            package_rows.contains(&row),
            "package table row {row} has no fixture"
        );
    }
    let container_rows: Vec<usize> = load::<ContainerCase>("container_state.toml")
        .iter()
        .map(|c| c.rule)
        .collect();
    for row in 0..state_core::container::CONTAINER_RULES.len() {
        assert!(
            container_rows.contains(&row),
            "container rule {row} has no fixture"
        );
    }
    let membership_rows: Vec<usize> = load::<MembershipCase>("membership.toml")
        .iter()
        .filter_map(|c| c.rule)
        .collect();
    for row in 0..state_core::container::MODEL_RULES.len() {
        assert!(
            membership_rows.contains(&row),
            "membership rule {row} has no fixture"
        );
    }
    let scenario = load::<ScenarioCase>("scenario.toml");
    for t in state_core::scenario::SCENARIO_TRANSITIONS {
        let covered = scenario.iter().any(|c| {
            c.verdict == "allowed"
                && parse_scenario_opt(&c.from) == t.from
                && ScenarioState::parse(&c.to).unwrap() == t.to
        });
        assert!(
            covered,
            "transition {:?} -> {:?} has no fixture",
            t.from, t.to
        );
    }
}

#[derive(Deserialize)]
struct ScenarioCase {
    from: String,
    to: String,
    source: String,
    verdict: String,
    #[serde(default)]
    allowed: Vec<String>,
}

fn parse_scenario_opt(s: &str) -> Option<ScenarioState> {
    (!s.is_empty()).then(|| ScenarioState::parse(s).unwrap())
}

#[test]
fn scenario_fixtures() {
    for case in load::<ScenarioCase>("scenario.toml") {
        let from = parse_scenario_opt(&case.from);
        let to = ScenarioState::parse(&case.to).unwrap();
        let got = check_transition(from, to, &case.source);
        let what = format!("{} -> {} by {:?}", case.from, case.to, case.source);
        match (case.verdict.as_str(), got) {
            ("allowed", Verdict::Allowed(t)) | ("wrong_owner", Verdict::WrongOwner(t)) => {
                assert_eq!((t.from, t.to), (from, to), "{what}");
            }
            ("invalid", Verdict::Invalid { allowed }) => {
                let want: Vec<ScenarioState> = case
                    .allowed
                    .iter()
                    .map(|s| ScenarioState::parse(s).unwrap())
                    .collect();
                assert_eq!(allowed, want, "{what}");
            }
            (want, got) => panic!("{what}: expected {want}, got {got:?}"),
        }
    }
}

#[derive(Deserialize)]
struct ChangeCase {
    name: String,
    resource: String,
    #[serde(default)]
    stored: String,
    current: String,
    target: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    strict: bool,
    outcome: String,
    details: Option<String>,
    #[serde(default)]
    wrong_owner: bool,
    resource_name: Option<String>,
}

#[test]
fn state_change_fixtures() {
    for case in load::<ChangeCase>("state_change.toml") {
        let resource_name = case.resource_name.clone().unwrap_or_else(|| "r1".into());
        let req = ChangeRequest {
            resource_type: ResourceType::parse(&case.resource).unwrap(),
            name: &resource_name,
            current: &case.current,
            target: &case.target,
            source: &case.source,
        };
        fn stored<S>(text: &str, parse: fn(&str) -> S) -> Option<S> {
            (!text.is_empty()).then(|| parse(text))
        }
        let result = validate(&req).and_then(|valid| match &valid {
            ValidChange::Scenario(c) => decide(
                c,
                stored(&case.stored, |s| ScenarioState::parse(s).unwrap()),
                &case.source,
                case.strict,
            ),
            ValidChange::Model(c) => decide(
                c,
                stored(&case.stored, |s| ModelState::parse(s).unwrap()),
                &case.source,
                case.strict,
            ),
            ValidChange::Package(c) => decide(
                c,
                stored(&case.stored, |s| PackageState::parse(s).unwrap()),
                &case.source,
                case.strict,
            ),
        });
        match (case.outcome.as_str(), &result) {
            ("write", Ok(Outcome::Write { wrong_owner })) => {
                assert_eq!(wrong_owner.is_some(), case.wrong_owner, "{}", case.name);
            }
            ("noop", Ok(Outcome::NoOp)) => {}
            (want, Err(e)) => {
                let kind = match e.kind() {
                    ErrorKind::InvalidRequest => "invalid_request",
                    ErrorKind::PreconditionFailed => "precondition_failed",
                    ErrorKind::InvalidStateTransition => "invalid_state_transition",
                    ErrorKind::PermissionDenied => "permission_denied",
                };
                assert_eq!(kind, want, "{}: {e}", case.name);
                if let Some(details) = &case.details {
                    assert!(
                        e.to_string().contains(details.as_str()),
                        "{}: {e:?} lacks {details:?}",
                        case.name
                    );
                }
            }
            (want, got) => panic!("{}: expected {want}, got {got:?}", case.name),
        }
    }
}

#[path = "fixtures/cascade_runner.rs"]
mod cascade_runner;

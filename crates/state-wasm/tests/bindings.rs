//! The bindings as JavaScript sees them, run in Node by `wasm-bindgen-test-runner`
//! (`cargo xtask test` sets it as the wasm32 runner). The cases are state-core's own fixture
//! files, so the browser explorer is checked against the same corpus as the core.
#![cfg(target_arch = "wasm32")]

use serde::Deserialize;
use serde_json::{Value, json};
use state_core::{ContainerState, ModelState, PackageState, ScenarioState};
use state_wasm::{
    WasmFleet as Fleet, container_state, decide_scenario_change, interop, node_agent_name,
    node_agent_suffix, parse_artifacts, reconcile_statuses, scenario_transitions, short_state,
    tables, validate_name,
};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

#[path = "../../state-core/tests/fixtures/cascade_schema.rs"]
mod cascade_schema;
use cascade_schema::*;

fn js(v: Value) -> JsValue {
    interop::to_js(&v).unwrap()
}

fn rs(v: &JsValue) -> Value {
    interop::from_js("result", v).unwrap()
}

fn cases<T: for<'de> Deserialize<'de>>(text: &str) -> Vec<T> {
    #[derive(Deserialize)]
    struct File<T> {
        case: Vec<T>,
    }
    let file: File<T> = toml::from_str(text).unwrap();
    assert!(!file.case.is_empty());
    file.case
}

/// The message of a thrown value, which must be a real `Error`.
fn message(thrown: JsValue) -> String {
    let e = thrown
        .dyn_into::<js_sys::Error>()
        .unwrap_or_else(|v| panic!("thrown value is not an Error: {v:?}"));
    e.message().into()
}

fn code(thrown: &JsValue) -> Option<String> {
    js_sys::Reflect::get(thrown, &"code".into())
        .ok()
        .and_then(|c| c.as_string())
}

#[derive(Deserialize)]
struct ContainerCase {
    name: String,
    fields: Map,
    state: String,
    rule: usize,
}

#[wasm_bindgen_test]
fn container_state_fixtures_decide_the_same_state_and_row() {
    let text = include_str!("../../state-core/tests/fixtures/container_state.toml");
    for case in cases::<ContainerCase>(text) {
        let got = rs(&container_state(js(json!(case.fields))).unwrap());
        let want = ContainerState::parse(&case.state).unwrap().short();
        assert_eq!(got["state"], want, "{}", case.name);
        assert_eq!(got["row"], case.rule, "{}", case.name);
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

#[wasm_bindgen_test]
fn scenario_fixtures_allow_refuse_and_explain() {
    let text = include_str!("../../state-core/tests/fixtures/scenario.toml");
    for case in cases::<ScenarioCase>(text) {
        let what = format!("{} -> {} by {:?}", case.from, case.to, case.source);
        let stored = Some(case.from.clone());
        let strict = decide_scenario_change(
            "s",
            stored.clone(),
            &case.from,
            &case.to,
            &case.source,
            true,
        );
        match case.verdict.as_str() {
            "allowed" => {
                let got = rs(&strict.unwrap());
                assert_eq!(got["outcome"], "write", "{what}");
                assert_eq!(got["wrongOwner"], Value::Null, "{what}");
            }
            "wrong_owner" => {
                let thrown = strict.unwrap_err();
                assert_eq!(
                    code(&thrown).as_deref(),
                    Some("ERROR_CODE_PERMISSION_DENIED"),
                    "{what}"
                );
                let lenient =
                    decide_scenario_change("s", stored, &case.from, &case.to, &case.source, false);
                let got = rs(&lenient.unwrap());
                assert_eq!(got["outcome"], "write", "{what}");
                assert!(got["wrongOwner"].is_array(), "{what}: {got}");
            }
            "invalid" => {
                let thrown = strict.unwrap_err();
                assert_eq!(
                    code(&thrown).as_deref(),
                    Some("ERROR_CODE_INVALID_STATE_TRANSITION"),
                    "{what}"
                );
                let text = message(thrown);
                for a in &case.allowed {
                    let a = ScenarioState::parse(a).unwrap().stored();
                    assert!(text.contains(a), "{what}: {text:?} should name {a}");
                }
            }
            other => panic!("unknown verdict {other}"),
        }
    }
}

fn run_step(fleet: &mut Fleet, step: &Step) -> Value {
    let plan = if let Some(r) = &step.report {
        let containers: Vec<Value> = r
            .containers
            .iter()
            .map(|c| {
                let mut fields = c.state.clone();
                if let Some(s) = &c.status {
                    fields.entry("Status".into()).or_insert_with(|| s.clone());
                }
                json!({"name": c.name, "fields": fields, "annotation": c.annotation, "config": c.config})
            })
            .collect();
        fleet.report_node(&r.node, js(json!(containers)))
    } else if let Some(s) = &step.set_model {
        fleet.set_model(s.model.as_deref().unwrap(), &s.state)
    } else if let Some(s) = &step.set_package {
        fleet.set_package(s.package.as_deref().unwrap(), &s.state)
    } else if let Some(p) = &step.put_package {
        fleet.put_package(&p.package, p.models.clone())
    } else if let Some(p) = &step.remove_package {
        fleet.remove_package(p)
    } else if let Some(s) = &step.put_scenario {
        fleet.put_scenario(&s.scenario, s.target.clone())
    } else if let Some(s) = &step.remove_scenario {
        fleet.remove_scenario(s)
    } else {
        panic!("step has no event")
    };
    rs(&plan.unwrap())
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
}

fn states(v: &Value, key: &str) -> Map {
    v.as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap().to_owned(),
                u[key].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn normalised(m: &Map, short: fn(&str) -> String) -> Map {
    m.iter().map(|(k, v)| (k.clone(), short(v))).collect()
}

#[wasm_bindgen_test]
fn cascade_fixtures_plan_the_same_changes_through_the_bindings() {
    let text = include_str!("../../state-core/tests/fixtures/cascade.toml");
    for case in cases::<CascadeCase>(text) {
        let mut fleet = Fleet::new();
        for (p, models) in &case.packages {
            fleet.put_package(p, models.clone()).unwrap();
        }
        for (s, target) in &case.scenarios {
            fleet.put_scenario(s, Some(target.clone())).unwrap();
        }
        for (i, step) in case.step.iter().enumerate() {
            let at = format!("{} step {i}", case.name);
            let plan = run_step(&mut fleet, step);
            let e = &step.expect;
            assert_eq!(
                states(&plan["containers"], "state"),
                normalised(&e.puts, |s| ContainerState::parse(s)
                    .unwrap()
                    .short()
                    .into()),
                "{at}: container puts"
            );
            assert_eq!(names(&plan["containerDeletes"]), e.deletes, "{at}: deletes");
            assert_eq!(
                states(&plan["models"], "new"),
                normalised(&e.models, |s| ModelState::parse(s).unwrap().short().into()),
                "{at}: models"
            );
            assert_eq!(
                states(&plan["packages"], "new"),
                normalised(&e.packages, |s| PackageState::parse(s)
                    .unwrap()
                    .short()
                    .into()),
                "{at}: packages"
            );
            assert_eq!(
                names(&plan["packageDeletes"]),
                e.package_deletes,
                "{at}: package deletes"
            );
            assert_eq!(
                names(&plan["modelDeletes"]),
                e.model_deletes,
                "{at}: model deletes"
            );
            let reconcile: Vec<String> = plan["reconciles"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    format!(
                        "{}:{}",
                        r["package"].as_str().unwrap(),
                        r["scenario"].as_str().unwrap_or("")
                    )
                })
                .collect();
            assert_eq!(reconcile, e.reconcile, "{at}: reconcile");
        }
    }
}

fn running_pair() -> Fleet {
    let mut fleet = Fleet::new();
    fleet
        .put_package("p", vec!["m1".into(), "m2".into()])
        .unwrap();
    fleet.put_scenario("s", Some("p".into())).unwrap();
    fleet
        .report_node(
            "n1",
            js(json!([
                {"name": "m1_a", "fields": {"Status": "running"}},
                {"name": "m2_a", "fields": {"Status": "running"}},
            ])),
        )
        .unwrap();
    fleet
}

#[wasm_bindgen_test]
fn cascade_container_dead_marks_model_dead_and_package_degraded_then_error_with_reconcile() {
    let mut fleet = running_pair();
    let plan = rs(&fleet
        .set_container(
            "n1",
            js(json!({"name": "m1_a", "fields": {"Status": "running", "Dead": "true"}})),
        )
        .unwrap());
    assert_eq!(
        plan["models"],
        json!([{"name": "m1", "old": "running", "new": "dead"}])
    );
    assert_eq!(
        plan["packages"],
        json!([{"name": "p", "old": "running", "new": "degraded"}])
    );
    assert_eq!(plan["reconciles"], json!([]));
    assert_eq!(fleet.model_state("m1").as_deref(), Some("dead"));

    let why = rs(&fleet.explain_model("m1").unwrap());
    assert_eq!(why["row"], 2);
    assert_eq!(why["counts"], json!({"dead": 1}));
    let why = rs(&fleet.explain_package("p").unwrap());
    assert_eq!(
        (why["row"].clone(), why["state"].clone()),
        (json!(2), json!("degraded"))
    );

    let plan = rs(&fleet
        .set_container(
            "n1",
            js(json!({"name": "m2_a", "fields": {"Status": "exited", "ExitCode": "137"}})),
        )
        .unwrap());
    assert_eq!(
        plan["reconciles"],
        json!([{"package": "p", "scenario": "s",
                "request": {"scenario_name": "s", "current": "FAILED", "desired": "RUNNING"}}])
    );
    assert_eq!(fleet.package_state("p").as_deref(), Some("error"));
}

#[wasm_bindgen_test]
fn removing_a_container_reevaluates_its_model() {
    let mut fleet = running_pair();
    let plan = rs(&fleet.remove_container("n1", "m2_a").unwrap());
    assert_eq!(plan["containerDeletes"], json!(["m2_a"]));
    assert_eq!(
        plan["models"],
        json!([{"name": "m2", "old": "running", "new": "created"}])
    );
    assert_eq!(fleet.container_count(), 1);
}

#[wasm_bindgen_test]
fn view_lists_the_topology_sorted_with_states() {
    let fleet = running_pair();
    let view = rs(&fleet.view().unwrap());
    assert_eq!(
        view["containers"],
        json!([
            {"name": "m1_a", "node": "n1", "state": "running", "model": "m1", "package": null},
            {"name": "m2_a", "node": "n1", "state": "running", "model": "m2", "package": null},
        ])
    );
    assert_eq!(
        view["packages"],
        json!([{"name": "p", "state": "running", "models": ["m1", "m2"], "scenario": "s"}])
    );
    assert_eq!(view["models"][0]["packages"], json!(["p"]));
}

#[wasm_bindgen_test]
fn errors_arrive_as_error_objects_with_messages() {
    let mut fleet = Fleet::new();
    let text = message(fleet.put_package("etc/passwd", vec![]).unwrap_err());
    assert!(
        text.contains("package name") && text.contains("'/'"),
        "{text}"
    );

    let text = message(
        fleet
            .set_container("n1", js(json!({"name": "bad name", "fields": {}})))
            .unwrap_err(),
    );
    assert!(
        text.contains("container name") && text.contains("' '"),
        "{text}"
    );

    let text = message(
        fleet
            .report_node("n1", js(json!({"not": "a list"})))
            .unwrap_err(),
    );
    assert!(text.starts_with("containers:"), "{text}");

    let text = message(fleet.set_model("m1", "sleeping").unwrap_err());
    assert!(
        text.contains("unknown model state") && text.contains("running"),
        "{text}"
    );

    let text = message(fleet.explain_model("nobody").unwrap_err());
    assert!(text.contains("unknown model"), "{text}");

    let text = message(validate_name("node", "").unwrap_err());
    assert_eq!(text, "node name is empty");

    let thrown =
        decide_scenario_change("s", Some("idle".into()), "waiting", "satisfied", "x", false)
            .unwrap_err();
    assert_eq!(
        code(&thrown).as_deref(),
        Some("ERROR_CODE_PRECONDITION_FAILED")
    );
    assert!(message(thrown).contains("stored state is SCENARIO_STATE_IDLE"));
}

#[wasm_bindgen_test]
fn invalid_entries_in_a_report_are_skipped_and_named() {
    let mut fleet = Fleet::new();
    let plan = rs(&fleet
        .report_node(
            "n1",
            js(json!([
                {"name": "m1_a", "fields": {"Status": "running"}},
                {"name": "../x", "fields": {"Status": "running"}},
            ])),
        )
        .unwrap());
    assert_eq!(
        plan["containers"],
        json!([{"name": "m1_a", "state": "running"}])
    );
    assert_eq!(plan["skipped"][0]["name"], "../x");
}

#[wasm_bindgen_test]
fn helloworld_artifact_is_read_by_the_shared_parser() {
    let text = include_str!("../../../examples/helloworld.yaml");
    let got = rs(&parse_artifacts(text).unwrap());
    assert_eq!(got["errors"], json!([]));
    assert_eq!(
        got["artifacts"],
        json!([
            {"kind": "Scenario", "name": "helloworld", "target": "helloworld", "action": "update"},
            {"kind": "Package", "name": "helloworld", "models": [{"name": "helloworld", "node": "HPC"}]},
            {"kind": "Model", "name": "helloworld", "containers": ["helloworld"]},
        ])
    );
    let bad = rs(&parse_artifacts("kind: Volume\nmetadata:\n  name: v\n").unwrap());
    assert!(bad["errors"][0].as_str().unwrap().contains("Volume"));
}

#[wasm_bindgen_test]
fn artifact_problems_name_their_document_and_line() {
    // The second document has a bad name (its document starts on line 4); the third is not
    // YAML (the reader stops on line 8 or after).
    let text = "kind: Model\nmetadata:\n  name: a\n---\nkind: Model\nmetadata:\n  name: ../b\n---\nkind: [\n";
    let got = rs(&parse_artifacts(text).unwrap());
    assert_eq!(got["artifacts"].as_array().unwrap().len(), 1);
    let problems = got["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{got}");
    assert_eq!(problems[0]["document"], 2);
    assert_eq!(problems[0]["line"], 4);
    assert!(
        problems[0]["message"]
            .as_str()
            .unwrap()
            .contains("metadata.name")
    );
    assert_eq!(problems[1]["document"], 3);
    assert!(problems[1]["line"].as_u64().unwrap() >= 8, "{got}");
    assert_eq!(got["errors"].as_array().unwrap().len(), 2);
}

#[wasm_bindgen_test]
fn rules_as_data_match_the_core_tables() {
    let t = rs(&tables().unwrap());
    let rows = |k: &str| t[k]["rows"].as_array().unwrap().len();
    assert_eq!(rows("model"), state_core::eval::MODEL_TABLE.rows.len());
    assert_eq!(rows("package"), state_core::eval::PACKAGE_TABLE.rows.len());
    assert_eq!(
        rows("container"),
        state_core::container::CONTAINER_RULES.len()
    );
    assert_eq!(
        t["package"]["rows"][1],
        json!({"when": "every model Dead", "then": "error"})
    );
    let transitions = rs(&scenario_transitions().unwrap());
    assert_eq!(
        transitions[0],
        json!({"from": null, "to": "idle", "owners": ["ApiServer"]})
    );
    assert_eq!(
        transitions.as_array().unwrap().len(),
        state_core::scenario::SCENARIO_TRANSITIONS.len()
    );
}

#[wasm_bindgen_test]
fn scenario_step_to_the_stored_state_is_a_noop() {
    let got = rs(&decide_scenario_change(
        "s",
        Some("SCENARIO_STATE_WAITING".into()),
        "waiting",
        "Waiting",
        "anyone",
        true,
    )
    .unwrap());
    assert_eq!(got["outcome"], "noop");
    assert_eq!(got["target"], "waiting");
}

#[wasm_bindgen_test]
fn reapplying_a_scenario_without_current_state_restarts_only_a_finished_lifecycle() {
    // ApiServer re-applies a scenario each time its artifact is applied: current_state "" (no
    // precondition), target idle. The scenario table still decides from the stored state.
    let reapply = |stored: &str| {
        decide_scenario_change("s", Some(stored.into()), "", "idle", "apiserver", true)
    };
    for done in ["completed", "denied"] {
        let got = rs(&reapply(done).unwrap());
        assert_eq!(got["outcome"], "write", "from {done}");
        assert_eq!(got["target"], "idle", "from {done}");
        assert_eq!(got["wrongOwner"], Value::Null, "from {done}");
    }
    let thrown = reapply("waiting").unwrap_err();
    assert_eq!(
        code(&thrown).as_deref(),
        Some("ERROR_CODE_INVALID_STATE_TRANSITION")
    );
    assert!(!message(thrown).is_empty());
    assert_eq!(rs(&reapply("idle").unwrap())["outcome"], "noop");
}

#[wasm_bindgen_test]
fn node_agent_names_are_spelled_by_the_core() {
    assert_eq!(node_agent_name("helloworld", "app"), "helloworld_app");
    assert_eq!(
        node_agent_suffix("helloworld_app", "helloworld").as_deref(),
        Some("app")
    );
    assert_eq!(node_agent_suffix("helloworld_app", "hello"), None);
    assert_eq!(node_agent_suffix("helloworld_", "helloworld"), None);
    assert_eq!(
        node_agent_suffix(&node_agent_name("m1", "a"), "m1").as_deref(),
        Some("a")
    );
}

#[wasm_bindgen_test]
fn reconcile_statuses_are_those_every_reconcile_request_carries() {
    assert_eq!(
        rs(&reconcile_statuses().unwrap()),
        json!({"current": "FAILED", "desired": "RUNNING"})
    );
}

#[wasm_bindgen_test]
fn states_list_every_spelling_in_wire_order() {
    let got = rs(&state_wasm::states().unwrap());
    let want: Vec<&str> = PackageState::ALL.iter().map(|s| s.short()).collect();
    assert_eq!(got["package"], json!(want));
    assert_eq!(got["scenario"][0], "idle");
}

#[wasm_bindgen_test]
fn stored_spellings_read_back_as_short_names() {
    for s in ModelState::ALL {
        assert_eq!(short_state("model", s.stored()).unwrap(), s.short());
    }
    for s in ScenarioState::ALL {
        assert_eq!(short_state("scenario", s.stored()).unwrap(), s.short());
    }
    assert_eq!(short_state("container", "dead").unwrap(), "dead");
    assert_eq!(
        short_state("package", PackageState::Error.stored()).unwrap(),
        "error"
    );
    assert!(
        message(short_state("package", "MODEL_STATE_RUNNING").unwrap_err())
            .contains("package state")
    );
    assert!(message(short_state("volume", "x").unwrap_err()).contains("volume"));
}

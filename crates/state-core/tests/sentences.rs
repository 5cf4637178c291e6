//! The sentences users read: why a state change was refused (`error_details`), why a container
//! entry was skipped, why a name or a state spelling was refused. Each is pinned as a snapshot,
//! so a change to what a user reads is a visible diff (`UPDATE_EXPECT=1 cargo test` rewrites
//! them after a deliberate change).

use expect_test::{Expect, expect};
use state_core::{
    ModelState, ResourceType, ScenarioState,
    change::{ChangeRequest, ValidChange, decide, validate},
    container::{Limits, RawContainer},
    kind::Kind,
    name::ModelName,
};

fn refusal(
    resource: ResourceType,
    name: &str,
    stored: Option<&str>,
    current: &str,
    target: &str,
    source: &str,
    strict: bool,
) -> String {
    let req = ChangeRequest {
        resource_type: resource,
        name,
        current,
        target,
        source,
    };
    let result = validate(&req).and_then(|valid| match &valid {
        ValidChange::Scenario(c) => decide(
            c,
            stored.map(|s| ScenarioState::parse(s).unwrap()),
            source,
            strict,
        ),
        ValidChange::Model(c) => decide(
            c,
            stored.map(|s| ModelState::parse(s).unwrap()),
            source,
            strict,
        ),
        ValidChange::Package(_) => unreachable!("no package cases here"),
    });
    match result {
        Ok(outcome) => format!("accepted: {outcome:?}"),
        Err(e) => e.to_string(),
    }
}

fn check(actual: String, expected: Expect) {
    expected.assert_eq(&actual);
}

#[test]
fn state_change_refusals() {
    let s = ResourceType::Scenario;
    check(
        refusal(
            ResourceType::Volume,
            "v",
            None,
            "",
            "idle",
            "ApiServer",
            false,
        ),
        expect!["resource type volume cannot be changed; use scenario, package or model"],
    );
    check(
        refusal(s, "../x", None, "", "idle", "ApiServer", false),
        expect![[r#"scenario name "../x" must start with a letter or digit"#]],
    );
    check(
        refusal(s, "s", None, "", " ", "ApiServer", false),
        expect!["target_state is empty"],
    );
    check(
        refusal(s, "s", None, "", "running", "ApiServer", false),
        expect![[
            r#"target_state: unknown scenario state "running": expected one of idle, waiting, satisfied, allowed, denied, completed"#
        ]],
    );
    check(
        refusal(
            s,
            "s",
            Some("idle"),
            "waiting",
            "satisfied",
            "FilterGateway",
            false,
        ),
        expect![
            "current_state is SCENARIO_STATE_WAITING but the stored state is SCENARIO_STATE_IDLE"
        ],
    );
    check(
        refusal(s, "s", None, "idle", "waiting", "FilterGateway", false),
        expect!["current_state is SCENARIO_STATE_IDLE but the stored state is absent"],
    );
    check(
        refusal(s, "s", Some("waiting"), "", "idle", "ApiServer", false),
        expect![
            "scenario cannot move from SCENARIO_STATE_WAITING to SCENARIO_STATE_IDLE; allowed from SCENARIO_STATE_WAITING: SCENARIO_STATE_SATISFIED"
        ],
    );
    check(
        refusal(
            s,
            "s",
            Some("idle"),
            "idle",
            "waiting",
            "PolicyManager",
            true,
        ),
        expect![[
            r#"source "PolicyManager" may not move a scenario from SCENARIO_STATE_IDLE to SCENARIO_STATE_WAITING; owner: FilterGateway"#
        ]],
    );
    check(
        refusal(
            ResourceType::Model,
            "m",
            Some("running"),
            "",
            "dead",
            "x",
            false,
        ),
        expect!["accepted: Write { wrong_owner: None }"],
    );
}

fn skipped(names: &[&str], annotation: &[(&str, &str)], state: &[(&str, &str)]) -> String {
    let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    let raw = RawContainer {
        id: "",
        names: &names,
        state,
        config: &[][..],
        annotation,
    };
    match raw.classify(&Limits {
        max_containers: 10,
        max_map_entries: 2,
        ..Limits::default()
    }) {
        Ok(c) => format!(
            "accepted: {} of {:?}",
            c.name,
            c.model.as_ref().map(ModelName::as_str)
        ),
        Err(e) => e.to_string(),
    }
}

#[test]
fn skipped_entry_reasons() {
    check(
        skipped(&[], &[], &[]),
        expect!["container has neither a name nor an id"],
    );
    check(
        skipped(&["/a b"], &[], &[]),
        expect![[
            r#"container name "a b" contains ' '; only letters, digits, '_', '.' and '-' are allowed"#
        ]],
    );
    check(
        skipped(&["c"], &[("model", "../p")], &[]),
        expect![[
            r#"container "c": model name "../p" must start with a letter or digit (from annotation model)"#
        ]],
    );
    check(
        skipped(&["m_c"], &[("io.pullpiri.annotations.package", "p/q")], &[]),
        expect![[
            r#"container "m_c": package name "p/q" contains '/'; only letters, digits, '_', '.' and '-' are allowed (from annotation io.pullpiri.annotations.package)"#
        ]],
    );
    check(
        skipped(
            &["m_c"],
            &[],
            &[("Status", "running"), ("Pid", "1"), ("Dead", "false")],
        ),
        expect![[r#"container "m_c": state has 3 entries; the limit is 2"#]],
    );
    check(
        skipped(&["/helloworld_app"], &[], &[("Status", "running")]),
        expect![[r#"accepted: helloworld_app of Some("helloworld")"#]],
    );
}

#[test]
fn name_and_spelling_refusals() {
    check(
        ModelName::new("x".repeat(254)).unwrap_err().to_string(),
        expect!["model name is 254 characters long; the limit is 253"],
    );
    check(
        ModelName::new("a..b").unwrap_err().to_string(),
        expect![[r#"model name "a..b" contains "..""#]],
    );
    check(
        ModelName::new("").unwrap_err().to_string(),
        expect!["model name is empty"],
    );
    check(
        Kind::Package.parse_state("broken").unwrap_err().to_string(),
        expect![[
            r#"unknown package state "broken": expected one of idle, paused, exited, degraded, error, running"#
        ]],
    );
    check(
        Kind::parse("node").unwrap_err().to_string(),
        expect![[r#"unknown resource kind "node": expected one of scenario, package, model"#]],
    );
}

//! The sentences the service answers with on success (`docs/contract.md#sendchangedcontainerlist`,
//! `docs/contract.md#sendstatechange`). Callers and operators read them, and the snapshot tests
//! below make any change to them a visible diff.

use state_core::{kind::Resource, name::NodeName};

use crate::engine::{ChangeSummary, ReportSummary};

/// The `resp` of an accepted container list.
pub fn report(node: &NodeName, accepted: usize, s: &ReportSummary, skipped: &[String]) -> String {
    let mut resp = format!(
        "node {node}: {accepted} containers stored ({} written, {} removed, {} models and {} packages changed)",
        s.containers_written, s.containers_deleted, s.models_changed, s.packages_changed
    );
    if !skipped.is_empty() {
        resp.push_str(&format!(
            "; skipped {}: {}",
            skipped.len(),
            skipped.join("; ")
        ));
    }
    resp
}

/// The `message` of an accepted state change of `resource` (`scenario s1: …`).
pub fn changed(resource: &Resource, summary: &ChangeSummary) -> String {
    match summary {
        ChangeSummary::Changed { from, to } => format!(
            "{resource}: {} -> {to}",
            from.map_or("absent", |s| s.stored())
        ),
        ChangeSummary::Unchanged { state } => {
            format!("{resource}: already {state}; nothing written")
        }
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use state_core::{
        ModelState, ScenarioState,
        kind::{Kind, State},
    };

    use super::*;

    #[test]
    fn report_answers_count_writes_and_name_skipped_entries() {
        let node = NodeName::new("HPC").unwrap();
        let summary = ReportSummary {
            containers_written: 2,
            containers_deleted: 1,
            models_changed: 1,
            packages_changed: 0,
        };
        expect![
            "node HPC: 3 containers stored (2 written, 1 removed, 1 models and 0 packages changed)"
        ]
        .assert_eq(&report(&node, 3, &summary, &[]));
        let skipped = [
            "entry 1: container name \"a b\" contains ' '".to_owned(),
            "entry 4: no name and no id".to_owned(),
        ];
        expect![[r#"node HPC: 0 containers stored (0 written, 0 removed, 0 models and 0 packages changed); skipped 2: entry 1: container name "a b" contains ' '; entry 4: no name and no id"#]]
            .assert_eq(&report(&node, 0, &ReportSummary::default(), &skipped));
    }

    #[test]
    fn change_answers_say_from_and_to() {
        let idle = State::Scenario(ScenarioState::Idle);
        expect!["scenario s1: absent -> SCENARIO_STATE_IDLE"].assert_eq(&changed(
            &Resource::new(Kind::Scenario, "s1").unwrap(),
            &ChangeSummary::Changed {
                from: None,
                to: idle,
            },
        ));
        expect!["model m: MODEL_STATE_RUNNING -> MODEL_STATE_DEAD"].assert_eq(&changed(
            &Resource::new(Kind::Model, "m").unwrap(),
            &ChangeSummary::Changed {
                from: Some(State::Model(ModelState::Running)),
                to: State::Model(ModelState::Dead),
            },
        ));
        expect!["scenario s1: already SCENARIO_STATE_IDLE; nothing written"].assert_eq(&changed(
            &Resource::new(Kind::Scenario, "s1").unwrap(),
            &ChangeSummary::Unchanged { state: idle },
        ));
    }
}

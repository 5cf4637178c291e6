//! How far the scenario table is held to the steps callers actually send
//! (`docs/contract.md#lifecycle-in-pullpiri-mode`).
//!
//! Today's Pullpiri drives only part of the table: nothing sends `satisfied → allowed`, and a
//! scenario without conditions is launched by the ActionController while it is still `idle`.
//! Its `allowed → completed` then arrives at a scenario the table has not brought to
//! `allowed`. In Pullpiri mode that completion is taken as the fact it is (the workloads were
//! launched): the steps before it that nobody sent are taken by the daemon, each recorded on
//! behalf of the component that owns it. With `--strict-lifecycle` it is refused instead,
//! naming the missing steps.

use alloc::vec::Vec;

use crate::{
    ScenarioState,
    scenario::{Component, SCENARIO_TRANSITIONS},
};

/// How scenario changes are held to the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lifecycle {
    /// Every step is sent by a caller (the contract's table as it stands).
    #[default]
    Table,
    /// Pullpiri mode: a completion fills in the steps before it that nobody sent.
    FillIn,
    /// Pullpiri mode with `--strict-lifecycle`: such a completion is refused, naming them.
    Strict,
}

/// The lifecycle in the order its callers drive it.
pub const FORWARD: [ScenarioState; 5] = [
    ScenarioState::Idle,
    ScenarioState::Waiting,
    ScenarioState::Satisfied,
    ScenarioState::Allowed,
    ScenarioState::Completed,
];

/// One step of the forward lifecycle and the component that owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub from: ScenarioState,
    pub to: ScenarioState,
    /// The table's first owner of the step: the one expected to send it.
    pub owner: Component,
}

fn position(state: ScenarioState) -> Option<usize> {
    FORWARD.iter().position(|s| *s == state)
}

/// The steps from `from` to `to` along the forward lifecycle, in order; empty unless both are
/// on it and `to` comes later.
pub fn steps(from: ScenarioState, to: ScenarioState) -> Vec<Step> {
    let (Some(a), Some(b)) = (position(from), position(to)) else {
        return Vec::new();
    };
    if a >= b {
        return Vec::new();
    }
    FORWARD[a..=b]
        .windows(2)
        .map(|pair| {
            let (from, to) = (pair[0], pair[1]);
            let owner = SCENARIO_TRANSITIONS
                .iter()
                .find(|t| t.from == Some(from) && t.to == to)
                .and_then(|t| t.owners.first().copied())
                // Every forward pair is a row of the table (a test holds it to that).
                .unwrap_or(Component::ActionController);
            Step { from, to, owner }
        })
        .collect()
}

/// What the lifecycle makes of a completion the table refuses as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// Not a completion the lifecycle rule covers: the table decides as usual.
    NotCovered,
    /// Already completed: nothing to write.
    AlreadyDone,
    /// Completed once these steps, which nobody sent, are taken first.
    Missing(Vec<Step>),
}

/// Whether a change to `target`, with `claimed` as the caller's `current_state`, from the
/// stored state `stored`, is a completion whose earlier steps were never sent. It is when the
/// target is `completed`, the stored state is earlier on the forward lifecycle (never absent:
/// a scenario the ApiServer never started is not completed by anyone), and the claimed state,
/// if any, lies between the stored one and `allowed`: the caller saw steps the daemon did
/// not receive.
pub fn completion(
    stored: Option<ScenarioState>,
    claimed: Option<ScenarioState>,
    target: ScenarioState,
) -> Completion {
    let (Some(stored), ScenarioState::Completed) = (stored, target) else {
        return Completion::NotCovered;
    };
    let allowed = position(ScenarioState::Allowed);
    let claimed_fits = |at: Option<usize>| match claimed {
        None => true,
        Some(c) => position(c).is_some_and(|c| Some(c) <= allowed && at <= Some(c)),
    };
    if stored == ScenarioState::Completed {
        return if claimed_fits(position(ScenarioState::Idle)) {
            Completion::AlreadyDone
        } else {
            Completion::NotCovered
        };
    }
    let at = position(stored);
    if at.is_none() || at >= allowed || !claimed_fits(at) {
        return Completion::NotCovered;
    }
    Completion::Missing(steps(stored, ScenarioState::Allowed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ScenarioState as S;

    #[test]
    fn every_forward_step_is_a_row_of_the_table() {
        for pair in FORWARD.windows(2) {
            assert!(
                SCENARIO_TRANSITIONS
                    .iter()
                    .any(|t| t.from == Some(pair[0]) && t.to == pair[1]),
                "{pair:?}"
            );
        }
    }

    #[test]
    fn steps_follow_the_lifecycle_with_their_owners() {
        let s = steps(S::Idle, S::Completed);
        let owners: Vec<_> = s.iter().map(|s| (s.from, s.to, s.owner)).collect();
        assert_eq!(
            owners,
            [
                (S::Idle, S::Waiting, Component::FilterGateway),
                (S::Waiting, S::Satisfied, Component::FilterGateway),
                (S::Satisfied, S::Allowed, Component::PolicyManager),
                (S::Allowed, S::Completed, Component::ActionController),
            ]
        );
        assert!(steps(S::Allowed, S::Idle).is_empty());
        assert!(steps(S::Idle, S::Denied).is_empty());
    }

    #[test]
    fn a_completion_names_the_steps_nobody_sent() {
        // With conditions: the FilterGateway got it to satisfied; nobody allowed it.
        assert_eq!(
            completion(Some(S::Satisfied), Some(S::Allowed), S::Completed),
            Completion::Missing(steps(S::Satisfied, S::Allowed))
        );
        // Without conditions: launched while idle.
        assert_eq!(
            completion(Some(S::Idle), Some(S::Allowed), S::Completed),
            Completion::Missing(steps(S::Idle, S::Allowed))
        );
        assert_eq!(
            completion(Some(S::Waiting), None, S::Completed),
            Completion::Missing(steps(S::Waiting, S::Allowed))
        );
        assert_eq!(
            completion(Some(S::Completed), Some(S::Allowed), S::Completed),
            Completion::AlreadyDone
        );
    }

    #[test]
    fn only_a_completion_on_the_forward_path_is_covered() {
        // Never started, denied, or a caller claiming a state behind the stored one.
        assert_eq!(
            completion(None, Some(S::Allowed), S::Completed),
            Completion::NotCovered
        );
        assert_eq!(
            completion(Some(S::Denied), Some(S::Allowed), S::Completed),
            Completion::NotCovered
        );
        assert_eq!(
            completion(Some(S::Satisfied), Some(S::Idle), S::Completed),
            Completion::NotCovered
        );
        assert_eq!(
            completion(Some(S::Idle), Some(S::Completed), S::Completed),
            Completion::NotCovered
        );
        // Other targets are the table's alone.
        assert_eq!(
            completion(Some(S::Idle), None, S::Allowed),
            Completion::NotCovered
        );
        // Already allowed: the table's own row applies.
        assert_eq!(
            completion(Some(S::Allowed), Some(S::Allowed), S::Completed),
            Completion::NotCovered
        );
    }
}

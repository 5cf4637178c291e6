//! The scenario lifecycle: the transition table with owners
//! (`docs/contract.md#scenario-table`).

use alloc::vec::Vec;
use core::fmt;

use crate::ScenarioState;

/// An orchestrator component, the expected `source` of a scenario transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Component {
    ApiServer,
    FilterGateway,
    PolicyManager,
    ActionController,
}

impl Component {
    /// Every component.
    pub const ALL: &'static [Component] = &[
        Component::ApiServer,
        Component::FilterGateway,
        Component::PolicyManager,
        Component::ActionController,
    ];

    /// The component's name (`ApiServer`).
    pub const fn name(self) -> &'static str {
        match self {
            Component::ApiServer => "ApiServer",
            Component::FilterGateway => "FilterGateway",
            Component::PolicyManager => "PolicyManager",
            Component::ActionController => "ActionController",
        }
    }

    /// Recognises a `source` string: case-insensitive, ignoring `-`, `_`, `.` and spaces, so
    /// `apiserver`, `api-server` and `ApiServer` are all [`Component::ApiServer`].
    pub fn from_source(source: &str) -> Option<Component> {
        let letters = || {
            source
                .chars()
                .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
                .map(|c| c.to_ascii_lowercase())
        };
        Component::ALL.iter().copied().find(|c| {
            c.name()
                .chars()
                .map(|c| c.to_ascii_lowercase())
                .eq(letters())
        })
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One allowed scenario transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// From this state (`None`: the scenario has no state yet).
    pub from: Option<ScenarioState>,
    /// To this state.
    pub to: ScenarioState,
    /// The components that own it.
    pub owners: &'static [Component],
}

use Component::*;
use ScenarioState as S;

/// The scenario transition table (`docs/contract.md#scenario-table`). Only these transitions are allowed.
pub static SCENARIO_TRANSITIONS: &[Transition] = &[
    Transition {
        from: None,
        to: S::Idle,
        owners: &[ApiServer],
    },
    Transition {
        from: Some(S::Idle),
        to: S::Waiting,
        owners: &[FilterGateway],
    },
    Transition {
        from: Some(S::Waiting),
        to: S::Satisfied,
        owners: &[FilterGateway, ActionController],
    },
    Transition {
        from: Some(S::Satisfied),
        to: S::Allowed,
        owners: &[PolicyManager],
    },
    Transition {
        from: Some(S::Satisfied),
        to: S::Denied,
        owners: &[PolicyManager],
    },
    Transition {
        from: Some(S::Allowed),
        to: S::Completed,
        owners: &[ActionController],
    },
    Transition {
        from: Some(S::Completed),
        to: S::Idle,
        owners: &[ApiServer],
    },
    Transition {
        from: Some(S::Denied),
        to: S::Idle,
        owners: &[ApiServer],
    },
];

/// The verdict of the transition table on one attempted scenario transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The table allows it and the source is an owner.
    Allowed(&'static Transition),
    /// The table allows it, but the source is not an owner.
    WrongOwner(&'static Transition),
    /// The table forbids it; these are the states reachable from the current one.
    Invalid {
        /// Allowed targets from the current state.
        allowed: Vec<ScenarioState>,
    },
}

/// States reachable in one step from `from`.
pub fn allowed_targets(from: Option<ScenarioState>) -> Vec<ScenarioState> {
    SCENARIO_TRANSITIONS
        .iter()
        .filter(|t| t.from == from)
        .map(|t| t.to)
        .collect()
}

/// Checks `from -> to` requested by `source` against the table.
pub fn check_transition(from: Option<ScenarioState>, to: ScenarioState, source: &str) -> Verdict {
    match SCENARIO_TRANSITIONS
        .iter()
        .find(|t| t.from == from && t.to == to)
    {
        None => Verdict::Invalid {
            allowed: allowed_targets(from),
        },
        Some(t) => match Component::from_source(source) {
            Some(c) if t.owners.contains(&c) => Verdict::Allowed(t),
            _ => Verdict::WrongOwner(t),
        },
    }
}

//! `SendStateChange` semantics without I/O (`docs/contract.md#state-change-checks`): validation,
//! compare-and-set against the stored state, the no-op rule, the scenario table and the owner
//! check, in the contract's order.

use alloc::{format, string::String, vec::Vec};
use core::fmt;

use crate::{
    ResourceType, ScenarioState,
    error::{NameError, ParseStateError},
    fleet::{Event, Fleet},
    kind::{Kind, ModelKind, PackageKind, Resource, ScenarioKind, State, Stateful},
    lifecycle::{self, Completion, Lifecycle, Step},
    scenario::{Component, Transition, Verdict, check_transition},
};

/// A `StateChange` as received, before validation.
#[derive(Clone, Copy, Debug)]
pub struct ChangeRequest<'a> {
    pub resource_type: ResourceType,
    /// `resource_name`
    pub name: &'a str,
    /// `current_state`: what the sender believes is stored (`""`: no precondition)
    pub current: &'a str,
    /// `target_state`
    pub target: &'a str,
    pub source: &'a str,
}

/// A validated change of one resource of kind `K`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change<K: Stateful> {
    /// The resource.
    pub name: K::Name,
    /// The state the sender believes is stored; `None`: no precondition
    /// (`docs/contract.md#state-change-checks`).
    pub current: Option<K::State>,
    /// The requested state.
    pub target: K::State,
}

/// A validated state change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValidChange {
    /// A scenario lifecycle step.
    Scenario(Change<ScenarioKind>),
    /// A direct model update (cascades to its packages).
    Model(Change<ModelKind>),
    /// A direct package update.
    Package(Change<PackageKind>),
}

/// How a rejected change maps onto the wire `ErrorCode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// `ERROR_CODE_INVALID_REQUEST`
    InvalidRequest,
    /// `ERROR_CODE_PRECONDITION_FAILED`
    PreconditionFailed,
    /// `ERROR_CODE_INVALID_STATE_TRANSITION`
    InvalidStateTransition,
    /// `ERROR_CODE_PERMISSION_DENIED`
    PermissionDenied,
}

/// Why a state change was refused. `Display` is the `error_details` sentence.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// The resource type cannot be changed through `SendStateChange`.
    #[error("resource type {0} cannot be changed; use scenario, package or model")]
    UnsupportedResource(ResourceType),
    /// The resource name is invalid.
    #[error(transparent)]
    BadName(#[from] NameError),
    /// `target_state` is empty.
    #[error("target_state is empty")]
    EmptyTarget,
    /// `target_state` or `current_state` is not a state of the resource's kind.
    #[error("{field}: {error}")]
    BadState {
        /// `current_state` or `target_state`.
        field: &'static str,
        /// What was wrong.
        error: ParseStateError,
    },
    /// `current_state` does not match what is stored.
    #[error("current_state is {claimed} but the stored state is {stored}")]
    PreconditionFailed {
        /// What the request said.
        claimed: Shown,
        /// What is stored.
        stored: Shown,
    },
    /// The scenario table forbids the transition.
    #[error("scenario cannot move from {from} to {to}; allowed from {from}: {allowed}")]
    InvalidTransition {
        /// The stored state.
        from: Shown,
        /// The requested state.
        to: &'static str,
        /// States allowed from the stored one.
        allowed: Shown,
    },
    /// A completion arrived before the steps that lead to it (`--strict-lifecycle`,
    /// [`crate::lifecycle`]).
    #[error(
        "scenario is {stored}; completed needs {missing} first, which no caller sent (--strict-lifecycle)"
    )]
    MissingSteps {
        /// The stored state.
        stored: Shown,
        /// The steps nobody sent, with their owners.
        missing: Shown,
    },
    /// The source does not own the transition (strict mode only).
    #[error("source {sender:?} may not move a scenario from {from} to {to}; owner: {owners}")]
    PermissionDenied {
        /// The request's source.
        sender: String,
        /// The stored state.
        from: Shown,
        /// The requested state.
        to: &'static str,
        /// Who owns the transition.
        owners: Shown,
    },
}

impl ChangeError {
    /// The wire error category.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ChangeError::UnsupportedResource(_)
            | ChangeError::BadName(_)
            | ChangeError::EmptyTarget
            | ChangeError::BadState { .. } => ErrorKind::InvalidRequest,
            ChangeError::PreconditionFailed { .. } => ErrorKind::PreconditionFailed,
            ChangeError::InvalidTransition { .. } | ChangeError::MissingSteps { .. } => {
                ErrorKind::InvalidStateTransition
            }
            ChangeError::PermissionDenied { .. } => ErrorKind::PermissionDenied,
        }
    }
}

/// A value rendered for an error message (`absent` for a missing state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown(pub String);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn shown_state(stored: Option<&'static str>) -> Shown {
    Shown(stored.unwrap_or("absent").into())
}

fn parse_opt<S>(
    field: &'static str,
    input: &str,
    parse: fn(&str) -> Result<S, ParseStateError>,
) -> Result<Option<S>, ChangeError> {
    if input.trim().is_empty() {
        return Ok(None);
    }
    parse(input)
        .map(Some)
        .map_err(|error| ChangeError::BadState { field, error })
}

fn parse_change<K: Stateful>(req: &ChangeRequest<'_>) -> Result<Change<K>, ChangeError> {
    let name = K::name(req.name.trim())?;
    let target =
        parse_opt("target_state", req.target, K::parse)?.ok_or(ChangeError::EmptyTarget)?;
    let current = parse_opt("current_state", req.current, K::parse)?;
    Ok(Change {
        name,
        current,
        target,
    })
}

/// Validates a request (`docs/contract.md#names`, `docs/contract.md#state-spellings`): the
/// kind, the name and both state strings.
pub fn validate(req: &ChangeRequest<'_>) -> Result<ValidChange, ChangeError> {
    match Kind::from_resource_type(req.resource_type) {
        Some(Kind::Scenario) => Ok(ValidChange::Scenario(parse_change(req)?)),
        Some(Kind::Model) => Ok(ValidChange::Model(parse_change(req)?)),
        Some(Kind::Package) => Ok(ValidChange::Package(parse_change(req)?)),
        None => Err(ChangeError::UnsupportedResource(req.resource_type)),
    }
}

/// What to do with a change that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The target is already stored: answer SUCCESS, write nothing.
    NoOp,
    /// Store the target. `wrong_owner` is set when a non-owner's request was accepted
    /// (lenient mode), so the caller can log a warning.
    Write {
        /// The transition's owners, when the source is not one of them.
        wrong_owner: Option<&'static [Component]>,
    },
    /// Store a completion and take the steps before it that nobody sent
    /// ([`crate::lifecycle`]); `wrong_owner` as for [`Outcome::Write`].
    StepsTaken {
        /// The steps the daemon takes, in order.
        taken: Vec<Step>,
        /// The owners of `allowed → completed`, when the source is not one of them.
        wrong_owner: Option<&'static [Component]>,
    },
}

/// A change decided against the fleet: what to answer, and the event that carries it out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Write or no-op.
    pub outcome: Outcome,
    /// The direct-set event to plan when the outcome is a write.
    pub event: Event,
    /// The stored state before (`None`: absent).
    pub from: Option<State>,
    /// The requested state.
    pub to: State,
}

impl ValidChange {
    /// The resource the change is about.
    pub fn resource(&self) -> Resource {
        match self {
            ValidChange::Scenario(c) => Resource::Scenario(c.name.clone()),
            ValidChange::Model(c) => Resource::Model(c.name.clone()),
            ValidChange::Package(c) => Resource::Package(c.name.clone()),
        }
    }

    /// Decides the change against the states in `fleet`
    /// (`docs/contract.md#state-change-checks`).
    pub fn decide(
        &self,
        fleet: &Fleet,
        source: &str,
        strict: bool,
    ) -> Result<Decision, ChangeError> {
        self.decide_with(fleet, source, strict, Lifecycle::Table)
    }

    /// As [`ValidChange::decide`], with scenario completions held to `lifecycle`
    /// (`docs/contract.md#lifecycle-in-pullpiri-mode`).
    pub fn decide_with(
        &self,
        fleet: &Fleet,
        source: &str,
        strict: bool,
        lifecycle: Lifecycle,
    ) -> Result<Decision, ChangeError> {
        match self {
            ValidChange::Scenario(c) => match complete(c, fleet, source, strict, lifecycle)? {
                Some(decision) => Ok(decision),
                None => decide_in(c, fleet, source, strict),
            },
            ValidChange::Model(c) => decide_in(c, fleet, source, strict),
            ValidChange::Package(c) => decide_in(c, fleet, source, strict),
        }
    }
}

fn decide_in<K: Transitions>(
    change: &Change<K>,
    fleet: &Fleet,
    source: &str,
    strict: bool,
) -> Result<Decision, ChangeError> {
    let stored = K::stored(fleet, &change.name);
    Ok(Decision {
        outcome: decide(change, stored, source, strict)?,
        event: K::set(&change.name, change.target),
        from: stored.map(K::any),
        to: K::any(change.target),
    })
}

/// A completion that arrived before the steps leading to it, decided by `lifecycle`; `None`
/// when the lifecycle rule does not cover it and the table decides.
fn complete(
    change: &Change<ScenarioKind>,
    fleet: &Fleet,
    source: &str,
    strict: bool,
    lifecycle: Lifecycle,
) -> Result<Option<Decision>, ChangeError> {
    if lifecycle == Lifecycle::Table {
        return Ok(None);
    }
    let stored = ScenarioKind::stored(fleet, &change.name);
    let outcome = match lifecycle::completion(stored, change.current, change.target) {
        Completion::NotCovered => return Ok(None),
        Completion::AlreadyDone => Outcome::NoOp,
        Completion::Missing(steps) if lifecycle == Lifecycle::Strict => {
            let missing: Vec<String> = steps
                .iter()
                .map(|s| format!("{} → {} ({})", s.from.short(), s.to.short(), s.owner))
                .collect();
            return Err(ChangeError::MissingSteps {
                stored: shown_state(stored.map(ScenarioState::stored)),
                missing: Shown(crate::error::list(
                    &missing.iter().map(String::as_str).collect::<Vec<_>>(),
                )),
            });
        }
        Completion::Missing(taken) => {
            // The caller still answers for the step it did send.
            let wrong_owner = match ScenarioKind::transition(
                Some(ScenarioState::Allowed),
                change.target,
                source,
                strict,
            )? {
                Outcome::Write { wrong_owner } => wrong_owner,
                _ => None,
            };
            Outcome::StepsTaken { taken, wrong_owner }
        }
    };
    Ok(Some(Decision {
        outcome,
        event: Event::CompleteScenario {
            scenario: change.name.clone(),
        },
        from: stored.map(State::Scenario),
        to: State::Scenario(change.target),
    }))
}

/// Decides a change against the stored state, in the contract's order: compare-and-set
/// (only when `current` is given), the no-op rule, then the kind's transition rules.
pub fn decide<K: Transitions>(
    change: &Change<K>,
    stored: Option<K::State>,
    source: &str,
    strict: bool,
) -> Result<Outcome, ChangeError> {
    if let Some(current) = change.current {
        if Some(current) != stored {
            return Err(ChangeError::PreconditionFailed {
                claimed: Shown(K::any(current).stored().into()),
                stored: shown_state(stored.map(|s| K::any(s).stored())),
            });
        }
    }
    if stored == Some(change.target) {
        return Ok(Outcome::NoOp);
    }
    K::transition(stored, change.target, source, strict)
}

/// Which state may follow which, per kind. By default any state may follow any other: models
/// and packages are set directly.
pub trait Transitions: Stateful {
    /// Decides a move from `stored` to `target` (never equal) requested by `source`.
    fn transition(
        _stored: Option<Self::State>,
        _target: Self::State,
        _source: &str,
        _strict: bool,
    ) -> Result<Outcome, ChangeError> {
        Ok(Outcome::Write { wrong_owner: None })
    }
}

impl Transitions for ModelKind {}

impl Transitions for PackageKind {}

/// Scenarios move along the scenario table; a non-owner is refused only when `strict`.
impl Transitions for ScenarioKind {
    fn transition(
        stored: Option<ScenarioState>,
        target: ScenarioState,
        source: &str,
        strict: bool,
    ) -> Result<Outcome, ChangeError> {
        let owners = |t: &Transition| {
            Shown(crate::error::list(
                &t.owners.iter().map(|c| c.name()).collect::<Vec<_>>(),
            ))
        };
        match check_transition(stored, target, source) {
            Verdict::Allowed(_) => Ok(Outcome::Write { wrong_owner: None }),
            Verdict::WrongOwner(t) if strict => Err(ChangeError::PermissionDenied {
                sender: source.into(),
                from: shown_state(stored.map(ScenarioState::stored)),
                to: target.stored(),
                owners: owners(t),
            }),
            Verdict::WrongOwner(t) => Ok(Outcome::Write {
                wrong_owner: Some(t.owners),
            }),
            Verdict::Invalid { allowed } => Err(ChangeError::InvalidTransition {
                from: shown_state(stored.map(ScenarioState::stored)),
                to: target.stored(),
                allowed: Shown(if allowed.is_empty() {
                    "none".into()
                } else {
                    crate::error::list(&allowed.iter().map(|s| s.stored()).collect::<Vec<_>>())
                }),
            }),
        }
    }
}

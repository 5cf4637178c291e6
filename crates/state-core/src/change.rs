//! `SendStateChange` semantics without I/O (spec §6): validation, compare-and-set against the
//! stored state, the no-op rule, the scenario table and the owner check, in the spec's order.

use alloc::{string::String, vec::Vec};
use core::fmt;

use crate::{
    ModelState, PackageState, ResourceType, ScenarioState,
    error::{NameError, ParseStateError},
    name::{ModelName, PackageName, ScenarioName},
    scenario::{Component, Transition, Verdict, check_transition},
};

/// A `StateChange` as received, before validation.
#[derive(Clone, Copy, Debug)]
pub struct ChangeRequest<'a> {
    /// `resource_type`
    pub resource_type: ResourceType,
    /// `resource_name`
    pub name: &'a str,
    /// `current_state`: what the sender believes is stored (`""`: absent)
    pub current: &'a str,
    /// `target_state`
    pub target: &'a str,
    /// `source`
    pub source: &'a str,
}

/// A validated change of one resource of kind `N` with states `S`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change<N, S> {
    /// The resource.
    pub name: N,
    /// The state the sender believes is stored; `None` for absent.
    pub current: Option<S>,
    /// The requested state.
    pub target: S,
}

/// A validated state change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValidChange {
    /// A scenario lifecycle step.
    Scenario(Change<ScenarioName, ScenarioState>),
    /// A direct model update (cascades to its packages).
    Model(Change<ModelName, ModelState>),
    /// A direct package update.
    Package(Change<PackageName, PackageState>),
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
            ChangeError::InvalidTransition { .. } => ErrorKind::InvalidStateTransition,
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

fn parse_change<N, S>(
    req: &ChangeRequest<'_>,
    name: fn(&str) -> Result<N, NameError>,
    parse: fn(&str) -> Result<S, ParseStateError>,
) -> Result<Change<N, S>, ChangeError> {
    let name = name(req.name.trim())?;
    let target = parse_opt("target_state", req.target, parse)?.ok_or(ChangeError::EmptyTarget)?;
    let current = parse_opt("current_state", req.current, parse)?;
    Ok(Change {
        name,
        current,
        target,
    })
}

/// Validates a request (spec §7): the kind, the name and both state strings.
pub fn validate(req: &ChangeRequest<'_>) -> Result<ValidChange, ChangeError> {
    match req.resource_type {
        ResourceType::Scenario => Ok(ValidChange::Scenario(parse_change(
            req,
            |s| ScenarioName::new(s),
            ScenarioState::parse,
        )?)),
        ResourceType::Model => Ok(ValidChange::Model(parse_change(
            req,
            |s| ModelName::new(s),
            ModelState::parse,
        )?)),
        ResourceType::Package => Ok(ValidChange::Package(parse_change(
            req,
            |s| PackageName::new(s),
            PackageState::parse,
        )?)),
        other => Err(ChangeError::UnsupportedResource(other)),
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
        /// The transition, when the source did not own it.
        wrong_owner: Option<&'static [Component]>,
    },
}

fn precondition<S: Copy + PartialEq>(
    current: Option<S>,
    stored: Option<S>,
    spell: fn(S) -> &'static str,
) -> Result<(), ChangeError> {
    if current == stored {
        Ok(())
    } else {
        Err(ChangeError::PreconditionFailed {
            claimed: shown_state(current.map(spell)),
            stored: shown_state(stored.map(spell)),
        })
    }
}

/// Decides a direct model or package update: compare-and-set, then the no-op rule. Any state
/// may follow any other.
pub fn decide_direct<N, S: Copy + PartialEq>(
    change: &Change<N, S>,
    stored: Option<S>,
    spell: fn(S) -> &'static str,
) -> Result<Outcome, ChangeError> {
    precondition(change.current, stored, spell)?;
    if stored == Some(change.target) {
        return Ok(Outcome::NoOp);
    }
    Ok(Outcome::Write { wrong_owner: None })
}

/// Decides a scenario step: compare-and-set, the no-op rule, the transition table, then the
/// owner check (which refuses only when `strict`).
pub fn decide_scenario(
    change: &Change<ScenarioName, ScenarioState>,
    stored: Option<ScenarioState>,
    source: &str,
    strict: bool,
) -> Result<Outcome, ChangeError> {
    precondition(change.current, stored, ScenarioState::stored)?;
    if stored == Some(change.target) {
        return Ok(Outcome::NoOp);
    }
    let owners = |t: &Transition| {
        Shown(crate::error::list(
            &t.owners.iter().map(|c| c.name()).collect::<Vec<_>>(),
        ))
    };
    match check_transition(stored, change.target, source) {
        Verdict::Allowed(_) => Ok(Outcome::Write { wrong_owner: None }),
        Verdict::WrongOwner(t) if strict => Err(ChangeError::PermissionDenied {
            sender: source.into(),
            from: shown_state(stored.map(ScenarioState::stored)),
            to: change.target.stored(),
            owners: owners(t),
        }),
        Verdict::WrongOwner(t) => Ok(Outcome::Write {
            wrong_owner: Some(t.owners),
        }),
        Verdict::Invalid { allowed } => Err(ChangeError::InvalidTransition {
            from: shown_state(stored.map(ScenarioState::stored)),
            to: change.target.stored(),
            allowed: Shown(if allowed.is_empty() {
                "none".into()
            } else {
                crate::error::list(&allowed.iter().map(|s| s.stored()).collect::<Vec<_>>())
            }),
        }),
    }
}

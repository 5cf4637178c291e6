//! From one NodeAgent `ContainerInfo` to a validated [`ReportedContainer`]: its name, its state
//! (`docs/contract.md#container-state`) and the model and package it belongs to
//! (`docs/contract.md#membership`). All three are
//! ordered rules written as data.

use alloc::{collections::BTreeMap, string::String};

use crate::{
    ContainerState,
    error::NameError,
    name::{ContainerName, ModelName, PackageName},
    table::Decision,
};

/// Read access to one of the string maps of a `ContainerInfo` (`state`, `config`,
/// `annotation`).
pub trait Fields {
    /// The value of `key`, if present.
    fn field(&self, key: &str) -> Option<&str>;
    /// Number of entries, checked against [`Limits::max_map_entries`].
    fn entries(&self) -> usize;
}

impl Fields for BTreeMap<String, String> {
    fn field(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
    fn entries(&self) -> usize {
        self.len()
    }
}

impl Fields for [(&str, &str)] {
    fn field(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
    fn entries(&self) -> usize {
        self.len()
    }
}

/// A condition of the container-state table, over the podman inspect fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Any of these flags is `"true"` (case-insensitive).
    AnyFlagTrue(&'static [&'static str]),
    /// `Status` is one of these and `ExitCode` is a non-zero integer.
    StatusWithNonZeroExit(&'static [&'static str]),
    /// `Status` is one of these (trimmed, case-insensitive).
    StatusIn(&'static [&'static str]),
    /// There is no `Status` and this flag is `"true"`.
    NoStatusAndFlagTrue(&'static str),
    /// Always matches; the last row.
    Otherwise,
}

/// The result of a container-state rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    State(ContainerState),
    /// The state named by `Status` itself.
    SameAsStatus,
}

/// One row of the container-state table.
#[derive(Clone, Copy, Debug)]
pub struct ContainerRule {
    /// The condition.
    pub when: When,
    /// The result.
    pub then: Then,
    /// The row in words, as the contract states it.
    pub text: &'static str,
}

/// Container state from the NodeAgent `state` map (`docs/contract.md#container-state`). First
/// match wins.
pub static CONTAINER_RULES: &[ContainerRule] = &[
    ContainerRule {
        when: When::AnyFlagTrue(&["Dead", "OOMKilled"]),
        then: Then::State(ContainerState::Dead),
        text: "Dead is \"true\", or OOMKilled is \"true\"",
    },
    ContainerRule {
        when: When::StatusWithNonZeroExit(&["exited", "stopped"]),
        then: Then::State(ContainerState::Dead),
        text: "Status is exited/stopped and ExitCode is present and not 0",
    },
    ContainerRule {
        when: When::StatusIn(&["exited", "stopped"]),
        then: Then::State(ContainerState::Exited),
        text: "Status is exited or stopped",
    },
    ContainerRule {
        when: When::StatusIn(&[
            "running",
            "paused",
            "created",
            "initialized",
            "dead",
            "unknown",
        ]),
        then: Then::SameAsStatus,
        text: "Status is running, paused, created, initialized, dead, unknown",
    },
    ContainerRule {
        when: When::StatusIn(&["configured"]),
        then: Then::State(ContainerState::Created),
        text: "Status is configured",
    },
    ContainerRule {
        when: When::StatusIn(&["stopping", "removing"]),
        then: Then::State(ContainerState::Exited),
        text: "Status is stopping or removing",
    },
    ContainerRule {
        when: When::NoStatusAndFlagTrue("Running"),
        then: Then::State(ContainerState::Running),
        text: "no Status, Running is \"true\"",
    },
    ContainerRule {
        when: When::Otherwise,
        then: Then::State(ContainerState::Unknown),
        text: "anything else",
    },
];

fn is_true(fields: &(impl Fields + ?Sized), key: &str) -> bool {
    fields
        .field(key)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// `ExitCode` parsed as a decimal integer. An empty or non-numeric value counts as absent.
fn exit_code(fields: &(impl Fields + ?Sized)) -> Option<i64> {
    fields.field("ExitCode")?.trim().parse().ok()
}

impl When {
    fn holds(&self, fields: &(impl Fields + ?Sized), status: Option<&str>) -> bool {
        let status_in =
            |list: &[&str]| status.is_some_and(|s| list.iter().any(|l| l.eq_ignore_ascii_case(s)));
        match *self {
            When::AnyFlagTrue(flags) => flags.iter().any(|f| is_true(fields, f)),
            When::StatusWithNonZeroExit(list) => {
                status_in(list) && exit_code(fields).is_some_and(|c| c != 0)
            }
            When::StatusIn(list) => status_in(list),
            When::NoStatusAndFlagTrue(flag) => status.is_none() && is_true(fields, flag),
            When::Otherwise => true,
        }
    }
}

/// Container state from the podman inspect fields, and the rule that decided it.
pub fn container_state(fields: &(impl Fields + ?Sized)) -> Decision<ContainerState> {
    let status = fields
        .field("Status")
        .map(str::trim)
        .filter(|s| !s.is_empty());
    for (row, rule) in CONTAINER_RULES.iter().enumerate() {
        if rule.when.holds(fields, status) {
            let state = match rule.then {
                Then::State(s) => s,
                Then::SameAsStatus => status
                    .and_then(|s| ContainerState::parse(s).ok())
                    .unwrap_or(ContainerState::Unknown),
            };
            return Decision { state, row };
        }
    }
    Decision {
        state: ContainerState::Unknown,
        row: CONTAINER_RULES.len() - 1,
    }
}

/// Where a container's model name comes from (`docs/contract.md#membership`), in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelSource {
    /// This annotation key.
    Annotation(&'static str),
    /// This config key.
    Config(&'static str),
    /// A name `{prefix}{model}`.
    NamePrefix(&'static str),
    /// A name `{model}_{rest}`, split at the first underscore.
    NameBeforeUnderscore,
}

/// The name Pullpiri's NodeAgent gives container `container` of model `model`:
/// `{model}_{container}` (the pod is named after the model; `docs/contract.md#membership`).
pub fn node_agent_name(model: &str, container: &str) -> String {
    alloc::format!("{model}_{container}")
}

/// The part of a NodeAgent container name after its model (`app` for `helloworld_app` of
/// `helloworld`); `None` when the name does not follow the convention for that model.
pub fn node_agent_suffix<'a>(name: &'a str, model: &str) -> Option<&'a str> {
    name.strip_prefix(model)?
        .strip_prefix('_')
        .filter(|s| !s.is_empty())
}

/// Container -> model rules (`docs/contract.md#membership`). The first rule whose source is present decides.
pub static MODEL_RULES: &[(ModelSource, &str)] = &[
    (
        ModelSource::Annotation("io.pullpiri.annotations.model"),
        "annotation io.pullpiri.annotations.model",
    ),
    (ModelSource::Annotation("model"), "annotation model"),
    (
        ModelSource::Annotation("pullpiri.model"),
        "annotation pullpiri.model",
    ),
    (ModelSource::Config("model"), "config model"),
    (ModelSource::NamePrefix("model-"), "a name model-{model}"),
    (
        ModelSource::NameBeforeUnderscore,
        "a name {model}_{rest} (split at the first underscore)",
    ),
];

/// Annotation naming a package the container's model belongs to (`docs/contract.md#membership`).
pub const PACKAGE_ANNOTATION: &str = "io.pullpiri.annotations.package";

/// The model a container belongs to, and the index of the rule in [`MODEL_RULES`] that said so.
/// `None` when no rule matches. Values are trimmed; empty values do not match.
pub fn model_of<'a, M: Fields + ?Sized>(
    name: &'a str,
    annotation: &'a M,
    config: &'a M,
) -> Option<(&'a str, usize)> {
    let non_empty = |v: &'a str| Some(v.trim()).filter(|v| !v.is_empty());
    MODEL_RULES
        .iter()
        .enumerate()
        .find_map(|(row, (source, _))| {
            let model = match *source {
                ModelSource::Annotation(key) => annotation.field(key).and_then(non_empty),
                ModelSource::Config(key) => config.field(key).and_then(non_empty),
                ModelSource::NamePrefix(prefix) => name.strip_prefix(prefix).and_then(non_empty),
                ModelSource::NameBeforeUnderscore => {
                    name.split_once('_').map(|(m, _)| m).and_then(non_empty)
                }
            }?;
            Some((model, row))
        })
}

/// Bounds on what one report may carry (`docs/contract.md#limits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most containers in one list.
    pub max_containers: usize,
    /// Most entries in each of a container's maps.
    pub max_map_entries: usize,
    /// Largest node membership value ([`crate::members`]): it is written as one key, so it
    /// must fit in one store request.
    pub max_membership_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Far above a vehicle node's container count, and a full list of this size
            // still fits the 4 MiB gRPC message limit.
            max_containers: 10_000,
            // podman inspect has about a dozen state fields; labels and annotations rarely
            // reach a hundred.
            max_map_entries: 256,
            // etcd refuses a request over 1.5 MiB (its --max-request-bytes default); the
            // membership key shares its transaction with other writes, so it gets 1 MiB.
            // About 2,700 containers with names of the longest allowed length.
            max_membership_bytes: 1024 * 1024,
        }
    }
}

/// One `ContainerInfo` as sent by a NodeAgent, borrowed from the decoded message.
#[derive(Debug)]
pub struct RawContainer<'a, M: ?Sized> {
    pub id: &'a str,
    /// `names` (NodeAgent sends one, `{model}_{container}`, maybe with a leading `/`)
    pub names: &'a [String],
    /// `state` (podman inspect fields)
    pub state: &'a M,
    pub config: &'a M,
    /// `annotation` (podman labels and annotations)
    pub annotation: &'a M,
}

/// A container entry that passed validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportedContainer {
    /// Its name (the key it is stored under).
    pub name: ContainerName,
    pub state: ContainerState,
    /// Its model, if any membership rule matched.
    pub model: Option<ModelName>,
    /// A package named by its package annotation.
    pub package: Option<PackageName>,
}

/// Why a container entry was skipped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// Neither a name nor an id.
    #[error("container has neither a name nor an id")]
    NoName,
    /// The name (or id) is not a valid name.
    #[error(transparent)]
    BadName(NameError),
    /// The model named by the membership rule is not a valid name.
    #[error("container {container:?}: {error} (from {rule})")]
    BadModel {
        container: String,
        /// What is wrong with the model name.
        error: NameError,
        /// The membership rule that produced it.
        rule: &'static str,
    },
    /// The package annotation is not a valid name.
    #[error("container {container:?}: {error} (from annotation {PACKAGE_ANNOTATION})")]
    BadPackage {
        container: String,
        /// What is wrong with the package name.
        error: NameError,
    },
    /// A map holds too many entries.
    #[error("container {container:?}: {map} has {count} entries; the limit is {limit}")]
    TooManyEntries {
        container: String,
        /// Which map (`state`, `config`, `annotation`).
        map: &'static str,
        /// How many entries it has.
        count: usize,
        limit: usize,
    },
}

impl<M: Fields + ?Sized> RawContainer<'_, M> {
    /// The name the container is stored under: its first name without a leading `/`, or its id.
    pub fn raw_name(&self) -> &str {
        self.names
            .first()
            .map(|n| n.strip_prefix('/').unwrap_or(n).trim())
            .filter(|n| !n.is_empty())
            .unwrap_or(self.id.trim())
    }

    /// Validates the entry and derives its state and membership.
    pub fn classify(&self, limits: &Limits) -> Result<ReportedContainer, EntryError> {
        let raw = self.raw_name();
        if raw.is_empty() {
            return Err(EntryError::NoName);
        }
        let name = ContainerName::new(raw).map_err(EntryError::BadName)?;
        for (map, fields) in [
            ("state", self.state),
            ("config", self.config),
            ("annotation", self.annotation),
        ] {
            if fields.entries() > limits.max_map_entries {
                return Err(EntryError::TooManyEntries {
                    container: raw.into(),
                    map,
                    count: fields.entries(),
                    limit: limits.max_map_entries,
                });
            }
        }
        let model = match model_of(raw, self.annotation, self.config) {
            None => None,
            Some((model, row)) => {
                Some(ModelName::new(model).map_err(|error| EntryError::BadModel {
                    container: raw.into(),
                    error,
                    rule: MODEL_RULES[row].1,
                })?)
            }
        };
        let package = match self.annotation.field(PACKAGE_ANNOTATION).map(str::trim) {
            None | Some("") => None,
            Some(p) => Some(PackageName::new(p).map_err(|error| EntryError::BadPackage {
                container: raw.into(),
                error,
            })?),
        };
        Ok(ReportedContainer {
            name,
            state: container_state(self.state).state,
            model,
            package,
        })
    }
}

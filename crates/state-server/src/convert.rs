//! Wire types to core types, at the edge. Everything past here is validated.

use state_core::{
    ResourceType,
    change::{ChangeRequest, ErrorKind},
    container::{Limits, RawContainer, ReportedContainer},
    name::NodeName,
};

use crate::{
    history::Entry,
    pb::{
        monitoringserver::ContainerList,
        statemanager::{ErrorCode, HistoryEntry, StateEvent, StateEventType},
    },
    watch::{LiveEvent, Phase},
};

/// A container list, validated: the node, the valid entries and one sentence per skipped entry.
#[derive(Debug)]
pub struct ValidList {
    /// The reporting node.
    pub node: NodeName,
    /// Entries that passed validation.
    pub containers: Vec<ReportedContainer>,
    /// Why each invalid entry was skipped.
    pub skipped: Vec<String>,
}

/// Why a whole container list was refused.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The node name is invalid.
    #[error("node_name: {0}")]
    Node(state_core::error::NameError),
    /// Too many containers.
    #[error("container list has {count} entries; the limit is {limit}")]
    TooMany {
        /// How many were sent.
        count: usize,
        limit: usize,
    },
    /// The node's membership would not fit in one store request.
    #[error(
        "the node's membership (container, model and package names) takes {bytes} bytes; the limit is {limit}, so that it fits in one store request: report fewer containers or shorter names"
    )]
    MembershipTooLarge {
        /// Its size.
        bytes: usize,
        limit: usize,
    },
}

/// Validates a NodeAgent container list. Invalid entries are skipped and named; a name listed
/// twice keeps its last entry and names the first as skipped.
pub fn container_list(list: &ContainerList, limits: &Limits) -> Result<ValidList, ListError> {
    let node = NodeName::new(list.node_name.trim()).map_err(ListError::Node)?;
    if list.containers.len() > limits.max_containers {
        return Err(ListError::TooMany {
            count: list.containers.len(),
            limit: limits.max_containers,
        });
    }
    // Entries in list order; a name listed again replaces its earlier entry, which is named
    // as skipped by its own position in the list.
    let mut containers: Vec<Option<ReportedContainer>> = Vec::with_capacity(list.containers.len());
    let mut skipped = Vec::new();
    let mut index = std::collections::HashMap::with_capacity(list.containers.len());
    for (i, c) in list.containers.iter().enumerate() {
        let raw = RawContainer {
            id: &c.id,
            names: &c.names,
            state: &c.state,
            config: &c.config,
            annotation: &c.annotation,
        };
        match raw.classify(limits) {
            Ok(valid) => {
                if let Some((prev, slot)) = index.insert(valid.name.clone(), (i, containers.len()))
                {
                    containers[slot] = None;
                    skipped.push(format!(
                        "entry {prev}: container {:?} is listed again later; the later entry is used",
                        valid.name.as_str()
                    ));
                }
                containers.push(Some(valid));
            }
            Err(e) => skipped.push(format!("entry {i}: {e}")),
        }
    }
    let containers: Vec<ReportedContainer> = containers.into_iter().flatten().collect();
    let bytes = state_core::members::encoded_len(
        containers
            .iter()
            .map(|c| (&c.name, c.model.as_ref(), c.package.as_ref())),
    );
    if bytes > limits.max_membership_bytes {
        return Err(ListError::MembershipTooLarge {
            bytes,
            limit: limits.max_membership_bytes,
        });
    }
    Ok(ValidList {
        node,
        containers,
        skipped,
    })
}

/// A `StateChange`'s fields as a core request. An unknown resource type number reads as
/// unspecified (refused by validation).
pub fn change_request(sc: &crate::pb::statemanager::StateChange) -> ChangeRequest<'_> {
    ChangeRequest {
        resource_type: ResourceType::from_wire(sc.resource_type)
            .unwrap_or(ResourceType::Unspecified),
        name: &sc.resource_name,
        current: &sc.current_state,
        target: &sc.target_state,
        source: &sc.source,
    }
}

/// The wire error code of a refusal.
pub fn error_code(kind: ErrorKind) -> ErrorCode {
    match kind {
        ErrorKind::InvalidRequest => ErrorCode::InvalidRequest,
        ErrorKind::PreconditionFailed => ErrorCode::PreconditionFailed,
        ErrorKind::InvalidStateTransition => ErrorCode::InvalidStateTransition,
        ErrorKind::PermissionDenied => ErrorCode::PermissionDenied,
    }
}

/// A watch event on the wire.
pub fn state_event(e: LiveEvent) -> StateEvent {
    let phase = match e.phase {
        Phase::Change => StateEventType::Change,
        Phase::Snapshot => StateEventType::Snapshot,
        Phase::SnapshotDone => StateEventType::SnapshotDone,
    };
    StateEvent {
        r#type: phase.into(),
        revision: e.revision,
        kind: e.kind.into(),
        name: e.name,
        old_state: e.old,
        new_state: e.new,
        source: e.source,
        transition_id: e.transition_id,
        why: e.why,
        timestamp_ns: e.time_ns,
        complete: e.complete,
    }
}

/// A history entry on the wire.
pub fn history_entry(e: Entry) -> HistoryEntry {
    HistoryEntry {
        revision: e.revision,
        kind: e.kind,
        name: e.name,
        timestamp_ns: e.record.time_ns,
        from_state: e.record.from,
        to_state: e.record.to,
        source: e.record.source,
        transition_id: e.record.transition_id,
        why: e.record.why,
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::pb::monitoringserver::ContainerInfo;

    fn entry(name: &str) -> ContainerInfo {
        ContainerInfo {
            names: vec![format!("/{name}")],
            state: [("Status".to_owned(), "running".to_owned())].into(),
            ..ContainerInfo::default()
        }
    }

    #[test]
    fn a_name_listed_again_keeps_its_last_entry_and_names_the_earlier_by_position() {
        let list = ContainerList {
            node_name: "n1".into(),
            containers: vec![
                entry("m_a"),
                entry("bad name"),
                entry("m_a"),
                entry("m_b"),
                entry("m_a"),
            ],
        };
        let valid = container_list(&list, &Limits::default()).unwrap();
        let names: Vec<&str> = valid.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["m_b", "m_a"]);
        expect![[r#"
            entry 1: container name "bad name" contains ' '; only letters, digits, '_', '.' and '-' are allowed
            entry 0: container "m_a" is listed again later; the later entry is used
            entry 2: container "m_a" is listed again later; the later entry is used"#]]
        .assert_eq(&valid.skipped.join("\n"));
    }
}

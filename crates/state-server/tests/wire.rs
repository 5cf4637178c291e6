//! The wire contract (`docs/contract.md#wire-services`) at the byte level: known messages encode to the bytes a
//! Pullpiri component sends and decode back; enum numbers and names match the contract.

use std::collections::BTreeMap;

use prost::Message;
use state_core::{ModelState, PackageState, ScenarioState};
use state_server::pb::{
    actioncontroller::{self, PodStatus, ReconcileRequest},
    monitoringserver::{ContainerInfo, ContainerList, SendContainerListResponse},
    statemanager::{
        self, ErrorCode, OffloadingRequest, ResourceType, StateChange, StateChangeResponse,
    },
};

fn roundtrip<M: Message + Default + PartialEq + std::fmt::Debug>(message: &M, bytes: &[u8]) {
    assert_eq!(message.encode_to_vec(), bytes, "encoding of {message:?}");
    assert_eq!(&M::decode(bytes).expect("decodes"), message);
}

#[test]
fn state_change_bytes() {
    let m = StateChange {
        resource_type: ResourceType::Scenario as i32,
        resource_name: "s1".into(),
        current_state: "idle".into(),
        target_state: "waiting".into(),
        transition_id: "t1".into(),
        timestamp_ns: 5,
        source: "FG".into(),
    };
    let mut bytes = vec![0x08, 0x01, 0x12, 0x02, b's', b'1', 0x1a, 0x04];
    bytes.extend_from_slice(b"idle");
    bytes.extend_from_slice(&[0x22, 0x07]);
    bytes.extend_from_slice(b"waiting");
    bytes.extend_from_slice(&[0x2a, 0x02, b't', b'1', 0x30, 0x05, 0x3a, 0x02, b'F', b'G']);
    roundtrip(&m, &bytes);
}

#[test]
fn state_change_response_bytes() {
    let m = StateChangeResponse {
        message: "ok".into(),
        transition_id: "t1".into(),
        timestamp_ns: 300,
        error_code: ErrorCode::PreconditionFailed as i32,
        error_details: "x".into(),
    };
    roundtrip(
        &m,
        &[
            0x0a, 0x02, b'o', b'k', 0x12, 0x02, b't', b'1', 0x18, 0xac, 0x02, 0x20, 0x05, 0x2a,
            0x01, b'x',
        ],
    );
}

#[test]
fn container_list_bytes() {
    let m = ContainerList {
        node_name: "n".into(),
        containers: vec![ContainerInfo {
            id: "i".into(),
            names: vec!["m_c".into()],
            image: String::new(),
            state: BTreeMap::from([("Status".into(), "running".into())]),
            config: BTreeMap::new(),
            annotation: BTreeMap::new(),
            stats: BTreeMap::new(),
        }],
    };
    let mut info = vec![
        0x0a, 0x01, b'i', 0x12, 0x03, b'm', b'_', b'c', 0x22, 0x11, 0x0a, 0x06,
    ];
    info.extend_from_slice(b"Status");
    info.extend_from_slice(&[0x12, 0x07]);
    info.extend_from_slice(b"running");
    let mut bytes = vec![
        0x0a,
        0x01,
        b'n',
        0x12,
        u8::try_from(info.len()).expect("short"),
    ];
    bytes.extend_from_slice(&info);
    roundtrip(&m, &bytes);
    roundtrip(
        &SendContainerListResponse { resp: "ok".into() },
        &[0x0a, 0x02, b'o', b'k'],
    );
}

#[test]
fn reconcile_and_offloading_bytes() {
    roundtrip(
        &ReconcileRequest {
            scenario_name: "s".into(),
            current: PodStatus::Failed as i32,
            desired: PodStatus::Running as i32,
        },
        &[0x0a, 0x01, b's', 0x10, 0x05, 0x18, 0x03],
    );
    let fields = ["a", "b", "c", "d", "e", "f", "g"];
    let m = OffloadingRequest {
        scenario_name: fields[0].into(),
        package_name: fields[1].into(),
        model_name: fields[2].into(),
        source_node: fields[3].into(),
        target_node: fields[4].into(),
        policy_name: fields[5].into(),
        reason: fields[6].into(),
    };
    let mut bytes = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        bytes.extend_from_slice(&[
            u8::try_from((i + 1) << 3 | 2).expect("tag"),
            0x01,
            f.as_bytes()[0],
        ]);
    }
    roundtrip(&m, &bytes);
    // ActionController's OffloadModel takes the same seven fields with the same numbers.
    let forwarded =
        actioncontroller::OffloadModelRequest::decode(bytes.as_slice()).expect("decodes");
    assert_eq!(forwarded.model_name, "c");
    assert_eq!(forwarded.reason, "g");
}

#[test]
fn enum_numbers_and_names_match_the_core() {
    for s in ModelState::ALL {
        let pb = statemanager::ModelState::try_from(s.wire()).expect("known number");
        assert_eq!(pb.as_str_name(), s.stored());
    }
    for s in PackageState::ALL {
        let pb = statemanager::PackageState::try_from(s.wire()).expect("known number");
        assert_eq!(pb.as_str_name(), s.stored());
    }
    for s in ScenarioState::ALL {
        let pb = statemanager::ScenarioState::try_from(s.wire()).expect("known number");
        assert_eq!(pb.as_str_name(), s.stored());
    }
    for r in state_core::ResourceType::ALL {
        let pb = ResourceType::try_from(r.wire()).expect("known number");
        assert_eq!(
            pb.as_str_name(),
            format!("RESOURCE_TYPE_{}", r.short().to_uppercase())
        );
    }
    let codes = [
        (ErrorCode::Success, 0),
        (ErrorCode::Unspecified, 1),
        (ErrorCode::InvalidRequest, 2),
        (ErrorCode::ResourceNotFound, 3),
        (ErrorCode::InvalidStateTransition, 4),
        (ErrorCode::PreconditionFailed, 5),
        (ErrorCode::Timeout, 6),
        (ErrorCode::ResourceUnavailable, 7),
        (ErrorCode::PermissionDenied, 8),
        (ErrorCode::InternalError, 9),
        (ErrorCode::DependencyFailed, 10),
        (ErrorCode::RecoveryFailed, 11),
    ];
    for (code, n) in codes {
        assert_eq!(code as i32, n, "{}", code.as_str_name());
    }
    assert_eq!(PodStatus::Failed as i32, 5);
    assert_eq!(PodStatus::Running as i32, 3);
}

#[test]
fn service_names_match_pullpiri() {
    assert_eq!(
        statemanager::state_manager_connection_server::SERVICE_NAME,
        "statemanager.StateManagerConnection"
    );
    assert_eq!(
        actioncontroller::action_controller_connection_server::SERVICE_NAME,
        "actioncontroller.ActionControllerConnection"
    );
}

//! State changes (`SendStateChange`): the outcomes in the contract's order, an empty
//! `current_state` as no precondition, the scenario table with its re-arm after a completed
//! lifecycle, strict sources, a direct model update cascading to its package, and
//! compare-and-set against a write behind the daemon's back
//! (`docs/contract.md#state-change-checks`, `docs/contract.md#scenario-table`).

use std::time::Duration;

use state_server::pb::statemanager::{ErrorCode, ResourceType, StateChange};

use crate::harness::{HELLOWORLD, Harness, code};

#[tokio::test]
async fn state_change_outcomes_follow_the_contract_order() {
    let mut h = Harness::start().await;
    let s = ResourceType::Scenario;

    let r = h.change(s, "sc", "", "idle", "ApiServer").await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    assert_eq!(r.transition_id, "t-sc-idle");
    h.assert_stored("/scenario/sc/state", "SCENARIO_STATE_IDLE")
        .await;

    // A non-empty current_state is compared with the stored state.
    let r = h
        .change(s, "sc", "waiting", "satisfied", "FilterGateway")
        .await;
    assert_eq!(code(&r), ErrorCode::PreconditionFailed, "{r:?}");
    assert!(
        r.error_details.contains("SCENARIO_STATE_IDLE"),
        "{}",
        r.error_details
    );

    // An empty one is no precondition; the scenario table still applies.
    let r = h.change(s, "sc", "", "completed", "ActionController").await;
    assert_eq!(code(&r), ErrorCode::InvalidStateTransition, "{r:?}");
    assert!(
        r.error_details.contains("SCENARIO_STATE_WAITING"),
        "{}",
        r.error_details
    );

    let r = h
        .change(s, "sc", "idle", "completed", "ActionController")
        .await;
    assert_eq!(code(&r), ErrorCode::InvalidStateTransition, "{r:?}");
    assert!(
        r.error_details.contains("SCENARIO_STATE_WAITING"),
        "{}",
        r.error_details
    );
    h.assert_stored("/scenario/sc/state", "SCENARIO_STATE_IDLE")
        .await;

    let r = h
        .change(s, "sc", "IDLE", "SCENARIO_STATE_WAITING", "FilterGateway")
        .await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");

    let r = h
        .change(s, "sc", "waiting", "waiting", "FilterGateway")
        .await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    assert!(r.message.contains("nothing written"), "{}", r.message);

    let r = h.change(s, "sc", "waiting", "bogus", "FilterGateway").await;
    assert_eq!(code(&r), ErrorCode::InvalidRequest, "{r:?}");
    assert!(
        r.error_details.contains("expected one of"),
        "{}",
        r.error_details
    );

    let r = h
        .change(ResourceType::Volume, "v", "", "idle", "ApiServer")
        .await;
    assert_eq!(code(&r), ErrorCode::InvalidRequest, "{r:?}");

    let mut raw = StateChange {
        resource_type: 99,
        resource_name: "x".into(),
        target_state: "idle".into(),
        ..StateChange::default()
    };
    let r = h
        .client
        .send_state_change(raw.clone())
        .await
        .expect("answered")
        .into_inner();
    assert_eq!(code(&r), ErrorCode::InvalidRequest, "{r:?}");
    raw.resource_type = ResourceType::Model as i32;
    raw.resource_name = "../../scenario/sc".into();
    raw.target_state = "running".into();
    let r = h
        .client
        .send_state_change(raw)
        .await
        .expect("answered")
        .into_inner();
    assert_eq!(code(&r), ErrorCode::InvalidRequest, "{r:?}");

    // A non-owner is accepted (with a warning) by default.
    let r = h
        .change(s, "sc", "waiting", "satisfied", "PolicyManager")
        .await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    h.stop().await;
}

#[tokio::test]
async fn scenario_runs_again_after_reapply_with_empty_current() {
    let mut h = Harness::start().await;
    let s = ResourceType::Scenario;
    for (from, to, source) in [
        ("", "idle", "ApiServer"),
        ("idle", "waiting", "FilterGateway"),
        ("waiting", "satisfied", "FilterGateway"),
        ("satisfied", "allowed", "PolicyManager"),
        ("allowed", "completed", "ActionController"),
    ] {
        let r = h.change(s, "sc", from, to, source).await;
        assert_eq!(code(&r), ErrorCode::Success, "{from} -> {to}: {r:?}");
    }
    h.assert_stored("/scenario/sc/state", "SCENARIO_STATE_COMPLETED")
        .await;

    // The ApiServer applies the artifact again: `current_state ""` re-arms the scenario.
    let r = h.change(s, "sc", "", "idle", "ApiServer").await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    h.assert_stored("/scenario/sc/state", "SCENARIO_STATE_IDLE")
        .await;
    // Applied again while idle: nothing to write.
    let r = h.change(s, "sc", "", "idle", "ApiServer").await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    assert!(r.message.contains("nothing written"), "{}", r.message);

    let r = h.change(s, "sc", "idle", "waiting", "FilterGateway").await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    // A scenario in the middle of its lifecycle is not re-armed.
    let r = h.change(s, "sc", "", "idle", "ApiServer").await;
    assert_eq!(code(&r), ErrorCode::InvalidStateTransition, "{r:?}");
    h.assert_stored("/scenario/sc/state", "SCENARIO_STATE_WAITING")
        .await;
    h.stop().await;
}

#[tokio::test]
async fn strict_sources_refuse_non_owners() {
    let mut h = Harness::start_with(|cfg| cfg.engine.strict_sources = true).await;
    let s = ResourceType::Scenario;
    let r = h.change(s, "sc", "", "idle", "FilterGateway").await;
    assert_eq!(code(&r), ErrorCode::PermissionDenied, "{r:?}");
    assert!(r.error_details.contains("ApiServer"), "{}", r.error_details);
    assert_eq!(h.etcd.value("/scenario/sc/state").await, None);
    let r = h.change(s, "sc", "", "idle", "api-server").await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    h.stop().await;
}

#[tokio::test]
async fn direct_model_update_cascades_to_package() {
    let mut h = Harness::start().await;
    h.apply(HELLOWORLD).await;
    let r = h
        .change(
            ResourceType::Model,
            "helloworld",
            "MODEL_STATE_CREATED",
            "dead",
            "ActionController",
        )
        .await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    h.assert_stored("/package/helloworld/state", "PACKAGE_STATE_ERROR")
        .await;
    assert_eq!(h.ac.wait_for(1, Duration::from_secs(5)).await.len(), 1);
    let r = h
        .change(ResourceType::Package, "helloworld", "running", "idle", "x")
        .await;
    assert_eq!(code(&r), ErrorCode::PreconditionFailed, "{r:?}");
    // An empty current_state is no precondition for models and packages either: here each
    // target is already stored, so both answer SUCCESS without a write.
    let r = h
        .change(ResourceType::Model, "helloworld", "", "dead", "x")
        .await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    assert!(r.message.contains("nothing written"), "{}", r.message);
    let r = h
        .change(ResourceType::Package, "helloworld", "", "error", "x")
        .await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    assert!(r.message.contains("nothing written"), "{}", r.message);
    h.stop().await;
}

#[tokio::test]
async fn external_write_makes_compare_and_set_fail() {
    let mut h = Harness::start().await;
    let s = ResourceType::Scenario;
    let r = h.change(s, "sc", "", "idle", "ApiServer").await;
    assert_eq!(code(&r), ErrorCode::Success);
    // Another writer moves the scenario behind the daemon's back.
    let mut other = h.etcd.client().await;
    other
        .put("/scenario/sc/state", "SCENARIO_STATE_WAITING", None)
        .await
        .expect("put");
    let r = h.change(s, "sc", "idle", "waiting", "FilterGateway").await;
    assert_eq!(code(&r), ErrorCode::PreconditionFailed, "{r:?}");
    assert!(
        r.error_details.contains("SCENARIO_STATE_WAITING"),
        "{}",
        r.error_details
    );
    let r = h
        .change(s, "sc", "waiting", "satisfied", "FilterGateway")
        .await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    h.stop().await;
}

//! The lifecycle rule of Pullpiri mode beyond the end-to-end run: `--strict-lifecycle`
//! refuses a completion nobody allowed and names the missing step; a PolicyManager that does
//! send its steps keeps the table as it is; outside the mode the table stands unchanged.

use state_core::lifecycle::Lifecycle;
use state_server::pb::statemanager::ErrorCode;

use crate::{
    common::{ActionController, Daemon, Etcd, etcd_config},
    e2e::{history, s, send, steps},
    peers::step,
};

async fn daemon(etcd: &Etcd, ac: &ActionController, lifecycle: Lifecycle) -> Daemon {
    let mut cfg = etcd_config(etcd, ac);
    cfg.engine.lifecycle = lifecycle;
    Daemon::start(cfg).await
}

#[tokio::test]
async fn strict_lifecycle_refuses_a_completion_nobody_allowed_and_names_the_step() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let d = daemon(&etcd, &ac, Lifecycle::Strict).await;
    let mut client = d.client().await;
    for change in [
        step("s1", "", "idle", "apiserver"),
        step("s1", "idle", "waiting", "filtergateway"),
        step("s1", "waiting", "satisfied", "filtergateway"),
    ] {
        assert_eq!(send(&mut client, change).await, ErrorCode::Success);
    }
    let answer = client
        .send_state_change(step("s1", "allowed", "completed", "actioncontroller"))
        .await
        .expect("answered")
        .into_inner();
    assert_eq!(
        answer.error_code,
        ErrorCode::InvalidStateTransition as i32,
        "{answer:?}"
    );
    assert!(
        answer
            .error_details
            .contains("satisfied → allowed (PolicyManager)"),
        "{answer:?}"
    );
    assert_eq!(
        etcd.value("/scenario/s1/state").await.as_deref(),
        Some("SCENARIO_STATE_SATISFIED")
    );
    d.stop().await;
}

#[tokio::test]
async fn a_policy_manager_that_sends_its_steps_keeps_the_table_and_the_mode_changes_nothing_else() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let d = daemon(&etcd, &ac, Lifecycle::FillIn).await;
    let mut client = d.client().await;
    for change in [
        step("s1", "", "idle", "apiserver"),
        step("s1", "idle", "waiting", "filtergateway"),
        step("s1", "waiting", "satisfied", "filtergateway"),
        step("s1", "satisfied", "allowed", "policymanager"),
        step("s1", "allowed", "completed", "actioncontroller"),
    ] {
        assert_eq!(send(&mut client, change).await, ErrorCode::Success);
    }
    assert_eq!(
        steps(&history(&mut client, "scenario", "s1").await),
        [
            s("", "idle", "apiserver"),
            s("idle", "waiting", "filtergateway"),
            s("waiting", "satisfied", "filtergateway"),
            s("satisfied", "allowed", "policymanager"),
            s("allowed", "completed", "actioncontroller"),
        ],
        "no step taken on anyone's behalf"
    );
    // A denied scenario is not completed by anyone.
    for change in [
        step("s2", "", "idle", "apiserver"),
        step("s2", "idle", "waiting", "filtergateway"),
        step("s2", "waiting", "satisfied", "filtergateway"),
        step("s2", "satisfied", "denied", "policymanager"),
    ] {
        assert_eq!(send(&mut client, change).await, ErrorCode::Success);
    }
    assert_eq!(
        send(
            &mut client,
            step("s2", "allowed", "completed", "actioncontroller")
        )
        .await,
        ErrorCode::PreconditionFailed
    );
    d.stop().await;
    // Outside the mode, the completion of a satisfied scenario is refused as before.
    let d = daemon(&etcd, &ac, Lifecycle::Table).await;
    let mut client = d.client().await;
    for change in [
        step("s3", "", "idle", "apiserver"),
        step("s3", "idle", "waiting", "filtergateway"),
        step("s3", "waiting", "satisfied", "filtergateway"),
    ] {
        assert_eq!(send(&mut client, change).await, ErrorCode::Success);
    }
    assert_eq!(
        send(
            &mut client,
            step("s3", "allowed", "completed", "actioncontroller")
        )
        .await,
        ErrorCode::PreconditionFailed
    );
    d.stop().await;
}

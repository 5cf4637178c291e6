//! Writes made behind the daemon's back (another process, an operator with `etcdctl`): the
//! daemon's watched cache takes them in with exact counts, writes the cascade they call for,
//! and decides later requests against them (`docs/contract.md#outside-writes`).

use std::time::Duration;

use state_core::{ContainerState, ModelState, PackageState, ScenarioState};
use state_server::pb::statemanager::{ErrorCode, ResourceType};

use crate::{
    common::{checker::check_consistent, eventually},
    harness::{HELLOWORLD, Harness, code, container, dead, running},
};

const MODEL: &str = "/model/helloworld/state";
const PACKAGE: &str = "/package/helloworld/state";

async fn put(h: &Harness, key: &str, value: &str) {
    h.etcd
        .client()
        .await
        .put(key, value, None)
        .await
        .expect("outside put");
}

async fn until_stored(h: &Harness, key: &str, value: &str) {
    eventually(
        Duration::from_secs(5),
        &format!("{key} = {value}"),
        || async { (h.etcd.value(key).await.as_deref() == Some(value)).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn an_outside_container_write_moves_its_model_and_package() {
    let mut h = Harness::start().await;
    h.apply(HELLOWORLD).await;
    h.report("HPC", vec![dead("helloworld_a")]).await;
    h.assert_stored(MODEL, ModelState::Dead.stored()).await;
    h.assert_stored(PACKAGE, PackageState::Error.stored()).await;

    // Another process writes the container running: the daemon writes the cascade at once.
    put(
        &h,
        "/container/helloworld_a/state",
        ContainerState::Running.stored(),
    )
    .await;
    until_stored(&h, MODEL, ModelState::Running.stored()).await;
    until_stored(&h, PACKAGE, PackageState::Running.stored()).await;
    check_consistent(&h.etcd, &[]).await;

    // The node's next lists are decided against what etcd holds, counts included.
    let exited = container("helloworld_a", &[("Status", "exited"), ("ExitCode", "0")]);
    h.report("HPC", vec![exited]).await;
    assert_eq!(check_consistent(&h.etcd, &[]).await, 2);
    h.report("HPC", vec![running("helloworld_a")]).await;
    h.assert_stored(MODEL, ModelState::Running.stored()).await;
    assert_eq!(check_consistent(&h.etcd, &[]).await, 2);

    // An outside delete of the container key takes the container off its node, as a restart
    // would; an outside delete of a derived state is written back.
    let mut etcd = h.etcd.client().await;
    etcd.delete(MODEL, None).await.expect("outside delete");
    until_stored(&h, MODEL, ModelState::Running.stored()).await;
    h.stop().await;
}

#[tokio::test]
async fn an_outside_scenario_write_is_the_precondition_of_the_next_step() {
    let mut h = Harness::start().await;
    h.apply(HELLOWORLD).await;
    let r = h
        .change(
            ResourceType::Scenario,
            "helloworld",
            "",
            "idle",
            "ApiServer",
        )
        .await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    put(
        &h,
        "/scenario/helloworld/state",
        ScenarioState::Waiting.stored(),
    )
    .await;
    eventually(
        Duration::from_secs(5),
        "the daemon answers waiting",
        || async { (scenario_state(&h).await == ScenarioState::Waiting.stored()).then_some(()) },
    )
    .await;
    let r = h
        .change(
            ResourceType::Scenario,
            "helloworld",
            "waiting",
            "satisfied",
            "FilterGateway",
        )
        .await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    h.assert_stored(
        "/scenario/helloworld/state",
        ScenarioState::Satisfied.stored(),
    )
    .await;
    h.stop().await;
}

/// The scenario's state as the daemon answers it.
async fn scenario_state(h: &Harness) -> String {
    let mut client = h.client.clone();
    crate::harness::get(&mut client, ResourceType::Scenario, "helloworld")
        .await
        .map(|e| e.state)
        .unwrap_or_default()
}

/// An outside write that takes a package out of Error ends its error episode, as any other
/// way out of Error does: its record is deleted.
#[tokio::test]
async fn an_outside_write_out_of_error_ends_the_episode() {
    let mut h = Harness::start().await;
    h.apply(HELLOWORLD).await;
    h.report("HPC", vec![dead("helloworld_a")]).await;
    eventually(Duration::from_secs(5), "the episode recorded", || async {
        h.etcd.value("/reconcile/helloworld").await.map(|_| ())
    })
    .await;
    put(&h, PACKAGE, PackageState::Running.stored()).await;
    eventually(Duration::from_secs(5), "the episode ended", || async {
        h.etcd
            .value("/reconcile/helloworld")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    h.stop().await;
}

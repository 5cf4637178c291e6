//! A daemon that starts on a store already holding state: it loads every state and node
//! membership and rewrites nothing that still holds, it knows which node runs which container,
//! and it takes in artifacts another tool stores after it started (`docs/contract.md#promises`,
//! `docs/contract.md#membership`).

use std::time::Duration;

use state_server::pb::statemanager::{ErrorCode, ResourceType};

use crate::{
    common::eventually,
    harness::{HELLOWORLD, Harness, code, dead, running},
};

#[tokio::test]
async fn restart_loads_state_and_rewrites_nothing() {
    let mut h = Harness::start().await;
    h.apply(HELLOWORLD).await;
    let containers = || vec![running("helloworld_a"), running("helloworld_b")];
    h.report("HPC", containers()).await;
    let r = h
        .change(
            ResourceType::Scenario,
            "helloworld",
            "",
            "idle",
            "ApiServer",
        )
        .await;
    assert_eq!(code(&r), ErrorCode::Success);
    let (etcd, ac) = h.stop_daemon().await;
    let before = etcd.dump().await;

    let mut h = Harness::on(etcd, ac).await;
    let resp = h.report("HPC", containers()).await;
    assert!(resp.contains("0 written"), "{resp}");
    assert_eq!(
        h.etcd.dump().await,
        before,
        "the first report after a restart rewrote keys"
    );
    // The scenario state was loaded: compare-and-set works against it.
    let r = h
        .change(
            ResourceType::Scenario,
            "helloworld",
            "idle",
            "waiting",
            "FilterGateway",
        )
        .await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    h.stop().await;
}

#[tokio::test]
async fn restart_knows_each_nodes_containers() {
    let mut h = Harness::start().await;
    // Model `nav` runs on two nodes; its dead container is on n2.
    h.report("n1", vec![running("nav_a"), running("radio_a")])
        .await;
    h.report("n2", vec![dead("nav_b")]).await;
    h.assert_stored("/model/nav/state", "MODEL_STATE_DEAD")
        .await;
    h.assert_stored("/node/n1/containers", "nav_a\tnav\t\nradio_a\tradio\t\n")
        .await;
    let (etcd, ac) = h.stop_daemon().await;
    let before = etcd.dump().await;

    let mut h = Harness::on(etcd, ac).await;
    assert_eq!(h.etcd.dump().await, before, "start-up rewrote keys");
    // n1 reports first after the restart, and radio_a vanished while the daemon was down: its
    // key goes, and nav stays dead because the daemon still counts n2's container.
    let resp = h.report("n1", vec![running("nav_a")]).await;
    assert!(resp.contains("0 written, 1 removed"), "{resp}");
    assert_eq!(h.etcd.value("/container/radio_a/state").await, None);
    h.assert_stored("/model/nav/state", "MODEL_STATE_DEAD")
        .await;
    // radio lost its only container and no package lists it: its key goes too.
    assert_eq!(h.etcd.value("/model/radio/state").await, None);
    h.report("n2", vec![running("nav_b")]).await;
    h.assert_stored("/model/nav/state", "MODEL_STATE_RUNNING")
        .await;
    // A node that reports no containers loses its membership key.
    h.report("n2", vec![]).await;
    assert_eq!(h.etcd.value("/node/n2/containers").await, None);
    h.stop().await;
}

#[tokio::test]
async fn package_learnt_after_start_is_evaluated() {
    let mut h = Harness::start().await;
    h.report("n1", vec![running("nav_a"), dead("nav_b")]).await;
    h.assert_stored("/model/nav/state", "MODEL_STATE_DEAD")
        .await;
    assert_eq!(h.etcd.value("/package/navigation/state").await, None);
    // Another tool (the ApiServer) stores the artifacts directly in etcd.
    let mut other = h.etcd.client().await;
    other
        .put(
            "Package/navigation",
            "kind: Package\nmetadata:\n  name: navigation\nspec:\n  models:\n    - name: nav\n      node: n1\n",
            None,
        )
        .await
        .expect("put");
    other
        .put(
            "Scenario/navigation",
            "kind: Scenario\nmetadata:\n  name: navigation\nspec:\n  target: navigation\n",
            None,
        )
        .await
        .expect("put");
    eventually(Duration::from_secs(10), "package state written", || async {
        (h.etcd.value("/package/navigation/state").await.as_deref() == Some("PACKAGE_STATE_ERROR"))
            .then_some(())
    })
    .await;
    let calls = h.ac.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    h.stop().await;
}

/// Someone deletes the election key while the leader's lease lives (an operator clearing
/// `statemanager/`): the daemon notices, campaigns again and goes on storing lists.
#[tokio::test]
async fn a_deleted_election_key_is_won_again() {
    let mut h = Harness::start().await;
    h.report("n1", vec![running("m_a")]).await;
    h.etcd
        .client()
        .await
        .delete(
            state_server::leader::ELECTION,
            Some(etcd_client::DeleteOptions::new().with_prefix()),
        )
        .await
        .expect("delete the election keys");
    h.report_when_serving(Duration::from_secs(15), "n1", vec![dead("m_a")])
        .await;
    h.assert_stored("/container/m_a/state", "dead").await;
    h.stop().await;
}

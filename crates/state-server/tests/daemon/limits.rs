//! Writes that must fit the store (`docs/contract.md#limits`): a list whose node membership can
//! never be stored in one etcd request is refused up front with the limit named, never treated
//! as an outage, while other callers are served; a large list that fits is stored whole, split
//! by operations and by bytes.

use std::time::Duration;

use crate::{
    common::checker::check_consistent,
    harness::{Harness, list, running},
};

/// Container `i`'s name, `len` characters long, of one of 50 models.
fn long_name(i: usize, len: usize) -> String {
    let prefix = format!("m{}_c{i}_", i % 50);
    format!("{prefix}{}", "x".repeat(len - prefix.len()))
}

/// A running container with that name and a short id, so that 10,000 of them fit in one
/// 4 MiB gRPC message.
fn long(i: usize, len: usize) -> state_server::pb::monitoringserver::ContainerInfo {
    let mut c = running(&long_name(i, len));
    c.id = format!("{i}");
    c.image = String::new();
    c
}

#[tokio::test]
async fn a_list_that_can_never_be_stored_is_refused_not_an_outage() {
    let mut h = Harness::start().await;
    // 10,000 containers with 239-character names: about 2.4 MB of membership.
    let huge: Vec<_> = (0..10_000).map(|i| long(i, 239)).collect();
    let mut client = h.client.clone();
    let refused =
        tokio::spawn(async move { client.send_changed_container_list(list("big", huge)).await });
    // Another node is answered meanwhile.
    h.report("small", vec![running("m_a")]).await;
    let e = refused
        .await
        .expect("task")
        .expect_err("a list that cannot be stored is refused");
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("the limit is 1048576"),
        "{}",
        e.message()
    );
    assert_eq!(h.etcd.value("/node/big/containers").await, None);
    // Nothing was kept to retry, and the daemon is not out of service.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(h.etcd.value("/node/big/containers").await, None);
    h.report("small", vec![running("m_a"), running("m_b")])
        .await;
    h.assert_stored("/container/m_b/state", "running").await;
    h.stop().await;
}

#[tokio::test]
async fn a_large_list_that_fits_is_stored_whole_in_byte_bounded_transactions() {
    // A request limit of 48 KiB for the daemon's writes (etcd here keeps its 1.5 MiB, which the
    // membership value still fits): about 80 of these container writes fit in one
    // transaction, fewer than --max-txn-ops allows, so bytes decide the split.
    let mut h = Harness::start_with(|cfg| cfg.engine.max_request_bytes = 48 * 1024).await;
    // 2,500 containers with 239-character names: under the membership limit, whose value
    // alone is larger than a request here (it then goes in a transaction of its own).
    let big: Vec<_> = (0..2_500).map(|i| long(i, 239)).collect();
    let resp = h.report("big", big).await;
    assert!(
        resp.starts_with("node big: 2500 containers stored"),
        "{}",
        &resp[..resp.len().min(300)]
    );
    let name = long_name(7, 239);
    h.assert_stored(&format!("/container/{name}/state"), "running")
        .await;
    assert_eq!(check_consistent(&h.etcd, &[]).await, 50);
    h.stop().await;
}

#[tokio::test]
async fn a_forgotten_node_loses_its_keys_with_their_cascade() {
    let mut h = Harness::start().await;
    h.apply(crate::harness::HELLOWORLD).await;
    h.report("HPC", vec![crate::harness::dead("helloworld_a")])
        .await;
    h.assert_stored("/package/helloworld/state", "PACKAGE_STATE_ERROR")
        .await;
    let resp = h
        .client
        .forget_node(state_server::pb::statemanager::ForgetNodeRequest {
            node_name: "HPC".into(),
        })
        .await
        .expect("forgotten")
        .into_inner()
        .resp;
    assert!(resp.contains("1 removed"), "{resp}");
    assert_eq!(h.etcd.value("/node/HPC/containers").await, None);
    assert_eq!(h.etcd.value("/container/helloworld_a/state").await, None);
    // The package's model has no container left: it is no longer in Error.
    assert_ne!(
        h.etcd.value("/package/helloworld/state").await.as_deref(),
        Some("PACKAGE_STATE_ERROR")
    );
    check_consistent(&h.etcd, &[]).await;
    let e = h
        .client
        .forget_node(state_server::pb::statemanager::ForgetNodeRequest {
            node_name: "../x".into(),
        })
        .await
        .expect_err("a bad node name is refused");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    h.stop().await;
}

//! The reconcile sender: a package in Error is reconciled once the ActionController is
//! reachable, retried until then, and dropped when the package leaves Error first
//! (`docs/contract.md#reconcile`).

use std::time::Duration;

use crate::{
    common::{ActionController, Etcd, checker::check_consistent, eventually},
    harness::{HELLOWORLD, Harness, dead, running},
};

#[tokio::test]
async fn reconcile_retries_while_in_error_and_stops_when_it_leaves() {
    let mut h = Harness::on(Etcd::start().await, ActionController::unstarted()).await;
    h.apply(HELLOWORLD).await;
    // ActionController down: requests are still answered at once.
    h.report("HPC", vec![dead("helloworld_a")]).await;
    h.assert_stored("/package/helloworld/state", "PACKAGE_STATE_ERROR")
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    h.ac.run().await;
    let calls = h.ac.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(calls.len(), 1, "retried until delivered once: {calls:?}");

    // A package that leaves error before the ActionController is back gets nothing.
    let mut h2 = Harness::on(Etcd::start().await, ActionController::unstarted()).await;
    h2.apply(HELLOWORLD).await;
    h2.report("HPC", vec![dead("helloworld_a")]).await;
    h2.report("HPC", vec![running("helloworld_a")]).await;
    h2.assert_stored("/package/helloworld/state", "PACKAGE_STATE_RUNNING")
        .await;
    h2.ac.run().await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(h2.ac.calls().is_empty(), "{:?}", h2.ac.calls());
    h.stop().await;
    h2.stop().await;
}

/// The episode is recorded in etcd with the Error state and its delivery once answered: a
/// Reconcile owed when the daemon stops is sent by the next one, and one already answered is
/// never sent again, however often the daemon restarts. A new episode gets its own.
#[tokio::test]
async fn one_reconcile_per_episode_across_restarts() {
    const EPISODE: &str = "/reconcile/helloworld";
    let mut h = Harness::on(Etcd::start().await, ActionController::unstarted()).await;
    h.apply(HELLOWORLD).await;
    h.report("HPC", vec![dead("helloworld_a")]).await;
    h.assert_stored(EPISODE, "owed\thelloworld").await;

    // Stopped with the Reconcile undelivered (ActionController down): the next daemon owes it.
    let (etcd, mut ac) = h.stop_daemon().await;
    ac.run().await;
    let h = Harness::on(etcd, ac).await;
    let calls = h.ac.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].scenario_name, "helloworld");
    eventually(Duration::from_secs(5), "the delivery recorded", || async {
        (h.etcd.value(EPISODE).await.as_deref() == Some("delivered\thelloworld")).then_some(())
    })
    .await;

    // Two more restarts in the same episode: nothing more is sent.
    let (etcd, ac) = h.stop_daemon().await;
    let h = Harness::on(etcd, ac).await;
    let (etcd, ac) = h.stop_daemon().await;
    let mut h = Harness::on(etcd, ac).await;
    h.report("HPC", vec![dead("helloworld_a")]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(h.ac.calls().len(), 1, "sent again: {:?}", h.ac.calls());
    check_consistent(&h.etcd, &[]).await;

    // Leaving Error ends the episode; entering it again is a new one.
    h.report("HPC", vec![running("helloworld_a")]).await;
    assert_eq!(
        h.etcd.value(EPISODE).await,
        None,
        "episode record left behind"
    );
    h.report("HPC", vec![dead("helloworld_a")]).await;
    let calls = h.ac.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(calls.len(), 2, "{calls:?}");
    h.stop().await;
}

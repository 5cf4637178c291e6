//! The reconcile sender: a package in Error is reconciled once the ActionController is
//! reachable, retried until then, and dropped when the package leaves Error first
//! (`docs/contract.md#reconcile`).

use std::time::Duration;

use crate::{
    common::{ActionController, Etcd},
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

//! Two and three daemon processes on one etcd, clients alternating between them: every write is
//! carried out once by the leader whichever daemon receives it, every daemon answers reads from
//! its watched cache, a whole scenario lifecycle runs across replicas, and an error episode gets
//! one Reconcile (`docs/contract.md#replicas`).

use std::time::Duration;

use state_server::pb::statemanager::{
    ApplyArtifactsRequest, ErrorCode, ResourceType, StateChange,
    state_manager_connection_client::StateManagerConnectionClient,
};
use tonic::transport::Channel;

use crate::{
    common::{ActionController, Etcd, checker::check_consistent, eventually},
    harness::{HELLOWORLD, code, dead, get, report, running},
    replica::Replica,
};

type Client = StateManagerConnectionClient<Channel>;

async fn step(client: &mut Client, from: &str, to: &str, source: &str) {
    let r = client
        .send_state_change(StateChange {
            resource_type: ResourceType::Scenario as i32,
            resource_name: "helloworld".into(),
            current_state: from.into(),
            target_state: to.into(),
            transition_id: format!("t-{to}"),
            timestamp_ns: 1,
            source: source.into(),
        })
        .await
        .expect("answered")
        .into_inner();
    assert_eq!(code(&r), ErrorCode::Success, "{from} -> {to}: {r:?}");
}

/// Every replica answers the model's state as `want` (reads come from each one's own cache).
async fn all_read(clients: &[Client], want: &str) {
    for (i, c) in clients.iter().enumerate() {
        let what = format!("replica {i} reads {want}");
        eventually(Duration::from_secs(5), &what, || {
            let mut c = c.clone();
            async move {
                let e = get(&mut c, ResourceType::Model, "helloworld").await.ok()?;
                (e.state == want).then_some(())
            }
        })
        .await;
    }
}

async fn alternate(replicas: usize) {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut daemons = Vec::new();
    for i in 0..replicas {
        daemons.push(Replica::start(&[etcd.url()], &ac.url(), dir.path(), &format!("r{i}")).await);
    }
    let mut clients = Vec::new();
    for d in &daemons {
        clients.push(d.client().await);
    }
    let n = clients.len();
    let applied = clients[n - 1]
        .apply_artifacts(ApplyArtifactsRequest {
            yaml: HELLOWORLD.into(),
        })
        .await
        .expect("apply")
        .into_inner();
    assert!(applied.errors.is_empty(), "{:?}", applied.errors);

    // Reports through each replica in turn, adding and removing containers.
    report(&mut clients[0], "HPC", vec![running("helloworld_a")]).await;
    all_read(&clients, "MODEL_STATE_RUNNING").await;
    report(
        &mut clients[1 % n],
        "HPC",
        vec![running("helloworld_a"), dead("helloworld_b")],
    )
    .await;
    all_read(&clients, "MODEL_STATE_DEAD").await;
    // The package entered Error: a first episode, one Reconcile.
    assert_eq!(ac.wait_for(1, Duration::from_secs(5)).await.len(), 1);
    // Removed through another replica than the one that added it.
    report(&mut clients[2 % n], "HPC", vec![running("helloworld_a")]).await;
    all_read(&clients, "MODEL_STATE_RUNNING").await;
    assert_eq!(etcd.value("/container/helloworld_b/state").await, None);
    check_consistent(&etcd, &[]).await;

    // A whole scenario lifecycle, each step through the next replica.
    let steps = [
        ("", "idle", "ApiServer"),
        ("idle", "waiting", "FilterGateway"),
        ("waiting", "satisfied", "FilterGateway"),
        ("satisfied", "allowed", "PolicyManager"),
        ("allowed", "completed", "ActionController"),
        ("completed", "idle", "ApiServer"),
    ];
    for (i, (from, to, source)) in steps.into_iter().enumerate() {
        step(&mut clients[i % n], from, to, source).await;
    }
    assert_eq!(
        etcd.value("/scenario/helloworld/state").await.as_deref(),
        Some("SCENARIO_STATE_IDLE")
    );

    // A second episode, reported through every replica: one more Reconcile.
    for c in clients.iter_mut() {
        report(c, "HPC", vec![dead("helloworld_a")]).await;
    }
    let calls = ac.wait_for(2, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ac.calls().len(), 2, "{calls:?}");
    check_consistent(&etcd, &[]).await;

    // Every replica restarts, one after another: the episode's Reconcile is not sent again.
    for (i, d) in daemons.iter_mut().enumerate() {
        d.stop();
        *d = Replica::start(&[etcd.url()], &ac.url(), dir.path(), &format!("r{i}-again")).await;
    }
    let mut client = daemons[0].client().await;
    report(&mut client, "HPC", vec![dead("helloworld_a")]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        ac.calls().len(),
        2,
        "sent again after restarts: {:?}",
        ac.calls()
    );
    check_consistent(&etcd, &[]).await;
}

#[tokio::test]
async fn two_replicas_alternating() {
    alternate(2).await;
}

#[tokio::test]
async fn three_replicas_alternating() {
    alternate(3).await;
}

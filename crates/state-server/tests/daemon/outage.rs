//! etcd outages: requests that must write are refused (nothing half-written, nothing
//! acknowledged) and health turns NOT_SERVING, then the daemon recovers by itself without
//! losing acknowledged writes; container lists refused by the outage are kept and delivered
//! after it, since a NodeAgent never resends them; concurrent reports during an outage; and queries while the state
//! could not be loaded answer UNAVAILABLE, never absence (`docs/contract.md#outages`,
//! `docs/contract.md#queries`).

use std::time::Duration;

use state_server::pb::statemanager::{ErrorCode, ResourceType};

use crate::{
    common::{ActionController, Etcd, checker::check_consistent, eventually},
    harness::{HELLOWORLD, Harness, code, dead, get, list, report_concurrently, running},
};

#[tokio::test]
async fn etcd_outage_refuses_requests_then_recovers_without_losing_acknowledged_writes() {
    let mut h = Harness::start().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(
        tonic::transport::Endpoint::from_shared(h.daemon.url())
            .expect("url")
            .connect()
            .await
            .expect("connect"),
    );
    let check = tonic_health::pb::HealthCheckRequest {
        service: "statemanager.StateManagerConnection".into(),
    };
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    let not_serving = tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;
    eventually(Duration::from_secs(5), "health serving after start", || {
        let mut health = health.clone();
        let check = check.clone();
        async move { (health.check(check).await.ok()?.into_inner().status == serving).then_some(()) }
    })
    .await;

    h.report("n1", vec![running("m_a")]).await;
    let r = h
        .change(ResourceType::Scenario, "s", "", "idle", "ApiServer")
        .await;
    assert_eq!(code(&r), ErrorCode::Success);

    h.etcd.kill();
    let e = h
        .client
        .send_changed_container_list(list("n1", vec![dead("m_a")]))
        .await
        .expect_err("refused while etcd is down");
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    let r = h
        .change(
            ResourceType::Scenario,
            "s",
            "idle",
            "waiting",
            "FilterGateway",
        )
        .await;
    assert_eq!(code(&r), ErrorCode::ResourceUnavailable, "{r:?}");
    assert!(!r.error_details.is_empty());
    assert_eq!(
        health
            .check(check.clone())
            .await
            .expect("health")
            .into_inner()
            .status,
        not_serving
    );

    h.etcd.restart().await;
    h.report_when_serving(Duration::from_secs(15), "n1", vec![dead("m_a")])
        .await;
    h.assert_stored("/container/m_a/state", "dead").await;
    h.assert_stored("/model/m/state", "MODEL_STATE_DEAD").await;
    h.assert_stored("/scenario/s/state", "SCENARIO_STATE_IDLE")
        .await;
    eventually(Duration::from_secs(5), "health back to serving", || {
        let mut health = health.clone();
        let check = check.clone();
        async move { (health.check(check).await.ok()?.into_inner().status == serving).then_some(()) }
    })
    .await;
    h.stop().await;
}

#[tokio::test]
async fn concurrent_reports_during_an_outage_are_refused_then_delivered() {
    let mut h = Harness::start().await;
    let nodes = 6;
    for n in 0..nodes {
        h.report(&format!("n{n}"), vec![running(&format!("m{n}_a"))])
            .await;
    }
    h.etcd.kill();
    let mut tasks = Vec::new();
    for n in 0..nodes {
        let mut client = h.client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .send_changed_container_list(list(&format!("n{n}"), vec![dead(&format!("m{n}_a"))]))
                .await
        }));
    }
    for t in tasks {
        let e = t
            .await
            .expect("task")
            .expect_err("refused while etcd is down");
        assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    }
    h.etcd.restart().await;
    // Each refused list was kept: all of them reach etcd without being sent again.
    for n in 0..nodes {
        let key = format!("/model/m{n}/state");
        eventually(Duration::from_secs(15), &key, || async {
            (h.etcd.value(&key).await.as_deref() == Some("MODEL_STATE_DEAD")).then_some(())
        })
        .await;
    }
    // Sent again anyway, they change nothing.
    let dead_a = |n: usize| vec![dead(&format!("m{n}_a"))];
    for resp in report_concurrently(&h.client, 0..nodes, dead_a).await {
        assert!(resp.contains("0 written"), "{resp}");
    }
    h.stop().await;
}

#[tokio::test]
async fn queries_during_a_start_up_outage_answer_unavailable() {
    let mut etcd = Etcd::start().await;
    // A stored state the daemon cannot read while etcd is down.
    etcd.client()
        .await
        .put("/scenario/s/state", "SCENARIO_STATE_IDLE", None)
        .await
        .expect("put");
    let ac = ActionController::start().await;
    etcd.kill();
    // The daemon starts while etcd is down: it serves, and keeps trying to load its state.
    let mut h = Harness::on(etcd, ac).await;
    let e = h
        .get(ResourceType::Scenario, "s")
        .await
        .expect_err("no state can be read");
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    let e = h
        .get(ResourceType::Package, "nope")
        .await
        .expect_err("no state can be read");
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    let e = h
        .list(ResourceType::Scenario, "")
        .await
        .expect_err("no state can be listed");
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");

    // etcd comes back: the daemon loads its state, and absence is absence again.
    h.etcd.restart().await;
    eventually(
        Duration::from_secs(15),
        "state loaded after the outage",
        || {
            let mut client = h.client.clone();
            async move {
                let e = get(&mut client, ResourceType::Package, "nope")
                    .await
                    .err()?;
                (e.code() == tonic::Code::NotFound).then_some(())
            }
        },
    )
    .await;
    let got = h
        .get(ResourceType::Scenario, "s")
        .await
        .expect("loaded state");
    assert_eq!(got.state, "SCENARIO_STATE_IDLE");
    h.stop().await;
}

/// Pullpiri's NodeAgent never sends a refused list again. A list refused during an outage is
/// kept and reaches etcd once it is back, with its cascade and Reconcile, without a resend; a
/// newer list from the same node replaces it.
#[tokio::test]
async fn a_list_refused_during_an_outage_reaches_etcd_after_it() {
    let mut h = Harness::start().await;
    h.apply(HELLOWORLD).await;
    h.report("HPC", vec![running("helloworld_a")]).await;
    h.report("n2", vec![running("other_a")]).await;

    h.etcd.kill();
    for (node, list) in [
        ("HPC", list("HPC", vec![dead("helloworld_a")])),
        // n2's first refused list is replaced by its second.
        ("n2", list("n2", vec![dead("other_a")])),
        (
            "n2",
            list("n2", vec![running("other_a"), running("other_b")]),
        ),
    ] {
        let e = h
            .client
            .send_changed_container_list(list)
            .await
            .expect_err("refused while etcd is down");
        assert_eq!(e.code(), tonic::Code::Unavailable, "{node}: {e:?}");
    }
    h.etcd.restart().await;

    // Nothing is sent again: the kept lists arrive by themselves.
    eventually(Duration::from_secs(15), "the kept list stored", || async {
        (h.etcd.value("/package/helloworld/state").await.as_deref() == Some("PACKAGE_STATE_ERROR"))
            .then_some(())
    })
    .await;
    h.assert_stored("/container/helloworld_a/state", "dead")
        .await;
    h.assert_stored("/model/helloworld/state", "MODEL_STATE_DEAD")
        .await;
    let calls = h.ac.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    eventually(Duration::from_secs(5), "n2's newer list stored", || async {
        h.etcd.value("/container/other_b/state").await.map(|_| ())
    })
    .await;
    h.assert_stored("/container/other_a/state", "running").await;
    check_consistent(&h.etcd, &[]).await;
    h.stop().await;
}

/// A list kept through an outage by one daemon may reach the leader after a newer list of the
/// same node that went through another daemon: it is older (by when it was received), so it
/// changes nothing.
#[tokio::test]
async fn an_older_kept_list_never_overwrites_a_newer_one() {
    use state_server::{forward::FORWARDED, lists::RECEIVED};
    let mut h = Harness::start().await;
    let forwarded = |containers, received: i64| {
        let mut r = tonic::Request::new(list("n1", containers));
        r.metadata_mut()
            .insert(FORWARDED, "1".parse().expect("value"));
        r.metadata_mut().insert(RECEIVED, received.into());
        r
    };
    // Forwarded lists go to a leader only: wait until this daemon leads.
    h.report_when_serving(Duration::from_secs(10), "n0", vec![running("m0_a")])
        .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as i64;
    h.client
        .send_changed_container_list(forwarded(vec![running("m_a")], now))
        .await
        .expect("the newer list");
    let resp = h
        .client
        .send_changed_container_list(forwarded(vec![dead("m_a")], now - 10_000_000_000))
        .await
        .expect("answered")
        .into_inner()
        .resp;
    assert!(resp.contains("0 written"), "{resp}");
    h.assert_stored("/container/m_a/state", "running").await;
    h.stop().await;
}

//! Reconcile and offloading against ActionControllers as Pullpiri's behaves today: one that
//! refuses every Reconcile (in an installation it reads keys its ApiServer never writes) is
//! asked once per error episode and its refusal recorded; one that relaunches synchronously
//! and answers after 5 s is asked once; an offloading still running at the deadline is
//! answered as taken and not sent twice.

use std::time::Duration;

use state_server::{
    pb::statemanager::OffloadingRequest,
    pullpiri::PULLPIRI_ACTION_CONTROLLER_TIMEOUT,
    reconcile::Policy,
    server::{Config, StoreConfig},
};

use crate::{
    common::{Daemon, Etcd, config, free_port},
    e2e::{history, send},
    harness::{HELLOWORLD, apply, dead, report, running},
    peers::{Double, episode_recorded, step},
};

/// The daemon in Pullpiri mode's reconcile rules, reconciling to `ac`.
fn pullpiri_config(etcd: &Etcd, ac: &Double) -> Config {
    let mut cfg = config(
        StoreConfig::Etcd {
            endpoints: vec![etcd.url()],
            access: etcd.access(),
        },
        &ac.url(),
    );
    cfg.reconcile = Policy::pullpiri();
    cfg.pullpiri = true;
    cfg.backoff.call_timeout = PULLPIRI_ACTION_CONTROLLER_TIMEOUT;
    cfg
}

/// Applies the example, starts its scenario and reports its container running.
async fn deployed(client: &mut crate::harness::Client) {
    apply(client, HELLOWORLD).await;
    send(client, step("helloworld", "", "idle", "apiserver")).await;
    report(client, "HPC", vec![running("helloworld_a")]).await;
}

#[tokio::test]
async fn a_refused_reconcile_is_recorded_once_per_episode_and_asked_again_in_the_next() {
    let etcd = Etcd::start().await;
    let ac = Double::start("action-controller", "127.0.0.1:0", &["--keys-not-found"]);
    let port = free_port();
    let mut cfg = pullpiri_config(&etcd, &ac);
    cfg.metrics_listen = Some(([127, 0, 0, 1], port).into());
    let d = Daemon::start(cfg).await;
    let mut client = d.client().await;
    deployed(&mut client).await;

    report(&mut client, "HPC", vec![dead("helloworld_a")]).await;
    let calls = ac.wait_for("Reconcile", 1, Duration::from_secs(10)).await;
    assert_eq!(calls[0]["current"], "DONE", "{:?}", calls[0]);
    episode_recorded(&etcd, "helloworld", "refused", Duration::from_secs(5)).await;
    // The test's backoff retries within 300 ms: a refusal is not retried at all.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(ac.calls("Reconcile").len(), 1, "asked once in the episode");
    let package = history(&mut client, "package", "helloworld").await;
    let refusal = package.last().expect("a record");
    assert_eq!(refusal.source, "ActionController");
    assert_eq!(refusal.from_state, "PACKAGE_STATE_ERROR");
    assert_eq!(refusal.to_state, "PACKAGE_STATE_ERROR");
    assert!(refusal.why.contains("Key not found"), "{:?}", refusal.why);
    let (_, scrape) = crate::common::http_get(port, "/metrics").await;
    assert!(
        scrape.contains("statemanager_reconciles_total{outcome=\"refused\"} 1"),
        "{scrape}"
    );

    // The package recovers and fails again: a new episode, asked again.
    report(&mut client, "HPC", vec![running("helloworld_a")]).await;
    report(&mut client, "HPC", vec![dead("helloworld_a")]).await;
    ac.wait_for("Reconcile", 2, Duration::from_secs(10)).await;
    d.stop().await;
}

#[tokio::test]
async fn an_action_controller_that_relaunches_for_5_s_is_asked_once_and_offloads_are_not_doubled() {
    let etcd = Etcd::start().await;
    let ac = Double::start("action-controller", "127.0.0.1:0", &["--delay-ms", "5000"]);
    let d = Daemon::start(pullpiri_config(&etcd, &ac)).await;
    let mut client = d.client().await;
    deployed(&mut client).await;
    report(&mut client, "HPC", vec![dead("helloworld_a")]).await;
    ac.wait_for("Reconcile", 1, Duration::from_secs(10)).await;
    episode_recorded(&etcd, "helloworld", "delivered", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        ac.calls("Reconcile").len(),
        1,
        "{:?}",
        ac.calls("Reconcile")
    );
    d.stop().await;

    // Offloading with a deadline shorter than the move: answered as taken, once.
    let mut cfg = pullpiri_config(&etcd, &ac);
    cfg.backoff.call_timeout = Duration::from_secs(1);
    let d = Daemon::start(cfg).await;
    let client = d.client().await;
    let offload = || OffloadingRequest {
        scenario_name: "helloworld".into(),
        package_name: "helloworld".into(),
        model_name: "helloworld".into(),
        source_node: "HPC".into(),
        target_node: "ZONE".into(),
        policy_name: "p".into(),
        reason: "CPU threshold exceeded".into(),
    };
    let (first, second) = tokio::join!(
        {
            let mut c = client.clone();
            async move { c.trigger_offloading(offload()).await }
        },
        {
            let mut c = client.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                c.trigger_offloading(offload()).await
            }
        }
    );
    let (first, second) = (
        first.expect("answered").into_inner(),
        second.expect("answered").into_inner(),
    );
    assert!(first.accepted, "{first:?}");
    assert!(first.message.contains("may still be moving"), "{first:?}");
    assert!(second.accepted, "{second:?}");
    assert!(second.message.contains("already being moved"), "{second:?}");
    assert_eq!(ac.calls("OffloadModel").len(), 1);
    d.stop().await;
}

//! Readiness follows the store whether or not requests arrive (`docs/contract.md#outages`): a
//! leader and a follower that get no traffic turn `/readyz` 503, `statemanager_store_up` 0 and
//! gRPC health NOT_SERVING within the lease once etcd dies, and come back by themselves when
//! it returns.

use std::time::Duration;

use state_server::server::Config;
use tokio::time::Instant;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    common::{ActionController, Daemon, Etcd, etcd_config, free_port, http_get as get},
    metrics::value,
};

/// A daemon with its probe port.
struct Probed {
    daemon: Daemon,
    port: u16,
}

/// What a probe sees: `/readyz`'s status, `statemanager_store_up`, and whether gRPC health
/// answers SERVING for the service.
async fn seen(p: &Probed) -> (u16, f64, bool) {
    let (ready, _) = get(p.port, "/readyz").await;
    let (_, scrape) = get(p.port, "/metrics").await;
    let channel = tonic::transport::Endpoint::from_shared(p.daemon.url())
        .expect("url")
        .connect()
        .await;
    let serving = match channel {
        Ok(channel) => HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: "statemanager.StateManagerConnection".into(),
            })
            .await
            .is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32),
        Err(_) => false,
    };
    (ready, value(&scrape, "statemanager_store_up"), serving)
}

/// Waits until every daemon shows `want`, failing at `deadline` with what each showed.
async fn until_all(daemons: &[&Probed], want: (u16, f64, bool), deadline: Instant, what: &str) {
    loop {
        let mut all = true;
        let mut last = Vec::new();
        for p in daemons {
            let s = seen(p).await;
            all &= s == want;
            last.push(s);
        }
        if all {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: wanted (readyz, store_up, serving) = {want:?} on every daemon, saw {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_idle_leader_and_follower_follow_their_store_down_and_back() {
    let mut etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let start = |etcd: &Etcd| {
        let port = free_port();
        let mut cfg = etcd_config(etcd, &ac);
        cfg.metrics_listen = Some(([127, 0, 0, 1], port).into());
        async move {
            Probed {
                daemon: Daemon::start(cfg).await,
                port,
            }
        }
    };
    let a = start(&etcd).await;
    // The first is elected; the second then follows.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let b = start(&etcd).await;
    let up = (200, 1.0, true);
    let down = (503, 0.0, false);
    until_all(
        &[&a, &b],
        up,
        Instant::now() + Duration::from_secs(15),
        "ready after start",
    )
    .await;
    let leaders = value(&get(a.port, "/metrics").await.1, "statemanager_leader")
        + value(&get(b.port, "/metrics").await.1, "statemanager_leader");
    assert_eq!(leaders, 1.0, "one leader and one follower");

    // No request arrives from here on: only the daemons' own checks can notice.
    etcd.kill();
    let lease = Config::DEFAULT_LEASE_TTL;
    until_all(
        &[&a, &b],
        down,
        // The lease, and a moment for the probes' own round trips.
        Instant::now() + lease + Duration::from_secs(1),
        "not ready within the lease after etcd died",
    )
    .await;
    // And it stays so while etcd is away.
    tokio::time::sleep(Duration::from_secs(2)).await;
    until_all(&[&a, &b], down, Instant::now(), "still not ready").await;

    etcd.restart().await;
    until_all(
        &[&a, &b],
        up,
        Instant::now() + Duration::from_secs(15),
        "ready again once etcd is back, with no request",
    )
    .await;
    a.daemon.stop().await;
    b.daemon.stop().await;
}

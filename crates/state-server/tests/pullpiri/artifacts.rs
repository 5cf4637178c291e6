//! Artifacts from Pullpiri's RocksDB service (`docs/pullpiri.md#artifacts`): taken in as the
//! ApiServer changes them; a document the daemon cannot read is skipped and the copy stored
//! before stays; an unreachable service keeps the topology, said by
//! `statemanager_artifacts_up` and `/readyz`; a service that comes back empty empties the
//! topology only once that has held for the grace.

use std::time::Duration;

use state_server::{
    pb::{
        rocksdbservice::{DeleteRequest, rocks_db_service_client::RocksDbServiceClient},
        statemanager::{ListResourceStatesRequest, ResourceType},
    },
    pullpiri::rocksdb::Source,
    server::StoreConfig,
};
use tokio::time::Instant;

use crate::{
    common::{Daemon, Etcd, config, eventually, free_port, http_get},
    harness::{Client, report, running},
    peers::{Double, MODEL, PACKAGE, SCENARIO, apply_as_api_server},
};

/// The example with a second package, `other`, with one model.
const OTHER: &str = "apiVersion: v1\nkind: Package\nmetadata:\n  name: other\nspec:\n  models:\n  - name: other\n    node: HPC\n";

async fn packages(client: &mut Client) -> Vec<String> {
    client
        .list_resource_states(ListResourceStatesRequest {
            resource_type: ResourceType::Package as i32,
            state: String::new(),
        })
        .await
        .expect("list")
        .into_inner()
        .entries
        .into_iter()
        .map(|e| e.resource_name)
        .collect()
}

#[tokio::test]
async fn artifacts_follow_the_service_and_outlive_its_outages() {
    let etcd = Etcd::start().await;
    let mut rocksdb = Double::start("rocksdb", "127.0.0.1:0", &[]);
    let port = free_port();
    let mut cfg = config(
        StoreConfig::Etcd {
            endpoints: vec![etcd.url()],
            access: etcd.access(),
        },
        "http://127.0.0.1:1",
    );
    let grace = Duration::from_secs(2);
    cfg.artifacts = Some(Source {
        url: rocksdb.url(),
        every: Duration::from_millis(200),
        empty_grace: grace,
        call_timeout: Duration::from_secs(1),
    });
    cfg.metrics_listen = Some(([127, 0, 0, 1], port).into());
    let d = Daemon::start(cfg).await;
    let mut client = d.client().await;

    apply_as_api_server(
        &rocksdb.url(),
        &[
            ("Scenario/helloworld", SCENARIO),
            ("Package/helloworld", PACKAGE),
            ("Model/helloworld", MODEL),
            ("Package/other", OTHER),
        ],
    )
    .await;
    eventually(
        Duration::from_secs(10),
        "both packages taken in",
        || async {
            let mut c = client.clone();
            let listed = packages(&mut c).await;
            (listed.len() == 2).then_some(())
        },
    )
    .await;
    assert!(etcd.value("Model/helloworld").await.is_some());
    report(&mut client, "HPC", vec![running("helloworld_a")]).await;

    // A document the daemon cannot read: skipped, the copy stored before stays.
    apply_as_api_server(
        &rocksdb.url(),
        &[("Package/other", "kind: Package\nmetadata: [")],
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(etcd.value("Package/other").await.as_deref(), Some(OTHER));
    // A key the ApiServer deletes goes at the next poll.
    RocksDbServiceClient::connect(rocksdb.url())
        .await
        .expect("service")
        .delete(DeleteRequest {
            key: "Package/other".into(),
        })
        .await
        .expect("delete");
    eventually(Duration::from_secs(5), "Package/other removed", || async {
        etcd.value("Package/other").await.is_none().then_some(())
    })
    .await;

    // The service goes away: the topology stays, and the daemon says so without going
    // unready.
    let addr = rocksdb.addr.clone();
    rocksdb.kill();
    eventually(Duration::from_secs(10), "artifacts_up 0", || async {
        let (_, scrape) = http_get(port, "/metrics").await;
        scrape.contains("statemanager_artifacts_up 0").then_some(())
    })
    .await;
    let (status, body) = http_get(port, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("artifacts: Pullpiri's RocksDB service"),
        "{body}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(packages(&mut client).await, ["helloworld"]);
    assert!(etcd.value("Package/helloworld").await.is_some());

    // It comes back empty (a wiped data directory): nothing goes before the grace, then all.
    let _back = Double::start("rocksdb", &addr, &[]);
    let answered = Instant::now();
    eventually(Duration::from_secs(10), "artifacts_up 1", || async {
        let (_, scrape) = http_get(port, "/metrics").await;
        scrape.contains("statemanager_artifacts_up 1").then_some(())
    })
    .await;
    while answered.elapsed() < grace - Duration::from_millis(500) {
        assert!(
            etcd.value("Package/helloworld").await.is_some(),
            "removed {:?} after the service came back empty, before the grace",
            answered.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eventually(
        Duration::from_secs(10),
        "artifacts removed after the grace",
        || async {
            etcd.value("Package/helloworld")
                .await
                .is_none()
                .then_some(())
        },
    )
    .await;
    assert!(etcd.value("Scenario/helloworld").await.is_none());
    d.stop().await;
}

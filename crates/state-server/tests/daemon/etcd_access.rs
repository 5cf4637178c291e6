//! etcd with TLS and client certificates, and etcd with authentication (README, "Security"):
//! with the right CA, certificate or user the daemon serves; without them it refuses every
//! request with etcd's reason, never answering from an empty view.

use std::time::Duration;

use state_server::{pb::statemanager::ResourceType, server::StoreConfig, store::etcd::EtcdAccess};

use crate::{
    common::{ActionController, Daemon, Etcd, EtcdTls, certs::Ca, config},
    harness::{Harness, get, running},
};

/// A daemon on `etcd` that shows none of what etcd asks for; its answer to a query.
async fn without_access(etcd: &Etcd, ac: &ActionController) -> tonic::Status {
    let store = StoreConfig::Etcd {
        endpoints: vec![etcd.url()],
        access: EtcdAccess {
            // Trusts etcd's certificate, but has no client certificate or user.
            ca: etcd.access().ca,
            ..EtcdAccess::default()
        },
    };
    let daemon = Daemon::start(config(store, &ac.url())).await;
    let mut client = daemon.client().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let e = get(&mut client, ResourceType::Model, "m")
        .await
        .expect_err("no access, no answer");
    daemon.stop().await;
    e
}

#[tokio::test]
async fn etcd_with_tls_and_client_certificates() {
    let ca = Ca::new();
    let tls = EtcdTls {
        ca: ca.pem.clone(),
        server: ca.server("etcd"),
        client: ca.client_cn("state-server"),
    };
    let etcd = Etcd::start_with(Some(tls)).await;
    let ac = ActionController::start().await;
    let e = without_access(&etcd, &ac).await;
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");

    let mut h = Harness::on(etcd, ac).await;
    h.report("n1", vec![running("m_a")]).await;
    h.assert_stored("/container/m_a/state", "running").await;
    h.stop().await;
}

#[tokio::test]
async fn etcd_with_authentication() {
    let mut etcd = Etcd::start().await;
    etcd.enable_auth("secret").await;
    let ac = ActionController::start().await;
    let e = without_access(&etcd, &ac).await;
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    assert!(e.message().contains("user name"), "{}", e.message());

    let h = Harness::on(etcd, ac).await;
    h.report_when_serving(Duration::from_secs(5), "n1", vec![running("m_a")])
        .await;
    h.assert_stored("/container/m_a/state", "running").await;
    h.stop().await;
}

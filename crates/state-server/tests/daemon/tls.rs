//! TLS and identities (README, "Security"): with `--tls-client-ca` every caller shows a
//! certificate; its identity, not the `source` it writes, is what `--strict-sources` checks,
//! and a NodeAgent's certificate reports only for its own node.

use state_server::{
    pb::statemanager::{
        ErrorCode, ResourceType, StateChange,
        state_manager_connection_client::StateManagerConnectionClient,
    },
    tls::{Pem, TlsConfig},
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::{
    common::{
        ActionController, Daemon, Etcd,
        certs::{Ca, Issued},
        etcd_config,
    },
    harness::{HELLOWORLD, code, list, running},
};

pub(crate) async fn tls_client(
    daemon: &Daemon,
    ca: &Ca,
    me: Option<&Issued>,
) -> Result<StateManagerConnectionClient<Channel>, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca.pem));
    if let Some(me) = me {
        tls = tls.identity(Identity::from_pem(&me.cert, &me.key));
    }
    let channel = Endpoint::from_shared(format!("https://{}", daemon.addr))
        .expect("url")
        .tls_config(tls)?
        .connect()
        .await?;
    Ok(StateManagerConnectionClient::new(channel))
}

pub(crate) fn step(from: &str, to: &str, claimed_source: &str) -> StateChange {
    StateChange {
        resource_type: ResourceType::Scenario as i32,
        resource_name: "helloworld".into(),
        current_state: from.into(),
        target_state: to.into(),
        transition_id: format!("t-{to}"),
        timestamp_ns: 1,
        source: claimed_source.into(),
    }
}

#[tokio::test]
async fn mtls_identities_decide_who_may_do_what() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let ca = Ca::new();
    let server = ca.server("state-server");
    let mut cfg = etcd_config(&etcd, &ac);
    cfg.engine.strict_sources = true;
    cfg.tls = TlsConfig {
        identity: Some(Pem {
            cert: server.cert.clone(),
            key: server.key.clone(),
        }),
        client_ca: Some(ca.pem.clone()),
        ..TlsConfig::default()
    };
    let daemon = Daemon::start(cfg).await;

    // Plaintext, and TLS without a client certificate, get nothing.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut plain = StateManagerConnectionClient::connect(daemon.url()).await;
    if let Ok(c) = &mut plain {
        assert!(
            c.send_changed_container_list(list("HPC", vec![]))
                .await
                .is_err()
        );
    }
    if let Ok(mut anonymous) = tls_client(&daemon, &ca, None).await {
        let e = anonymous
            .send_changed_container_list(list("HPC", vec![]))
            .await;
        assert!(e.is_err(), "a caller without a certificate was served");
    }

    // An ApiServer applies the example and starts the scenario, whatever `source` it writes.
    let api = ca.client_cn("ApiServer");
    let mut api = tls_client(&daemon, &ca, Some(&api))
        .await
        .expect("ApiServer");
    let applied = api
        .apply_artifacts(state_server::pb::statemanager::ApplyArtifactsRequest {
            yaml: HELLOWORLD.into(),
        })
        .await
        .expect("apply")
        .into_inner();
    assert!(applied.errors.is_empty(), "{:?}", applied.errors);
    let r = api
        .send_state_change(step("", "idle", "FilterGateway"))
        .await
        .expect("answered")
        .into_inner();
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    // ... but cannot take a FilterGateway step by claiming to be one.
    let r = api
        .send_state_change(step("idle", "waiting", "FilterGateway"))
        .await
        .expect("answered")
        .into_inner();
    assert_eq!(code(&r), ErrorCode::PermissionDenied, "{r:?}");
    // The FilterGateway's certificate can, whatever it writes as `source`.
    let gateway = ca.client_uri("FilterGateway");
    let mut gateway = tls_client(&daemon, &ca, Some(&gateway))
        .await
        .expect("gateway");
    let r = gateway
        .send_state_change(step("idle", "waiting", "ApiServer"))
        .await
        .expect("answered")
        .into_inner();
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");

    // A NodeAgent reports for its own node only.
    let agent = ca.client_uri("NodeAgent/HPC");
    let mut agent = tls_client(&daemon, &ca, Some(&agent)).await.expect("agent");
    agent
        .send_changed_container_list(list("HPC", vec![running("helloworld_a")]))
        .await
        .expect("its own node");
    let e = agent
        .send_changed_container_list(list("n2", vec![running("other_a")]))
        .await
        .expect_err("another node");
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    assert!(
        e.message().contains("only for node \"HPC\""),
        "{}",
        e.message()
    );
    assert_eq!(etcd.value("/container/other_a/state").await, None);
    daemon.stop().await;
}

/// Two daemons with mTLS on one etcd: a follower forwards a NodeAgent's list to the leader
/// with the identity it verified, and the leader believes that identity only from a daemon
/// named in `--peer-identity`: a caller that forges the forwarding metadata is still itself.
#[tokio::test]
async fn forwarded_identities_are_trusted_only_from_peers() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let ca = Ca::new();
    let (a, b) = mtls_pair(&etcd, &ac, &ca, false).await;
    let (leader, follower) = leader_first(&etcd, &a, &b).await;

    let agent = ca.client_uri("NodeAgent/HPC");
    let mut via_follower = tls_client(follower, &ca, Some(&agent))
        .await
        .expect("follower");
    via_follower
        .send_changed_container_list(list("HPC", vec![running("m_a")]))
        .await
        .expect("forwarded with the agent's identity");
    assert_eq!(
        etcd.value("/container/m_a/state").await.as_deref(),
        Some("running")
    );
    let e = via_follower
        .send_changed_container_list(list("n2", vec![running("m_b")]))
        .await
        .expect_err("another node, through the follower");
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");

    // The agent talks to the leader directly, posing as a follower forwarding for n2.
    let mut direct = tls_client(leader, &ca, Some(&agent)).await.expect("leader");
    let mut forged = tonic::Request::new(list("n2", vec![running("m_b")]));
    forged.metadata_mut().insert(
        state_server::forward::FORWARDED,
        "1".parse().expect("value"),
    );
    forged.metadata_mut().insert(
        state_server::forward::IDENTITY,
        "NodeAgent/n2".parse().expect("value"),
    );
    let e = direct
        .send_changed_container_list(forged)
        .await
        .expect_err("forged identity");
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    assert_eq!(etcd.value("/container/m_b/state").await, None);
    a.stop().await;
    b.stop().await;
}

/// Two daemons with mTLS on `etcd`, `daemon-a` started first (so it leads), each trusting
/// the other's forwarded identities.
pub(crate) async fn mtls_pair(
    etcd: &Etcd,
    ac: &ActionController,
    ca: &Ca,
    strict_sources: bool,
) -> (Daemon, Daemon) {
    let start = |name: &str| {
        let server = ca.server(name);
        let mut cfg = etcd_config(etcd, ac);
        cfg.engine.strict_sources = strict_sources;
        cfg.tls = TlsConfig {
            identity: Some(Pem {
                cert: server.cert,
                key: server.key,
            }),
            client_ca: Some(ca.pem.clone()),
            peer_identities: vec!["daemon-a".into(), "daemon-b".into()],
            ..TlsConfig::default()
        };
        Daemon::start(cfg)
    };
    let a = start("daemon-a").await;
    // The first daemon leads once elected; the second then follows.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let b = start("daemon-b").await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    (a, b)
}

/// `(leader, follower)` of two daemons on `etcd`, by the URL the election publishes.
pub(crate) async fn leader_first<'a>(
    etcd: &Etcd,
    a: &'a Daemon,
    b: &'a Daemon,
) -> (&'a Daemon, &'a Daemon) {
    if leader_url(etcd).await.ends_with(&a.addr.port().to_string()) {
        (a, b)
    } else {
        (b, a)
    }
}

/// The URL the elected daemon advertises.
async fn leader_url(etcd: &Etcd) -> String {
    let c = etcd.client().await;
    let resp = c
        .election_client()
        .leader(state_server::leader::ELECTION)
        .await
        .expect("a leader");
    resp.kv()
        .and_then(|kv| kv.value_str().ok())
        .expect("its URL")
        .to_owned()
}

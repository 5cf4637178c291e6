//! The HTTP API under mTLS (`docs/contract.md#http-api`): `POST /v1/state-change` identifies
//! its caller by the connection's verified certificate exactly as `SendStateChange` does over
//! gRPC, through a follower too, and a certificate that names nobody gets 403 with the reason.

use std::{sync::Arc, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_rustls::{
    TlsConnector,
    rustls::{
        ClientConfig, RootCertStore,
        pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
    },
};

use crate::{
    common::{
        ActionController, Daemon, Etcd,
        certs::{Ca, Issued},
    },
    harness::{HELLOWORLD, apply},
    tls::{leader_first, mtls_pair, tls_client},
};

/// `POST /v1/state-change` with `body` over HTTPS/1.1, showing `me`'s certificate: the status
/// and the body of the answer.
async fn post(daemon: &Daemon, ca: &Ca, me: &Issued, body: &str) -> (u16, String) {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA");
    }
    let chain = CertificateDer::pem_slice_iter(me.cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("client PEM");
    let key = PrivateKeyDer::from_pem_slice(me.key.as_bytes()).expect("client key");
    let config = ClientConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .expect("client certificate");
    let tcp = TcpStream::connect(daemon.addr).await.expect("connect");
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake");
    let request = format!(
        "POST /v1/state-change HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes()).await.expect("request");
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the server closes; a close without TLS's close_notify ends it too.
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(15), tls.read(&mut buf)).await
        && n > 0
    {
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

fn change(from: &str, to: &str, claimed_source: &str) -> String {
    format!(
        r#"{{"kind":"scenario","name":"helloworld","from":"{from}","to":"{to}","source":"{claimed_source}"}}"#
    )
}

#[tokio::test]
async fn http_writes_carry_the_certificate_identity_through_a_follower() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let ca = Ca::new();
    let (a, b) = mtls_pair(&etcd, &ac, &ca, true).await;
    let (leader, follower) = leader_first(&etcd, &a, &b).await;
    let api_server = ca.client_cn("ApiServer");
    let mut grpc = tls_client(leader, &ca, Some(&api_server))
        .await
        .expect("ApiServer over gRPC");
    apply(&mut grpc, HELLOWORLD).await;

    // The ApiServer's certificate starts the scenario through the follower, whatever the
    // body claims to be.
    let (status, answer) = post(follower, &ca, &api_server, &change("", "idle", "Nobody")).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("ERROR_CODE_SUCCESS"), "{answer}");
    // It cannot take the FilterGateway's step by claiming to be it (strict sources): the
    // identity the leader checked is the certificate's, carried by the follower.
    let (status, answer) = post(
        follower,
        &ca,
        &api_server,
        &change("idle", "waiting", "FilterGateway"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("ERROR_CODE_PERMISSION_DENIED"), "{answer}");
    // The FilterGateway's certificate (a URI SAN) can.
    let gateway = ca.client_uri("FilterGateway");
    let (status, answer) = post(
        follower,
        &ca,
        &gateway,
        &change("idle", "waiting", "ApiServer"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("ERROR_CODE_SUCCESS"), "{answer}");
    assert_eq!(
        etcd.value("/scenario/helloworld/state").await.as_deref(),
        Some("SCENARIO_STATE_WAITING")
    );

    // A certificate that names nobody is refused as such, on either daemon, and nothing is
    // stored.
    let anonymous = ca.client_anonymous();
    for daemon in [leader, follower] {
        let (status, answer) = post(
            daemon,
            &ca,
            &anonymous,
            &change("waiting", "satisfied", "FilterGateway"),
        )
        .await;
        assert_eq!(status, 403, "{answer}");
        assert!(answer.contains("names no identity"), "{answer}");
    }
    assert_eq!(
        etcd.value("/scenario/helloworld/state").await.as_deref(),
        Some("SCENARIO_STATE_WAITING")
    );
    a.stop().await;
    b.stop().await;
}

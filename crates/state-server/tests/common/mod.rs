//! Test harness: a real etcd on free loopback ports, the daemon in-process, and an
//! ActionController that records what it is sent.
#![allow(dead_code)]

pub mod certs;
pub mod checker;
pub mod cluster;

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use state_server::{
    pb::{
        actioncontroller::{
            OffloadModelRequest, OffloadModelResponse, ReconcileRequest, ReconcileResponse,
            action_controller_connection_server::{
                ActionControllerConnection, ActionControllerConnectionServer,
            },
        },
        statemanager::state_manager_connection_client::StateManagerConnectionClient,
    },
    reconcile::Backoff,
    server::{Config, StoreConfig, serve},
    store::etcd::EtcdAccess,
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Channel;

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

pub(crate) fn etcd_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("ETCD_BIN") {
        return PathBuf::from(p);
    }
    for c in ["/usr/bin/etcd", "/usr/local/bin/etcd"] {
        if std::path::Path::new(c).exists() {
            return PathBuf::from(c);
        }
    }
    PathBuf::from("etcd")
}

/// `GET path` on the metrics port: status code and body.
pub async fn http_get(port: u16, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("metrics connect");
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .expect("request");
    let mut text = String::new();
    s.read_to_string(&mut text).await.expect("response");
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (code, body)
}

/// Every key and value `client` reads, except the leader election's (a new lease each start).
pub async fn dump(client: &mut etcd_client::Client) -> Vec<(String, String, i64)> {
    let resp = client
        .get(
            vec![0u8],
            Some(etcd_client::GetOptions::new().with_from_key()),
        )
        .await
        .expect("dump");
    resp.kvs()
        .iter()
        .filter(|kv| {
            !kv.key()
                .starts_with(state_server::leader::ELECTION.as_bytes())
        })
        .map(|kv| {
            (
                kv.key_str().unwrap_or_default().to_owned(),
                kv.value_str().unwrap_or_default().to_owned(),
                kv.mod_revision(),
            )
        })
        .collect()
}

/// A real etcd server on loopback with its own data directory.
pub struct Etcd {
    child: Option<Child>,
    pub client_port: u16,
    peer_port: u16,
    pub dir: tempfile::TempDir,
    /// TLS on its client port, with client certificates required.
    tls: Option<EtcdTls>,
    /// The user the test's own clients log in as, once auth is on.
    user: Option<(String, String)>,
}

/// Certificates for an etcd with TLS: its CA, its server certificate, and one for clients.
#[derive(Clone)]
pub struct EtcdTls {
    pub ca: String,
    pub server: certs::Issued,
    pub client: certs::Issued,
}

impl Etcd {
    /// Starts etcd and waits until it answers. Its ports are picked free and released before
    /// etcd binds them, so another test can take one in between; etcd then exits at once, and
    /// is started again on other ports (a few times at most).
    pub async fn start() -> Etcd {
        Etcd::start_with(None).await
    }

    /// As [`Etcd::start`], with TLS on its client port and client certificates required.
    pub async fn start_with(tls: Option<EtcdTls>) -> Etcd {
        for _ in 0..5 {
            let mut etcd = Etcd {
                child: None,
                client_port: free_port(),
                peer_port: free_port(),
                dir: tempfile::tempdir().expect("tempdir"),
                tls: tls.clone(),
                user: None,
            };
            if etcd.try_spawn().await {
                return etcd;
            }
        }
        panic!("etcd did not start on any of five pairs of free ports");
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// How the test's own clients connect: its TLS client certificate, its user.
    fn options(&self) -> Option<etcd_client::ConnectOptions> {
        let mut options = etcd_client::ConnectOptions::new();
        if let Some(tls) = &self.tls {
            options = options.with_tls(
                etcd_client::TlsOptions::new()
                    .ca_certificate(etcd_client::Certificate::from_pem(&tls.ca))
                    .identity(etcd_client::Identity::from_pem(
                        &tls.client.cert,
                        &tls.client.key,
                    )),
            );
        }
        if let Some((user, password)) = &self.user {
            options = options.with_user(user, password);
        }
        Some(options)
    }

    /// What a daemon needs to reach it: the CA and a client certificate with TLS, the user
    /// once auth is on.
    pub fn access(&self) -> EtcdAccess {
        EtcdAccess {
            ca: self.tls.as_ref().map(|t| t.ca.clone()),
            identity: self.tls.as_ref().map(|t| state_server::tls::Pem {
                cert: t.client.cert.clone(),
                key: t.client.key.clone(),
            }),
            user: self.user.clone(),
        }
    }

    /// Turns on etcd's authentication with a `root` user; the test's clients log in as it.
    pub async fn enable_auth(&mut self, password: &str) {
        let mut c = self.client().await;
        c.user_add("root", password, None).await.expect("user add");
        c.user_grant_role("root", "root").await.expect("grant root");
        c.auth_enable().await.expect("auth enable");
        self.user = Some(("root".into(), password.into()));
    }

    async fn spawn(&mut self) {
        assert!(
            self.try_spawn().await,
            "etcd exited at start on {}",
            self.url()
        );
    }

    /// Starts etcd and waits until it answers; `false` if it exits first (a port taken).
    async fn try_spawn(&mut self) -> bool {
        let client = self.url();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let mut tls_args = Vec::new();
        if let Some(tls) = &self.tls {
            let write = |name: &str, pem: &str| {
                let path = self.dir.path().join(name);
                std::fs::write(&path, pem).expect("write a certificate");
                path.to_string_lossy().into_owned()
            };
            tls_args = vec![
                "--cert-file".to_owned(),
                write("server.pem", &tls.server.cert),
                "--key-file".to_owned(),
                write("server.key", &tls.server.key),
                "--trusted-ca-file".to_owned(),
                write("ca.pem", &tls.ca),
                "--client-cert-auth".to_owned(),
            ];
        }
        let child = Command::new(etcd_binary())
            .args(&tls_args)
            .args([
                "--name",
                "test",
                "--data-dir",
                &self.dir.path().join("data").to_string_lossy(),
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
                "--initial-cluster",
                &format!("test={peer}"),
                "--log-level",
                "error",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start etcd: install etcd-server or set ETCD_BIN");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut c) = etcd_client::Client::connect([client.as_str()], self.options()).await
                && let Ok(Ok(_)) =
                    tokio::time::timeout(Duration::from_secs(1), c.get("health-probe", None)).await
            {
                return true;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                self.child = None;
                return false;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "etcd did not start on {client}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills etcd (SIGKILL): an outage.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts etcd again on the same ports and data.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// A plain etcd client, to look at or change keys behind the daemon's back.
    pub async fn client(&self) -> etcd_client::Client {
        etcd_client::Client::connect([self.url()], self.options())
            .await
            .expect("etcd client")
    }

    /// Every key and value in etcd, except the leader election's (a new lease each start).
    pub async fn dump(&self) -> Vec<(String, String, i64)> {
        dump(&mut self.client().await).await
    }

    /// A counter from etcd's Prometheus metrics: the sum of every series whose line starts
    /// with `prefix` (metric name and the first labels).
    pub async fn metric(&self, prefix: &str) -> f64 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.client_port))
            .await
            .expect("metrics connect");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .expect("metrics request");
        let mut body = String::new();
        s.read_to_string(&mut body).await.expect("metrics body");
        body.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// One key's value.
    pub async fn value(&self, key: &str) -> Option<String> {
        let mut c = self.client().await;
        let resp = c.get(key, None).await.expect("get");
        resp.kvs()
            .first()
            .map(|kv| kv.value_str().unwrap_or_default().to_owned())
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The daemon, running in this process.
pub struct Daemon {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Daemon {
    pub async fn start(cfg: Config) -> Daemon {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serve(cfg, listener, async {
                let _ = stopped.await;
            })
            .await
            .expect("daemon failed");
        });
        Daemon {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn client(&self) -> StateManagerConnectionClient<Channel> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match StateManagerConnectionClient::connect(self.url()).await {
                Ok(c) => return c,
                Err(e) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "daemon unreachable: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Stops the daemon and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}

/// A configuration for tests: short deadlines and fast reconcile retries.
pub fn config(store: StoreConfig, action_controller: &str) -> Config {
    let mut cfg = Config {
        store,
        action_controller: action_controller.to_owned(),
        ..Config::default()
    };
    cfg.engine.store_deadline = Duration::from_secs(3);
    cfg.store_timeout = Duration::from_secs(1);
    cfg.backoff = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(300),
        call_timeout: Duration::from_millis(500),
    };
    cfg
}

/// The test configuration on `etcd`, reconciling to `ac`.
pub fn etcd_config(etcd: &Etcd, ac: &ActionController) -> Config {
    config(
        StoreConfig::Etcd {
            endpoints: vec![etcd.url()],
            access: etcd.access(),
        },
        &ac.url(),
    )
}

/// An ActionController that records every Reconcile it gets.
pub struct ActionController {
    pub port: u16,
    pub calls: Arc<Mutex<Vec<ReconcileRequest>>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

#[derive(Clone)]
struct Recorder(Arc<Mutex<Vec<ReconcileRequest>>>);

#[tonic::async_trait]
impl ActionControllerConnection for Recorder {
    async fn reconcile(
        &self,
        request: tonic::Request<ReconcileRequest>,
    ) -> Result<tonic::Response<ReconcileResponse>, tonic::Status> {
        self.0.lock().expect("lock").push(request.into_inner());
        Ok(tonic::Response::new(ReconcileResponse {
            status: 0,
            desc: "ok".into(),
        }))
    }

    async fn offload_model(
        &self,
        request: tonic::Request<OffloadModelRequest>,
    ) -> Result<tonic::Response<OffloadModelResponse>, tonic::Status> {
        let r = request.into_inner();
        Ok(tonic::Response::new(OffloadModelResponse {
            success: true,
            message: format!("offloading {} to {}", r.model_name, r.target_node),
            transition_id: "offload-1".into(),
        }))
    }
}

impl ActionController {
    /// A port for an ActionController that is not started yet.
    pub fn unstarted() -> ActionController {
        ActionController {
            port: free_port(),
            calls: Arc::new(Mutex::new(Vec::new())),
            stop: None,
            task: None,
        }
    }

    /// Starts on a port of its own (bound at once, so no other test can take it first).
    pub async fn start() -> ActionController {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind action controller");
        let mut ac = ActionController::unstarted();
        ac.port = listener.local_addr().expect("local address").port();
        ac.serve(listener);
        ac
    }

    /// Starts serving on its port.
    pub async fn run(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind action controller");
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        let (stop, stopped) = oneshot::channel::<()>();
        let svc = ActionControllerConnectionServer::new(Recorder(self.calls.clone()));
        self.task = Some(tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stopped.await;
                })
                .await;
        }));
        self.stop = Some(stop);
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn calls(&self) -> Vec<ReconcileRequest> {
        self.calls.lock().expect("lock").clone()
    }

    /// Waits until at least `n` calls arrived, or `within` passes; returns the calls.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<ReconcileRequest> {
        let deadline = tokio::time::Instant::now() + within;
        while self.calls().len() < n && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.calls()
    }
}

/// Polls `check` until it returns `Some`, or panics after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

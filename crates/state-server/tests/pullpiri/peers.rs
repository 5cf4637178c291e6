//! The Pullpiri peers as processes (`pullpiri-double`), and what the tests send as Pullpiri's
//! components do: the ApiServer's artifacts and state changes, the NodeAgent's lists with the
//! labels Pullpiri's ActionController puts on each pod.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use state_server::pb::{
    monitoringserver::ContainerInfo,
    rocksdbservice::{PutRequest, rocks_db_service_client::RocksDbServiceClient},
    statemanager::{ResourceType, StateChange},
};

/// A `pullpiri-double` process and the JSON lines it printed.
pub struct Double {
    child: Child,
    /// Its address.
    pub addr: String,
    lines: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Double {
    /// Starts `pullpiri-double {peer} {args}` on `listen` and waits for its address.
    pub fn start(peer: &str, listen: &str, args: &[&str]) -> Double {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pullpiri-double"))
            .args(["--listen", listen, peer])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start pullpiri-double");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        out.read_line(&mut first).expect("first line");
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("pullpiri-double {peer} said {first:?}"))
            .to_owned();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let seen = lines.clone();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    seen.lock().expect("lines").push(v);
                }
            }
        });
        Double { child, addr, lines }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The calls of `rpc` it answered so far.
    pub fn calls(&self, rpc: &str) -> Vec<serde_json::Value> {
        self.lines
            .lock()
            .expect("lines")
            .iter()
            .filter(|v| v["rpc"] == rpc)
            .cloned()
            .collect()
    }

    /// Waits until it has answered `n` calls of `rpc` (at most `within`).
    pub async fn wait_for(&self, rpc: &str, n: usize, within: Duration) -> Vec<serde_json::Value> {
        crate::common::eventually(within, &format!("{n} {rpc} calls"), || async {
            let calls = self.calls(rpc);
            (calls.len() >= n).then_some(calls)
        })
        .await
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Double {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Pullpiri's RocksDB service for a test: the real one when `PULLPIRI_ROCKSDB_URL` names one
/// (fresh and empty: Pullpiri's own, built from its source, for a check by hand), else the
/// double.
pub enum RocksDb {
    Real(String),
    Double(Double),
}

impl RocksDb {
    pub fn start() -> RocksDb {
        match std::env::var("PULLPIRI_ROCKSDB_URL") {
            Ok(url) if !url.trim().is_empty() => RocksDb::Real(url.trim().to_owned()),
            _ => RocksDb::Double(Double::start("rocksdb", "127.0.0.1:0", &[])),
        }
    }

    pub fn url(&self) -> String {
        match self {
            RocksDb::Real(url) => url.clone(),
            RocksDb::Double(d) => d.url(),
        }
    }
}

/// Waits until `package`'s error episode is recorded as `delivery` (`delivered`, `refused`).
pub async fn episode_recorded(
    etcd: &crate::common::Etcd,
    package: &str,
    delivery: &str,
    within: Duration,
) {
    let key = format!("/reconcile/{package}");
    crate::common::eventually(within, &format!("{key} recorded as {delivery}"), || async {
        etcd.value(&key)
            .await
            .filter(|v| v.starts_with(&format!("{delivery}\t")))
    })
    .await;
}

/// The example deployment as Pullpiri's ApiServer stores it: each document on its own,
/// re-serialised (no `---`, two-space indents), under `{kind}/{name}`.
pub const SCENARIO: &str = "apiVersion: v1\nkind: Scenario\nmetadata:\n  name: helloworld\nspec:\n  condition: null\n  action: update\n  target: helloworld\n";
pub const PACKAGE: &str = "apiVersion: v1\nkind: Package\nmetadata:\n  label: null\n  name: helloworld\nspec:\n  pattern:\n  - type: plain\n  models:\n  - name: helloworld\n    node: HPC\n    resources:\n      volume: null\n      network: null\n";
pub const MODEL: &str = "apiVersion: v1\nkind: Model\nmetadata:\n  name: helloworld\n  annotations:\n    io.piccolo.annotations.package-type: helloworld\n    io.piccolo.annotations.package-name: helloworld\n    io.piccolo.annotations.package-network: default\n  labels:\n    app: helloworld\nspec:\n  hostNetwork: true\n  containers:\n  - name: helloworld\n    image: quay.io/podman/hello:latest\n  terminationGracePeriodSeconds: 0\n";

/// Stores the example as the ApiServer does, through the RocksDB service at `url`.
pub async fn apply_as_api_server(url: &str, docs: &[(&str, &str)]) {
    let mut client = RocksDbServiceClient::connect(url.to_owned())
        .await
        .expect("RocksDB service");
    for (key, value) in docs {
        let put = client
            .put(PutRequest {
                key: (*key).to_owned(),
                value: (*value).to_owned(),
            })
            .await
            .expect("put")
            .into_inner();
        assert!(put.success, "{put:?}");
    }
}

/// A scenario change as Pullpiri's components send it: lower-case states, their own
/// `source` and transition ids.
pub fn step(scenario: &str, from: &str, to: &str, source: &str) -> StateChange {
    StateChange {
        resource_type: ResourceType::Scenario as i32,
        resource_name: scenario.into(),
        current_state: from.into(),
        target_state: to.into(),
        transition_id: format!("{source}-{to}-1"),
        timestamp_ns: 1,
        source: source.into(),
    }
}

/// A container of `model`'s pod as the NodeAgent reports it (`{pod}_{container}`), with the
/// labels Pullpiri's ActionController sets on the pods it launches (`policy` empty when the
/// package names none).
pub fn pod_container(
    model: &str,
    container: &str,
    scenario: &str,
    package: &str,
    state: &[(&str, &str)],
) -> ContainerInfo {
    let mut c = crate::harness::container(&format!("{model}_{container}"), state);
    for (k, v) in [
        ("io.pullpiri.annotations.scenario", scenario),
        ("io.pullpiri.annotations.package", package),
        ("io.pullpiri.annotations.policy", ""),
        ("io.pullpiri.annotations.model", model),
    ] {
        c.annotation.insert(k.into(), v.into());
    }
    c
}

/// Podman's inspect fields of a running container.
pub const RUNNING: &[(&str, &str)] = &[
    ("Status", "running"),
    ("Running", "true"),
    ("Dead", "false"),
    ("ExitCode", "0"),
];
/// Podman's inspect fields of a container killed with SIGKILL.
pub const KILLED: &[(&str, &str)] = &[
    ("Status", "exited"),
    ("Running", "false"),
    ("Dead", "true"),
    ("ExitCode", "137"),
];

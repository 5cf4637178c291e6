//! A `state-server` daemon as a child process on loopback, as operators run replicas: it binds
//! a port of its own (read back from its log) and advertises it; tests stop it with SIGTERM or
//! kill it with SIGKILL.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use state_server::pb::statemanager::{
    ListResourceStatesRequest, ResourceType,
    state_manager_connection_client::StateManagerConnectionClient,
};
use tonic::transport::Channel;

/// The lease the test replicas use: short, so takeovers in tests take seconds.
pub const LEASE_TTL_SECS: u64 = 2;

/// A daemon process.
pub struct Replica {
    child: Option<Child>,
    /// Its gRPC URL (also what it advertises).
    pub url: String,
    /// Where its log goes.
    pub log: PathBuf,
}

impl Replica {
    /// Starts a daemon on `endpoints`, logging to `dir/{name}.log`, and waits until it answers.
    pub async fn start(
        endpoints: &[String],
        action_controller: &str,
        dir: &Path,
        name: &str,
    ) -> Replica {
        let args = [
            "--etcd-endpoints",
            &endpoints.join(","),
            "--action-controller",
            action_controller,
            "--lease-ttl",
            &LEASE_TTL_SECS.to_string(),
        ];
        Replica::start_with(&args, &[], dir, name).await
    }

    /// A daemon on `127.0.0.1:0` with `args` and the environment `env` added, logging to
    /// `dir/{name}.log`; waits until it answers.
    pub async fn start_with(
        args: &[&str],
        env: &[(&str, &str)],
        dir: &Path,
        name: &str,
    ) -> Replica {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_state-server"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start state-server");
        let mut replica = Replica {
            child: Some(child),
            url: String::new(),
            log,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(port) = replica.port_from_log() {
                replica.url = format!("http://127.0.0.1:{port}");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} did not start: {}",
                replica.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        loop {
            let mut client = replica.client().await;
            let listed = client
                .list_resource_states(ListResourceStatesRequest {
                    resource_type: ResourceType::Model as i32,
                    state: String::new(),
                })
                .await;
            if listed.is_ok() {
                return replica;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} did not become ready: {}",
                replica.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything it logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn port_from_log(&self) -> Option<u16> {
        let text = self.log_text();
        let line = text
            .lines()
            .find(|l| l.contains("state-server listening"))?;
        let address = line.split("address=").nth(1)?.split_whitespace().next()?;
        address.rsplit(':').next()?.parse().ok()
    }

    /// A client on it (connected lazily: a killed replica makes calls fail, not this).
    pub async fn client(&self) -> StateManagerConnectionClient<Channel> {
        let channel = tonic::transport::Endpoint::from_shared(self.url.clone())
            .expect("url")
            .connect_timeout(Duration::from_secs(1))
            .connect_lazy();
        StateManagerConnectionClient::new(channel)
    }

    /// SIGKILL, as a crash.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The URL of the daemon that leads on `etcd`, as published in the election.
pub async fn leader_url(etcd: &mut etcd_client::Client) -> Option<String> {
    let resp = etcd
        .election_client()
        .leader(state_server::leader::ELECTION)
        .await
        .ok()?;
    resp.kv()
        .and_then(|kv| kv.value_str().ok().map(str::to_owned))
}

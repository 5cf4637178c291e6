//! A 3-member etcd cluster on loopback, each member with its own ports and data directory; a
//! member can be killed, and the raft leader found.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use super::{etcd_binary, free_port};

/// Three etcd members forming one cluster.
pub struct EtcdCluster {
    members: Vec<Member>,
    _dir: tempfile::TempDir,
}

struct Member {
    child: Option<Child>,
    client_port: u16,
}

impl EtcdCluster {
    /// Starts three members and waits until the cluster takes writes. Ports are picked free
    /// and released first, so a start can lose one to another test; then it starts over.
    pub async fn start() -> EtcdCluster {
        for _ in 0..5 {
            if let Some(cluster) = Self::try_start().await {
                return cluster;
            }
        }
        panic!("a 3-member etcd cluster did not start on five sets of free ports");
    }

    async fn try_start() -> Option<EtcdCluster> {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let initial = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut members = Vec::new();
        for (i, (client, peer)) in ports.iter().enumerate() {
            let client_url = format!("http://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let child = Command::new(etcd_binary())
                .args([
                    "--name",
                    &format!("m{i}"),
                    "--data-dir",
                    &dir.path().join(format!("m{i}")).to_string_lossy(),
                    "--listen-client-urls",
                    &client_url,
                    "--advertise-client-urls",
                    &client_url,
                    "--listen-peer-urls",
                    &peer_url,
                    "--initial-advertise-peer-urls",
                    &peer_url,
                    "--initial-cluster",
                    &initial,
                    "--initial-cluster-state",
                    "new",
                    "--log-level",
                    "error",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cannot start etcd: install etcd-server or set ETCD_BIN");
            members.push(Member {
                child: Some(child),
                client_port: *client,
            });
        }
        let mut cluster = EtcdCluster { members, _dir: dir };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if cluster.members.iter_mut().any(|m| {
                m.child
                    .as_mut()
                    .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))))
            }) {
                return None;
            }
            if let Ok(mut c) = etcd_client::Client::connect(cluster.urls(), None).await
                && let Ok(Ok(_)) =
                    tokio::time::timeout(Duration::from_secs(1), c.put("health-probe", "", None))
                        .await
            {
                return Some(cluster);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the etcd cluster did not form"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every member's client URL.
    pub fn urls(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("http://127.0.0.1:{}", m.client_port))
            .collect()
    }

    /// The member that is the raft leader now.
    pub async fn leader(&self) -> usize {
        for (i, url) in self.urls().iter().enumerate() {
            let Ok(mut c) = etcd_client::Client::connect([url.as_str()], None).await else {
                continue;
            };
            if let Ok(status) = c.status().await {
                let me = status.header().map(|h| h.member_id());
                if me == Some(status.leader()) {
                    return i;
                }
            }
        }
        panic!("no member is the raft leader");
    }

    /// Kills member `i` (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A client on the members still running.
    pub async fn client(&self) -> etcd_client::Client {
        let live: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.child.is_some())
            .map(|m| format!("http://127.0.0.1:{}", m.client_port))
            .collect();
        etcd_client::Client::connect(live, None)
            .await
            .expect("etcd client")
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

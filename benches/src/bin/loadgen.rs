//! The end-to-end load run, started by `cargo xtask bench` against a running daemon and the
//! etcd behind it. Simulated node agents send container lists over gRPC; a baseline in the same
//! run does raw single-key etcd puts with the same client library, sequential and concurrent.
//! Every loop is bounded by a count and stops by itself. Prints one JSON object on stdout.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use state_benches::etcd_metrics::{etcd_writes, peak_rss_bytes};
use state_server::pb::{
    monitoringserver::{ContainerInfo, ContainerList},
    statemanager::{
        ApplyArtifactsRequest, state_manager_connection_client::StateManagerConnectionClient,
    },
};
use tonic::transport::Channel;

const USAGE: &str = "usage: loadgen --daemon URL --etcd URL --clients N --reports N [--daemon-pid PID] [--watchers 0,10,100]";

struct Args {
    daemon: String,
    etcd: String,
    clients: usize,
    reports: usize,
    daemon_pid: Option<u32>,
    /// Watcher counts to run the concurrent phase again with (`WatchStates` fan-out).
    watchers: Vec<usize>,
}

fn args() -> Result<Args> {
    let mut a = Args {
        daemon: String::new(),
        etcd: String::new(),
        clients: 16,
        reports: 200,
        daemon_pid: None,
        watchers: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--daemon" => a.daemon = value,
            "--etcd" => a.etcd = value,
            "--clients" => a.clients = value.parse()?,
            "--reports" => a.reports = value.parse()?,
            "--daemon-pid" => a.daemon_pid = Some(value.parse()?),
            "--watchers" => {
                a.watchers = value
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .with_context(|| {
                        format!("--watchers takes counts like 0,10,100, not {value}")
                    })?;
            }
            other => bail!("unknown option {other}\n{USAGE}"),
        }
    }
    if a.daemon.is_empty() || a.etcd.is_empty() {
        bail!("{USAGE}");
    }
    Ok(a)
}

/// Latencies of one phase, and its wall time.
struct Phase {
    latencies: Vec<Duration>,
    wall: Duration,
    /// Container state changes the acknowledged reports carried (0 for the baseline).
    container_writes: u64,
    /// etcd write round trips (Txn, Put, DeleteRange) during the phase.
    etcd_writes: f64,
}

impl Phase {
    fn json(&self) -> String {
        let mut l = self.latencies.clone();
        l.sort();
        let q = |p: f64| {
            let i = ((l.len() as f64 - 1.0) * p).round() as usize;
            l.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        let secs = self.wall.as_secs_f64().max(1e-9);
        format!(
            "{{\"ops\":{},\"per_s\":{:.1},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"container_changes_per_s\":{:.1},\"etcd_writes_per_op\":{:.3}}}",
            l.len(),
            l.len() as f64 / secs,
            q(0.5),
            q(0.99),
            self.container_writes as f64 / secs,
            self.etcd_writes / l.len().max(1) as f64
        )
    }
}

/// Client tasks' latencies of a baseline phase, as a [`Phase`].
async fn baseline_phase(
    etcd: &str,
    etcd_writes_before: f64,
    started: Instant,
    tasks: Vec<tokio::task::JoinHandle<Result<Vec<Duration>, etcd_client::Error>>>,
) -> Result<Phase> {
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let wall = started.elapsed();
    Ok(Phase {
        latencies,
        wall,
        container_writes: 0,
        etcd_writes: etcd_writes(etcd).await? - etcd_writes_before,
    })
}

async fn raw_puts(etcd: &str, clients: usize, per_client: usize) -> Result<Phase> {
    let before = etcd_writes(etcd).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mut client = etcd_client::Client::connect([etcd], None).await?;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_client);
            for i in 0..per_client {
                let t = Instant::now();
                client
                    .put(
                        format!("/bench/raw/c{c}_{}", i % 10),
                        if i % 2 == 0 { "dead" } else { "running" },
                        None,
                    )
                    .await?;
                lat.push(t.elapsed());
            }
            Ok::<_, etcd_client::Error>(lat)
        }));
    }
    baseline_phase(etcd, before, started, tasks).await
}

/// What one report costs the store, without the daemon: a transaction that compares and puts
/// three keys (a container, its model, its package), one per client at a time.
async fn raw_txns(etcd: &str, clients: usize, per_client: usize) -> Result<Phase> {
    use etcd_client::{Compare, CompareOp, Txn, TxnOp};
    let before = etcd_writes(etcd).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mut client = etcd_client::Client::connect([etcd], None).await?;
        // Keys of this run only, so every first compare is against an absent key.
        let run = std::process::id();
        tasks.push(tokio::spawn(async move {
            let keys = [
                format!("/bench/txn/{run}/container/c{c}"),
                format!("/bench/txn/{run}/model/c{c}"),
                format!("/bench/txn/{run}/package/c{c}"),
            ];
            let mut revisions = [0i64; 3];
            let mut lat = Vec::with_capacity(per_client);
            for i in 0..per_client {
                let value = if i % 2 == 0 { "dead" } else { "running" };
                let txn = Txn::new()
                    .when(
                        keys.iter()
                            .zip(revisions)
                            .map(|(k, r)| Compare::mod_revision(k.as_str(), CompareOp::Equal, r))
                            .collect::<Vec<_>>(),
                    )
                    .and_then(
                        keys.iter()
                            .map(|k| TxnOp::put(k.as_str(), value, None))
                            .collect::<Vec<_>>(),
                    );
                let t = Instant::now();
                let resp = client.txn(txn).await?;
                lat.push(t.elapsed());
                if !resp.succeeded() {
                    return Err(etcd_client::Error::InvalidArgs(
                        "baseline txn conflicted".into(),
                    ));
                }
                revisions = [resp.header().map_or(0, |h| h.revision()); 3];
            }
            Ok::<_, etcd_client::Error>(lat)
        }));
    }
    baseline_phase(etcd, before, started, tasks).await
}

fn container(name: String, dead: bool) -> ContainerInfo {
    let state: BTreeMap<String, String> = if dead {
        [("Status", "exited"), ("ExitCode", "1")]
    } else {
        [("Status", "running"), ("Running", "true")]
    }
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    ContainerInfo {
        id: format!("id-{name}"),
        names: vec![format!("/{name}")],
        image: "bench".into(),
        state,
        ..ContainerInfo::default()
    }
}

/// Node `n`'s list at report `i`: ten containers over two models; each report flips one
/// container between running and dead (the `i % 10`-th), so every report changes one
/// container, and often its model and package.
fn node_list(n: usize, i: usize) -> ContainerList {
    ContainerList {
        node_name: format!("node{n}"),
        containers: (0..10)
            .map(|k| {
                let model = if k < 5 { "a" } else { "b" };
                // How often container k was flipped in reports 1..=i.
                let flips = if k == 0 {
                    i / 10
                } else if i >= k {
                    (i - k) / 10 + 1
                } else {
                    0
                };
                container(format!("m{n}{model}_c{k}"), flips % 2 == 1)
            })
            .collect(),
    }
}

/// How many containers report `i` of node `n` changes, against report `i - 1`: the container
/// states the daemon must store before it acknowledges the report.
fn changed(n: usize, i: usize) -> u64 {
    let (before, after) = (node_list(n, i - 1), node_list(n, i));
    let changed = before
        .containers
        .iter()
        .zip(&after.containers)
        .filter(|(b, a)| b.state != a.state)
        .count();
    u64::try_from(changed).unwrap_or(u64::MAX)
}

async fn reports(
    client: &StateManagerConnectionClient<Channel>,
    etcd: &str,
    nodes: std::ops::Range<usize>,
    per_node: usize,
) -> Result<Phase> {
    reports_from(client, etcd, nodes, 1, per_node).await
}

/// Reports `first..first + per_node` of each node (each list continues the node's last one).
async fn reports_from(
    client: &StateManagerConnectionClient<Channel>,
    etcd: &str,
    nodes: std::ops::Range<usize>,
    first: usize,
    per_node: usize,
) -> Result<Phase> {
    let steps = first..first + per_node;
    // Counted before the clock starts: the generator's work is not the daemon's, and it runs
    // on the same cores.
    let container_writes: u64 = nodes
        .clone()
        .map(|n| steps.clone().map(|i| changed(n, i)).sum::<u64>())
        .sum();
    let before = etcd_writes(etcd).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in nodes {
        let mut client = client.clone();
        let steps = steps.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_node);
            // Report 0 set the starting list during set-up; each later one changes it.
            for i in steps {
                let t = Instant::now();
                client.send_changed_container_list(node_list(n, i)).await?;
                lat.push(t.elapsed());
            }
            Ok::<_, tonic::Status>(lat)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let wall = started.elapsed();
    Ok(Phase {
        latencies,
        wall,
        container_writes,
        etcd_writes: etcd_writes(etcd).await? - before,
    })
}

/// `n` WatchStates streams on their own connections, following every kind, each past its
/// snapshot; they count the change events they receive until aborted.
async fn watchers(
    daemon: &str,
    n: usize,
    events: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    use state_server::pb::statemanager::{StateEventType, WatchStatesRequest};
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        let mut client = StateManagerConnectionClient::connect(daemon.to_owned()).await?;
        let mut stream = client
            .watch_states(WatchStatesRequest::default())
            .await?
            .into_inner();
        while let Some(e) = stream.message().await? {
            if e.r#type() == StateEventType::SnapshotDone {
                break;
            }
        }
        let events = events.clone();
        handles.push(tokio::spawn(async move {
            while let Ok(Some(_)) = stream.message().await {
                events.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    Ok(handles)
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = args()?;
    let client = StateManagerConnectionClient::connect(a.daemon.clone())
        .await
        .with_context(|| format!("cannot reach the daemon at {}", a.daemon))?;
    // Topology: one package of two models per node, then each node's first list.
    let mut yaml = String::new();
    for n in 0..a.clients {
        yaml.push_str(&format!(
            "kind: Package\nmetadata:\n  name: pkg{n}\nspec:\n  models:\n    - name: m{n}a\n    - name: m{n}b\n---\n"
        ));
    }
    let applied = client
        .clone()
        .apply_artifacts(ApplyArtifactsRequest { yaml })
        .await?
        .into_inner();
    if !applied.errors.is_empty() {
        bail!("topology not applied: {:?}", applied.errors);
    }
    for n in 0..a.clients {
        client
            .clone()
            .send_changed_container_list(node_list(n, 0))
            .await?;
    }

    eprintln!("loadgen: raw etcd puts, 1 client x {}", a.reports);
    let raw_seq = raw_puts(&a.etcd, 1, a.reports).await?;
    eprintln!(
        "loadgen: raw etcd puts, {} clients x {}",
        a.clients, a.reports
    );
    let raw_conc = raw_puts(&a.etcd, a.clients, a.reports).await?;
    eprintln!(
        "loadgen: raw etcd 3-key transactions, {} clients x {}",
        a.clients, a.reports
    );
    let txn_conc = raw_txns(&a.etcd, a.clients, a.reports).await?;
    eprintln!("loadgen: reports, 1 node agent x {}", a.reports);
    let ours_seq = reports(&client, &a.etcd, 0..1, a.reports).await?;
    eprintln!(
        "loadgen: reports, {} node agents x {}",
        a.clients, a.reports
    );
    let ours_conc = reports(&client, &a.etcd, 0..a.clients, a.reports).await?;
    // The same load again with N streams attached, each count in turn, in the same run.
    let mut fanout = Vec::new();
    let mut next = a.reports + 1;
    for &n in &a.watchers {
        eprintln!(
            "loadgen: reports, {} node agents x {} with {n} watchers",
            a.clients, a.reports
        );
        let events = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let streams = watchers(&a.daemon, n, events.clone()).await?;
        let phase = reports_from(&client, &a.etcd, 0..a.clients, next, a.reports).await?;
        next += a.reports;
        // Give the streams a moment to deliver the last revisions before counting.
        tokio::time::sleep(Duration::from_millis(500)).await;
        for s in streams {
            s.abort();
        }
        fanout.push(format!(
            "{{\"watchers\":{n},\"phase\":{},\"events_received\":{}}}",
            phase.json(),
            events.load(std::sync::atomic::Ordering::Relaxed)
        ));
    }
    let rss = a.daemon_pid.and_then(peak_rss_bytes);
    println!(
        "{{\"clients\":{},\"reports_per_client\":{},\"raw_sequential\":{},\"raw_concurrent\":{},\"txn_concurrent\":{},\"ours_sequential\":{},\"ours_concurrent\":{},\"watch_fanout\":[{}],\"daemon_peak_rss_bytes\":{}}}",
        a.clients,
        a.reports,
        raw_seq.json(),
        raw_conc.json(),
        txn_conc.json(),
        ours_seq.json(),
        ours_conc.json(),
        fanout.join(","),
        rss.map_or("null".to_owned(), |b| b.to_string())
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_report_changes_exactly_one_container() {
        for n in 0..3 {
            for i in 1..40 {
                assert_eq!(changed(n, i), 1, "node {n} report {i}");
            }
        }
    }
}

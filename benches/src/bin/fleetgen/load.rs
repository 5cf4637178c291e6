//! `fleetgen load`: the fleet's topology and first lists, then churn, then the storm, each
//! against raw etcd writing the same container, model and package keys (under `/bench/`, so the
//! daemon watching `/` is not disturbed), with the same client library and concurrency.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use etcd_client::{Client, Txn, TxnOp};
use serde_json::{Value, json};
use state_benches::{
    etcd_metrics::{cpu_micros, etcd_writes},
    fleet::FleetShape,
};
use state_server::pb::statemanager::{
    ApplyArtifactsRequest, state_manager_connection_client::StateManagerConnectionClient,
};
use tonic::transport::Channel;

use crate::Opts;

/// Connections the simulated nodes share to the daemon (and the baseline to etcd): NodeAgents
/// of one vehicle share its network; 16 connections carry up to 1,024 calls at once.
const CONNECTIONS: usize = 16;
/// etcd's default `--max-txn-ops`: the baseline's transactions are at most this big.
const TXN_OPS: usize = 128;
/// Artifact documents per `ApplyArtifacts` call, well under its 4 MiB.
const DOCS_PER_APPLY: usize = 500;

type Daemon = StateManagerConnectionClient<Channel>;

async fn daemons(url: &str) -> Result<Vec<Daemon>> {
    let mut out = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        // One channel each: its own TCP connection.
        out.push(StateManagerConnectionClient::connect(url.to_owned()).await?);
    }
    Ok(out)
}

async fn etcds(url: &str) -> Result<Vec<Client>> {
    let mut out = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        out.push(Client::connect([url], None).await?);
    }
    Ok(out)
}

/// Wall time and per-call latencies of one phase.
struct Timed {
    wall: Duration,
    latencies: Vec<Duration>,
}

impl Timed {
    fn json(mut self) -> Value {
        self.latencies.sort();
        let q = |p: f64| {
            let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
            self.latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        json!({
            "calls": self.latencies.len(),
            "wall_ms": self.wall.as_secs_f64() * 1e3,
            "p50_ms": q(0.5),
            "p99_ms": q(0.99),
            "max_ms": q(1.0),
        })
    }
}

/// Waits for every call's task and times the phase from `started`.
async fn gather<E: Into<anyhow::Error>>(
    started: Instant,
    tasks: Vec<tokio::task::JoinHandle<Result<Duration, E>>>,
) -> Result<Timed> {
    let mut latencies = Vec::with_capacity(tasks.len());
    for t in tasks {
        latencies.push(t.await?.map_err(Into::into)?);
    }
    Ok(Timed {
        wall: started.elapsed(),
        latencies,
    })
}

/// Every node in `nodes` sends its list at `version`, all at once.
async fn send_all(daemons: &[Daemon], fleet: FleetShape, version: u64) -> Result<Timed> {
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(fleet.nodes);
    for n in 0..fleet.nodes {
        let mut client = daemons[n % daemons.len()].clone();
        let list = fleet.list(n, version);
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            client.send_changed_container_list(list).await?;
            Ok::<_, tonic::Status>(t.elapsed())
        }));
    }
    gather(started, tasks).await
}

/// Writes `keys` in transactions of at most [`TXN_OPS`] puts.
async fn raw_write(client: &mut Client, keys: Vec<(String, String)>) -> Result<()> {
    for chunk in keys.chunks(TXN_OPS) {
        let ops: Vec<TxnOp> = chunk
            .iter()
            .map(|(k, v)| TxnOp::put(k.as_str(), v.as_str(), None))
            .collect();
        client.txn(Txn::new().and_then(ops)).await?;
    }
    Ok(())
}

/// The baseline of [`send_all`]: every node's changed keys from `from` to `to`, all at once.
async fn raw_all(
    etcds: &[Client],
    fleet: FleetShape,
    prefix: &str,
    from: &[Option<u64>],
    to: u64,
) -> Result<Timed> {
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(fleet.nodes);
    for (n, from) in from.iter().enumerate() {
        let mut client = etcds[n % etcds.len()].clone();
        let keys = fleet.changed_keys(prefix, n, *from, to);
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            raw_write(&mut client, keys).await?;
            Ok::<_, anyhow::Error>(t.elapsed())
        }));
    }
    gather(started, tasks).await
}

/// Churn: `rate` lists per second for `seconds`, node after node, each moving to its next
/// version. `ours` sends them to the daemon, otherwise they are written raw under `prefix`.
async fn churn(
    o: &Opts,
    daemons: &[Daemon],
    etcds: &[Client],
    versions: &mut [u64],
    prefix: Option<&str>,
) -> Result<Timed> {
    let fleet = o.fleet;
    let rate = (o.share * fleet.nodes as f64).max(1.0);
    let total = (rate * o.seconds).round().max(1.0) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        tokio::time::sleep_until((started + interval * i as u32).into()).await;
        let n = i % fleet.nodes;
        let from = versions[n];
        let to = from.max(1) + 1;
        versions[n] = to;
        match prefix {
            None => {
                let mut client = daemons[n % daemons.len()].clone();
                let list = fleet.list(n, to);
                tasks.push(tokio::spawn(async move {
                    let t = Instant::now();
                    client.send_changed_container_list(list).await?;
                    Ok::<_, anyhow::Error>(t.elapsed())
                }));
            }
            Some(prefix) => {
                let mut client = etcds[n % etcds.len()].clone();
                let keys = fleet.changed_keys(prefix, n, Some(from), to);
                tasks.push(tokio::spawn(async move {
                    let t = Instant::now();
                    raw_write(&mut client, keys).await?;
                    Ok::<_, anyhow::Error>(t.elapsed())
                }));
            }
        }
    }
    gather(started, tasks).await
}

pub async fn run(o: &Opts) -> Result<Value> {
    if o.daemon.is_empty() || o.etcd.is_empty() {
        bail!("load needs --daemon and --etcd");
    }
    let fleet = o.fleet;
    let daemons = daemons(&o.daemon).await?;
    let etcds = etcds(&o.etcd).await?;
    eprintln!(
        "fleetgen: {} nodes x {} containers: topology",
        fleet.nodes, fleet.per_node
    );
    for docs in fleet.artifacts().chunks(DOCS_PER_APPLY) {
        let yaml = docs
            .iter()
            .map(|(_, y)| y.as_str())
            .collect::<Vec<_>>()
            .join("---\n");
        let applied = daemons[0]
            .clone()
            .apply_artifacts(ApplyArtifactsRequest { yaml })
            .await?
            .into_inner();
        if !applied.errors.is_empty() {
            bail!("topology not applied: {:?}", applied.errors);
        }
    }

    eprintln!("fleetgen: every node's first list (new nodes), raw then ours");
    // New nodes: every key is new.
    let none = vec![None; fleet.nodes];
    let first_raw = raw_all(&etcds, fleet, "/bench/first/", &none, 0).await?;
    let first = send_all(&daemons, fleet, 0).await?;

    eprintln!(
        "fleetgen: churn, {:.0}% of the nodes per second for {} s, raw then ours",
        o.share * 100.0,
        o.seconds
    );
    let mut raw_versions = vec![0; fleet.nodes];
    let writes_before = etcd_writes(&o.etcd).await?;
    let churn_raw = churn(
        o,
        &daemons,
        &etcds,
        &mut raw_versions,
        Some("/bench/churn/"),
    )
    .await?;
    let raw_writes = etcd_writes(&o.etcd).await? - writes_before;
    let mut versions = vec![0; fleet.nodes];
    let cpu_before = o.daemon_pid.and_then(cpu_micros);
    let writes_before = etcd_writes(&o.etcd).await?;
    let churn_ours = churn(o, &daemons, &etcds, &mut versions, None).await?;
    let our_writes = etcd_writes(&o.etcd).await? - writes_before;
    let cpu = match (cpu_before, o.daemon_pid.and_then(cpu_micros)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let lists = churn_ours.latencies.len().max(1) as f64;

    eprintln!("fleetgen: storm (every node's list changes at once), raw then ours");
    let from: Vec<Option<u64>> = versions.iter().copied().map(Some).collect();
    let storm_raw = raw_all(&etcds, fleet, "/bench/storm/", &from, 1).await?;
    let writes_before = etcd_writes(&o.etcd).await?;
    let storm = send_all(&daemons, fleet, 1).await?;
    let storm_writes = etcd_writes(&o.etcd).await? - writes_before;

    Ok(json!({
        "nodes": fleet.nodes,
        "per_node": fleet.per_node,
        "containers": fleet.containers(),
        "connections": CONNECTIONS,
        "first_lists": {"ours": first.json(), "raw": first_raw.json()},
        "churn": {
            "share_per_s": o.share,
            "seconds": o.seconds,
            "ours": churn_ours.json(),
            "raw": churn_raw.json(),
            "daemon_cpu_us_per_list": cpu.map(|c| c / lists),
            "etcd_writes_per_list": our_writes / lists,
            "raw_etcd_writes_per_list": raw_writes / lists,
        },
        "storm": {
            "ours": storm.json(),
            "raw": storm_raw.json(),
            "etcd_writes": storm_writes,
        },
    }))
}

//! Fleet-scale runs (`benches/src/bin/fleetgen/`), each against raw etcd in the same run:
//!
//! - storm and churn: a fleet of simulated NodeAgents on the release daemon, then the storm
//!   again through a follower of two replicas;
//! - restart: a fleet stored straight into etcd, the daemon stopped gracefully and started
//!   again until its first list is acknowledged, against reading the same keys raw; its peak
//!   memory; and a start after `kill -9`, which waits out the dead leader's lease.
//!
//! A full run profiles the daemon under the storm and the churn into flame graphs
//! (`flame.rs`). Quick sizes keep `cargo xtask test` short.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{
    flame::{self, Top},
    summary::{Row, Section, Unit},
};
use crate::{
    run::{Guard, start_etcd},
    util::{info, root, step},
};

/// The sizes of one run.
struct Sizes {
    nodes: usize,
    per_node: usize,
    share: f64,
    seconds: f64,
    restarts: &'static [usize],
}

const QUICK: Sizes = Sizes {
    nodes: 50,
    per_node: 20,
    share: 0.2,
    seconds: 3.0,
    restarts: &[5_000],
};

const FULL: Sizes = Sizes {
    nodes: 1000,
    per_node: 20,
    share: 0.05,
    seconds: 20.0,
    restarts: &[20_000, 100_000, 1_000_000],
};

/// Containers per node in the restart fleets.
const RESTART_PER_NODE: usize = 20;
/// The peak memory goal at 100,000 containers.
const RSS_GOAL: f64 = 64.0 * 1024.0 * 1024.0;

/// A release daemon on an etcd.
struct Daemon {
    child: Child,
    url: String,
}

impl Daemon {
    fn start(etcd: &str, log: &Path) -> Result<Daemon> {
        let port = any_port()?;
        let target = root().join("target");
        let child = Command::new(target.join("release/state-server"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--etcd-endpoints", etcd])
            .args([
                "--action-controller",
                &format!("http://127.0.0.1:{}", any_port()?),
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .context("cannot start state-server")?;
        let daemon = Daemon {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        // Listening comes before loading; the load generators wait for answers themselves.
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!(
                    "state-server did not listen on port {port}; see {}",
                    log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(daemon)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits for the graceful shutdown.
    fn stop(mut self) -> Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()?;
        self.child.wait()?;
        Ok(())
    }

    fn kill9(mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs fleetgen and parses the JSON it prints.
fn fleetgen<S: AsRef<str>>(args: &[S]) -> Result<Value> {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let out = Command::new(root().join("target/release/fleetgen"))
        .args(&args)
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run fleetgen")?;
    if !out.status.success() {
        bail!("fleetgen {} failed ({})", args.join(" "), out.status);
    }
    serde_json::from_slice(&out.stdout).context("fleetgen printed no JSON")
}

/// A fresh etcd under `target/bench/`.
fn etcd(name: &str) -> Result<(Guard, String)> {
    let dir = root().join("target/bench").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    start_etcd(&dir)
}

/// Time from now until fleetgen's `first-ack` exits: the daemon acknowledged a list.
fn until_first_ack(daemon: &Daemon, nodes: usize) -> Result<Duration> {
    let started = Instant::now();
    fleetgen(&[
        "first-ack",
        "--daemon",
        &daemon.url,
        "--nodes",
        &nodes.to_string(),
        "--per-node",
        &RESTART_PER_NODE.to_string(),
    ])?;
    Ok(started.elapsed())
}

pub fn sections(quick: bool) -> Result<Vec<Section>> {
    let sizes = if quick { QUICK } else { FULL };
    let target = root().join("target/bench");
    std::fs::create_dir_all(&target)?;
    let mut rows = Vec::new();
    let mut tops: Vec<(String, Top)> = Vec::new();

    step(&format!(
        "fleet scale: {} nodes x {} containers, storm and churn, against raw etcd",
        sizes.nodes, sizes.per_node
    ));
    let (_etcd, etcd_url) = etcd("fleet-etcd")?;
    let daemon = Daemon::start(&etcd_url, &target.join("fleet-daemon.log"))?;
    let profile = (!quick)
        .then(|| flame::start(daemon.pid(), &target.join("fleet.perf")))
        .flatten();
    let load = fleetgen(&load_args(&sizes, &daemon, &etcd_url))?;
    if let Some(p) = profile {
        match p.finish(
            &target.join("flamegraph-storm-churn.svg"),
            "state-server under fleet storm and churn",
            5,
        ) {
            Ok(top) => tops.push(("storm and churn".into(), top)),
            Err(e) => info(&format!("no flame graph: {e:#}")),
        }
    }
    info(&format!("fleetgen load: {load}"));
    rows.extend(load_rows(&load, "", true));
    drop(daemon);

    step("fleet scale: the storm through a follower of two replicas");
    let (_etcd2, etcd2_url) = etcd("fleet-replicas-etcd")?;
    let leader = Daemon::start(&etcd2_url, &target.join("fleet-leader.log"))?;
    // The first daemon takes the lead once it answers; the second follows it.
    until_first_ack(&leader, 1)?;
    let follower = Daemon::start(&etcd2_url, &target.join("fleet-follower.log"))?;
    let through = fleetgen(&load_args(&sizes, &follower, &etcd2_url))?;
    rows.extend(load_rows(&through, "through a follower: ", false));
    drop((follower, leader));

    for &containers in sizes.restarts {
        rows.extend(restart(
            containers,
            &target,
            containers == sizes.restarts[0],
        )?);
    }
    let mut about = format!(
        "Simulated NodeAgents send a list only when it changed, over {} shared connections; \
         raw etcd writes the same container, model and package keys in transactions of up to \
         128 operations with the same concurrency and client library. Storm and churn at {} \
         nodes x {} containers; churn changes {:.0}% of the nodes per second for {} s. \
         Fencing and history ({} records per resource) are on.",
        16,
        sizes.nodes,
        sizes.per_node,
        sizes.share * 100.0,
        sizes.seconds,
        20
    );
    for (what, top) in &tops {
        let list: Vec<String> = top
            .iter()
            .map(|(f, share)| format!("{f} {:.1}%", share * 100.0))
            .collect();
        about.push_str(&format!(
            " Top leaf functions under {what}: {}.",
            list.join(", ")
        ));
    }
    Ok(vec![Section {
        title: "Fleet scale: storm, churn, restart".into(),
        about,
        rows,
    }])
}

fn load_args(sizes: &Sizes, daemon: &Daemon, etcd: &str) -> Vec<String> {
    [
        "load",
        "--daemon",
        &daemon.url,
        "--etcd",
        etcd,
        "--nodes",
        &sizes.nodes.to_string(),
        "--per-node",
        &sizes.per_node.to_string(),
        "--share",
        &sizes.share.to_string(),
        "--seconds",
        &sizes.seconds.to_string(),
        "--daemon-pid",
        &daemon.pid().to_string(),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Rows of one `fleetgen load` run; `all`: churn and first lists too, not only the storm.
fn load_rows(v: &Value, label: &str, all: bool) -> Vec<Row> {
    let ms = |path: &[&str]| {
        let mut x = v;
        for p in path {
            x = &x[*p];
        }
        x.as_f64().map(|m| m * 1e6)
    };
    let shape = format!("{} nodes x {}", v["nodes"], v["per_node"]);
    let mut rows = vec![
        Row::new(
            format!("{label}storm at {shape}: every list changes at once, all acknowledged vs raw etcd writing the same keys"),
            ms(&["storm", "ours", "wall_ms"]),
            ms(&["storm", "raw", "wall_ms"]),
            Unit::Nanos,
        )
        .goal("within 1.5x raw (ratio ≥ 0.67x)", 1.0 / 1.5),
        Row::new(
            format!("{label}storm at {shape}: p99 acknowledgement vs raw p99"),
            ms(&["storm", "ours", "p99_ms"]),
            ms(&["storm", "raw", "p99_ms"]),
            Unit::Nanos,
        ),
    ];
    if !all {
        return rows;
    }
    let churn = &v["churn"];
    let rate = format!(
        "{:.0}%/s of the nodes for {} s",
        churn["share_per_s"].as_f64().unwrap_or(0.0) * 100.0,
        churn["seconds"]
    );
    rows.extend([
        Row::new(
            format!("{shape}: first lists of every new node, all acknowledged vs raw"),
            ms(&["first_lists", "ours", "wall_ms"]),
            ms(&["first_lists", "raw", "wall_ms"]),
            Unit::Nanos,
        ),
        Row::new(
            format!("churn {rate}: p50 acknowledgement vs raw p50"),
            ms(&["churn", "ours", "p50_ms"]),
            ms(&["churn", "raw", "p50_ms"]),
            Unit::Nanos,
        ),
        Row::new(
            format!("churn {rate}: p99 acknowledgement vs raw p99"),
            ms(&["churn", "ours", "p99_ms"]),
            ms(&["churn", "raw", "p99_ms"]),
            Unit::Nanos,
        ),
        Row::new(
            format!("churn {rate}: daemon CPU per list"),
            churn["daemon_cpu_us_per_list"].as_f64().map(|u| u * 1e3),
            None,
            Unit::Nanos,
        ),
        Row::new(
            format!("churn {rate}: etcd write round trips per list vs raw"),
            churn["etcd_writes_per_list"].as_f64(),
            churn["raw_etcd_writes_per_list"].as_f64(),
            Unit::Count,
        ),
    ]);
    rows
}

/// The restart rows for a fleet of `containers` stored; `first`: also the `kill -9` row.
fn restart(containers: usize, target: &Path, first: bool) -> Result<Vec<Row>> {
    let nodes = containers.div_ceil(RESTART_PER_NODE);
    let shown = thousands(containers);
    step(&format!(
        "fleet scale: restart with {shown} containers stored"
    ));
    let (_etcd, etcd_url) = etcd("restart-etcd")?;
    let shape = [
        "--nodes".to_owned(),
        nodes.to_string(),
        "--per-node".to_owned(),
        RESTART_PER_NODE.to_string(),
    ];
    let mut populate = vec!["populate".to_owned(), "--etcd".to_owned(), etcd_url.clone()];
    populate.extend(shape.iter().cloned());
    let stored = fleetgen(&populate)?;
    info(&format!("stored: {stored}"));
    let raw = fleetgen(&["read", "--etcd", &etcd_url])?;
    let log = target.join("restart-daemon.log");
    // The first start after populating, then the measured one after a graceful stop.
    let daemon = Daemon::start(&etcd_url, &log)?;
    let first_start = until_first_ack(&daemon, nodes)?;
    daemon.stop()?;
    let started = Instant::now();
    let daemon = Daemon::start(&etcd_url, &log)?;
    until_first_ack(&daemon, nodes)?;
    let restarted = started.elapsed();
    let rss = state_rss(daemon.pid());
    info(&format!(
        "{shown} containers: first start {:.2} s, restart {:.2} s, raw read {:.2} s, peak RSS {:.1} MiB",
        first_start.as_secs_f64(),
        restarted.as_secs_f64(),
        raw["seconds"].as_f64().unwrap_or(f64::NAN),
        rss.unwrap_or(f64::NAN) / 1048576.0
    ));
    let mut restart = Row::new(
        format!(
            "restart with {shown} containers stored: graceful stop, start until the first list is acknowledged, vs reading the same keys raw"
        ),
        Some(restarted.as_secs_f64() * 1e9),
        raw["seconds"].as_f64().map(|s| s * 1e9),
        Unit::Nanos,
    );
    if containers >= 100_000 {
        restart = restart.goal("within 2x raw (ratio ≥ 0.5x)", 0.5);
    }
    let mut rows = vec![restart];
    let mut memory = Row::new(
        format!("daemon peak memory (VmHWM) after a restart with {shown} containers"),
        rss,
        (containers == 100_000).then_some(RSS_GOAL),
        Unit::Bytes,
    );
    if containers == 100_000 {
        memory = memory.goal("≤ 64 MiB (baseline: the goal)", 1.0);
    }
    rows.push(memory);
    if first {
        daemon.kill9()?;
        let started = Instant::now();
        let daemon = Daemon::start(&etcd_url, &log)?;
        until_first_ack(&daemon, nodes)?;
        rows.push(Row::new(
            format!("start after kill -9 with {shown} containers (waits out the dead leader's lease, 5 s)"),
            Some(started.elapsed().as_secs_f64() * 1e9),
            None,
            Unit::Nanos,
        ));
        daemon.stop()?;
    } else {
        daemon.stop()?;
    }
    Ok(rows)
}

/// A port nothing listens on now.
fn any_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn state_rss(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

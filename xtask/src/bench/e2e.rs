//! The end-to-end load run: a local etcd, the release daemon on it, and `loadgen` (in
//! `benches/src/bin/`) driving simulated node agents, with raw etcd puts as the baseline in
//! the same run.

use std::{
    net::TcpStream,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::summary::{Row, Section, Unit};
use crate::{
    provision::cargo,
    run::{Guard, free_port, start_etcd},
    util::{info, root, run, step},
};

/// Simulated node agents (and raw etcd clients) at once.
const CLIENTS: usize = 16;
/// WatchStates streams attached during the fan-out phases, each count in turn.
const WATCHERS: &str = "0,10,100";

pub fn sections(quick: bool) -> Result<Vec<Section>> {
    step("end-to-end load run: release build of state-server, loadgen and fleetgen");
    run(cargo(&[
        "build",
        "--release",
        "--locked",
        "-p",
        "state-server",
        "--bin",
        "state-server",
        "-p",
        "state-benches",
        "--bin",
        "loadgen",
        "--bin",
        "fleetgen",
    ]))?;
    let target = root().join("target");
    let dir = target.join("bench/etcd");
    let _ = std::fs::remove_dir_all(&dir);
    let (_etcd, etcd_url) = start_etcd(&dir)?;
    let port = free_port(47306)?;
    let daemon = Command::new(target.join("release/state-server"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--etcd-endpoints", &etcd_url])
        .args([
            "--action-controller",
            &format!("http://127.0.0.1:{}", free_port(47301)?),
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("cannot start state-server")?;
    let pid = daemon.id();
    let _daemon = Guard(daemon);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("state-server did not start listening on port {port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let reports = if quick { 50 } else { 1000 };
    step(&format!(
        "end-to-end load run: {CLIENTS} node agents x {reports} reports, against {CLIENTS} raw etcd clients"
    ));
    let out = Command::new(target.join("release/loadgen"))
        .args(["--daemon", &format!("http://127.0.0.1:{port}")])
        .args(["--etcd", &etcd_url])
        .args(["--clients", &CLIENTS.to_string()])
        .args(["--reports", &reports.to_string()])
        .args(["--daemon-pid", &pid.to_string()])
        .args(["--watchers", WATCHERS])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run loadgen")?;
    if !out.status.success() {
        bail!("loadgen failed ({})", out.status);
    }
    let v: Value = serde_json::from_slice(&out.stdout).context("loadgen printed no JSON")?;
    info(&format!("loadgen: {v}"));
    Ok(to_sections(&v))
}

fn to_sections(v: &Value) -> Vec<Section> {
    let f = |phase: &str, key: &str| v[phase][key].as_f64();
    let pair = |name: &str, ours: &str, base: &str, key: &str, unit: Unit| {
        Row::new(name, f(ours, key), f(base, key), unit)
    };
    let ms = |x: Option<f64>| x.map(|m| m * 1e6);
    let mut rows = Vec::new();
    for (label, ours, base) in [
        ("1 client", "ours_sequential", "raw_sequential"),
        (
            &format!("{CLIENTS} clients") as &str,
            "ours_concurrent",
            "raw_concurrent",
        ),
    ] {
        let mut throughput = pair(
            &format!("{label}: acknowledged reports/s vs raw etcd puts/s"),
            ours,
            base,
            "per_s",
            Unit::PerSecond,
        );
        if ours == "ours_concurrent" {
            throughput = throughput.goal("≥ 1x", 1.0);
        }
        rows.push(throughput);
        rows.push(Row::new(
            format!("{label}: p50 acknowledgement vs put latency"),
            ms(f(ours, "p50_ms")),
            ms(f(base, "p50_ms")),
            Unit::Nanos,
        ));
        rows.push(Row::new(
            format!("{label}: p99 acknowledgement vs put latency"),
            ms(f(ours, "p99_ms")),
            ms(f(base, "p99_ms")),
            Unit::Nanos,
        ));
        rows.push(
            Row::new(
                format!("{label}: etcd write round trips per report vs per put"),
                f(ours, "etcd_writes_per_op"),
                f(base, "etcd_writes_per_op"),
                Unit::Count,
            )
            .goal("at most one per report (ratio ≥ 1x)", 1.0),
        );
        rows.push(Row::new(
            format!("{label}: container state changes/s"),
            f(ours, "container_changes_per_s"),
            None,
            Unit::PerSecond,
        ));
    }
    rows.push(Row::new(
        format!(
            "{CLIENTS} clients: acknowledged reports/s vs raw etcd 3-key compare-and-swap \
             transactions/s (a report's store work, without the daemon)"
        ),
        f("ours_concurrent", "per_s"),
        f("txn_concurrent", "per_s"),
        Unit::PerSecond,
    ));
    // Fan-out: the same load with watchers attached, against none, in the same run.
    let fanout = v["watch_fanout"].as_array().cloned().unwrap_or_default();
    let none = fanout
        .iter()
        .find(|p| p["watchers"] == 0)
        .and_then(|p| p["phase"]["per_s"].as_f64());
    for p in fanout.iter().filter(|p| p["watchers"] != 0) {
        rows.push(Row::new(
            format!(
                "{CLIENTS} clients with {} WatchStates streams attached: acknowledged reports/s vs none attached",
                p["watchers"]
            ),
            p["phase"]["per_s"].as_f64(),
            none,
            Unit::PerSecond,
        ));
    }
    rows.push(Row::new(
        "daemon peak memory (VmHWM)",
        v["daemon_peak_rss_bytes"].as_f64(),
        None,
        Unit::Bytes,
    ));
    vec![Section {
        title: "End to end, over gRPC to a real etcd".into(),
        about: format!(
            "ours: simulated node agents send 10-container lists to the release daemon on a \
             local etcd; each report changes one container (and often its model and package). \
             baseline: raw single-key etcd puts with the same client library, same machine, \
             same run. {} reports or puts per client.",
            v["reports_per_client"]
        ),
        rows,
    }]
}

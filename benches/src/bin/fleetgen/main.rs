//! Fleet-scale runs, started by `cargo xtask bench` (`benches/README.md`): simulated
//! NodeAgents ([`state_benches::fleet`]) that send a list only when it changed, each scenario
//! against raw etcd doing the same store work in the same run. Every loop is bounded and stops
//! by itself; each command prints one JSON object on stdout.
//!
//! - `load`: the fleet's topology and first lists, then the **storm** (every node's list
//!   changes at once) and **churn** (a share of the nodes change per second for a while).
//! - `populate`, `read`, `first-ack`: the pieces of the **restart** run that xtask times
//!   around the daemon's own start (`stored.rs`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod load;
mod stored;

use anyhow::{Context, Result, bail};
use state_benches::fleet::FleetShape;

const USAGE: &str = "\
usage: fleetgen load --daemon URL --etcd URL --nodes N --per-node M [--share F --seconds S] [--daemon-pid PID]
       fleetgen populate --etcd URL --nodes N --per-node M
       fleetgen read --etcd URL
       fleetgen first-ack --daemon URL --nodes N --per-node M";

/// The options every command takes (each uses those it needs).
#[derive(Debug)]
pub struct Opts {
    pub daemon: String,
    pub etcd: String,
    pub fleet: FleetShape,
    /// Share of the nodes whose list changes each second during churn.
    pub share: f64,
    /// How long churn lasts, in seconds.
    pub seconds: f64,
    pub daemon_pid: Option<u32>,
}

fn opts(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        daemon: String::new(),
        etcd: String::new(),
        fleet: FleetShape::new(1000, 20),
        share: 0.05,
        seconds: 10.0,
        daemon_pid: None,
    };
    let (mut nodes, mut per_node) = (1000, 20);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = |what: &str| -> Result<f64> {
            value
                .parse()
                .with_context(|| format!("{what} takes a number, not {value:?}"))
        };
        match flag.as_str() {
            "--daemon" => o.daemon = value.clone(),
            "--etcd" => o.etcd = value.clone(),
            "--nodes" => nodes = number("--nodes")? as usize,
            "--per-node" => per_node = number("--per-node")? as usize,
            "--share" => o.share = number("--share")?,
            "--seconds" => o.seconds = number("--seconds")?,
            "--daemon-pid" => o.daemon_pid = Some(number("--daemon-pid")? as u32),
            other => bail!("unknown option {other}\n{USAGE}"),
        }
    }
    o.fleet = FleetShape::new(nodes, per_node);
    Ok(o)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        bail!("{USAGE}");
    };
    let o = opts(rest)?;
    let out = match command.as_str() {
        "load" => load::run(&o).await?,
        "populate" => stored::populate(&o).await?,
        "read" => stored::read(&o).await?,
        "first-ack" => stored::first_ack(&o).await?,
        other => bail!("unknown command {other}\n{USAGE}"),
    };
    println!("{out}");
    Ok(())
}

//! `cargo xtask`: the one entry point for building, testing, running and benchmarking.
//!
//! Each command prints what it is doing as it goes, provisions the tools it needs (see
//! `provision`), and stops with a message saying what to install where it cannot.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod browser;
mod browser_a11y;
mod browser_daily;
mod browser_errors;
mod browser_find;
mod browser_history;
mod browser_live;
mod browser_screens;
mod browser_why;
mod dist;
mod dist_check;
mod fuzz;
mod provision;
mod run;
mod serve;
mod test;
mod util;
mod web;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  run [--etcd]     start the daemon (embedded store, or a local etcd under target/)
  test [--web]     everything CI checks: fmt, clippy, no_std wasm build, all tests,
                   wasm and browser tests, and a quick benchmark pass (--web: only the
                   wasm and browser tests)
  build            build the daemon, statectl and the web explorer in release mode
  web [--attach URL]
                   build the explorer and serve it on localhost; with --attach, the page
                   follows that running daemon (started with --allow-origin for the page)
  bench [--quick]  criterion benchmarks and the end-to-end load run
  dist [--check] [--arch amd64|arm64]
                   static binaries, a container image FROM scratch and a Debian package
                   for amd64 and arm64 in target/dist/ (--check: run what this machine
                   can run of them)
  fuzz [--seconds N]
                   every fuzz target for N seconds (default 60; nightly and cargo-fuzz,
                   installed if missing)
";

fn main() {
    if let Err(e) = dispatch() {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}

fn dispatch() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        print!("{USAGE}");
        return Ok(());
    };
    let flag = |name: &str| rest.iter().any(|a| a == name);
    if cmd == "fuzz" {
        let seconds = match rest {
            [] => 60,
            [flag, n] if flag == "--seconds" => n
                .parse()
                .map_err(|_| anyhow::anyhow!("--seconds takes a number of seconds, not {n:?}"))?,
            _ => bail!("usage: cargo xtask fuzz [--seconds N]"),
        };
        return fuzz::fuzz(seconds);
    }
    if cmd == "dist" {
        let mut check = false;
        let mut arch = None;
        let mut it = rest.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--check" => check = true,
                "--arch" => arch = Some(it.next().context("--arch takes amd64 or arm64")?.as_str()),
                other => {
                    bail!("usage: cargo xtask dist [--check] [--arch amd64|arm64] (not {other:?})")
                }
            }
        }
        let built = dist::dist(check, arch)?;
        return if check {
            dist_check::check(&built)
        } else {
            Ok(())
        };
    }
    if cmd == "web" {
        return match rest {
            [] => web::web(None),
            [flag, url] if flag == "--attach" => web::web(Some(url)),
            _ => bail!("usage: cargo xtask web [--attach http://127.0.0.1:47006]"),
        };
    }
    if let Some(unknown) = rest
        .iter()
        .find(|a| !matches!(a.as_str(), "--etcd" | "--quick" | "--web"))
    {
        bail!("unknown option {unknown:?}\n\n{USAGE}");
    }
    match cmd.as_str() {
        "run" => run::run(flag("--etcd")),
        "test" if flag("--web") => web::test(),
        "test" => test::test(),
        "build" => run::build(),
        "bench" => bench::bench(flag("--quick")),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}

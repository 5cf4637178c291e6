//! `cargo xtask fuzz [--seconds N]`: runs every cargo-fuzz target in `fuzz/` for N seconds
//! each (default 60), from the committed seeds plus what earlier runs found. Not part of
//! `cargo xtask test`: the nightly sanitizer build of tonic and etcd-client alone costs
//! minutes. A crash stops the run with the input's path; it then becomes a named regression
//! test in the normal suite.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{
    provision::protoc,
    util::{info, output, root, run, step},
};

/// The targets, in `fuzz/fuzz_targets/`.
const TARGETS: [&str; 3] = ["container_list", "state_change", "artifacts"];

pub fn fuzz(seconds: u64) -> Result<()> {
    step("fuzzing: nightly toolchain and cargo-fuzz");
    nightly()?;
    cargo_fuzz()?;
    step("fuzzing: building the targets (nightly, address sanitizer; minutes the first time)");
    let mut build = Command::new("cargo");
    build
        .current_dir(root())
        .env("PROTOC", protoc())
        .args(["+nightly", "fuzz", "build"]);
    run(build).context("the fuzz targets do not build")?;
    for target in TARGETS {
        step(&format!("fuzzing {target} for {seconds} s"));
        let corpus = root().join("fuzz/corpus").join(target);
        std::fs::create_dir_all(&corpus).context("creating the corpus directory")?;
        let seeds = root().join("fuzz/seeds").join(target);
        let mut cmd = Command::new("cargo");
        cmd.current_dir(root())
            .env("PROTOC", protoc())
            .args(["+nightly", "fuzz", "run", target])
            .arg(&corpus)
            .arg(&seeds)
            .args([
                "--",
                &format!("-max_total_time={seconds}"),
                "-max_len=65536",
            ]);
        run(cmd).with_context(|| {
            format!(
                "{target} found a crash: the input is under fuzz/artifacts/{target}/; make it a regression test"
            )
        })?;
        let found = std::fs::read_dir(&corpus).map(|d| d.count()).unwrap_or(0);
        info(&format!("{target}: no crash; corpus of {found} inputs"));
    }
    Ok(())
}

fn nightly() -> Result<()> {
    if output("rustup", &["run", "nightly", "rustc", "--version"]).is_some() {
        info("nightly toolchain: installed");
        return Ok(());
    }
    info("nightly toolchain: installing with rustup (minimal profile)");
    let mut cmd = Command::new("rustup");
    cmd.args(["toolchain", "install", "nightly", "--profile", "minimal"]);
    run(cmd).context("install it with: rustup toolchain install nightly --profile minimal")
}

fn cargo_fuzz() -> Result<()> {
    if output("cargo", &["fuzz", "--version"]).is_some() {
        info("cargo-fuzz: installed");
        return Ok(());
    }
    info("cargo-fuzz: installing with cargo install (a few minutes)");
    let mut cmd = Command::new("cargo");
    cmd.args(["install", "cargo-fuzz"]);
    run(cmd).context("install it with: cargo install cargo-fuzz")?;
    if output("cargo", &["fuzz", "--version"]).is_none() {
        bail!("cargo-fuzz was installed but `cargo fuzz` does not run");
    }
    Ok(())
}

//! `cargo xtask test`: everything the project checks, in the order a failure is cheapest.

use anyhow::Result;

use crate::{
    provision::{self, cargo},
    util::{run, step},
};

pub fn test() -> Result<()> {
    step("provisioning tools");
    provision::wasm_target()?;
    let etcd = provision::etcd()?;

    step("formatting (cargo fmt --check)");
    run(cargo(&["fmt", "--all", "--", "--check"]))?;

    step("lints (clippy, warnings denied)");
    run(cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;

    step("state-core builds no_std for wasm32 (no default features)");
    run(cargo(&[
        "build",
        "-p",
        "state-core",
        "--no-default-features",
        "--target",
        "wasm32-unknown-unknown",
        "--locked",
    ]))?;

    step("unit and integration tests");
    let mut tests = cargo(&["test", "--workspace", "--locked"]);
    tests.env("ETCD_BIN", etcd);
    run(tests)?;

    crate::web::test()?;
    crate::bench::bench(true)?;

    step("all checks passed");
    Ok(())
}

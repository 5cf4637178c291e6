//! `cargo xtask web`: build the explorer (state-wasm for wasm32, then `wasm-bindgen --target
//! web` into `web/pkg/`) and serve it on localhost. Also the wasm and browser part of
//! `cargo xtask test`.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::{
    browser, browser_daily, browser_live,
    provision::{self, cargo},
    serve,
    util::{info, root, run, step},
};

/// Where `web()` listens; a busy port falls back to any free one.
const ADDR: &str = "127.0.0.1:8700";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Builds `web/pkg/` (the wasm module and its JS glue). Returns the size of the wasm file.
pub fn build() -> Result<u64> {
    step("building the explorer (state-wasm -> web/pkg)");
    provision::wasm_target()?;
    provision::wasm_bindgen_cli()?;
    run(cargo(&[
        "build",
        "-p",
        "state-wasm",
        "--profile",
        "wasm-release",
        "--target",
        "wasm32-unknown-unknown",
        "--locked",
    ]))?;
    let input = target_dir().join("wasm32-unknown-unknown/wasm-release/state_wasm.wasm");
    let out = root().join("web/pkg");
    let mut bindgen = std::process::Command::new("wasm-bindgen");
    bindgen
        .args([
            "--target",
            "web",
            "--no-typescript",
            "--remove-producers-section",
            "--remove-name-section",
        ])
        .arg("--out-dir")
        .arg(&out)
        .arg(&input);
    run(bindgen)?;
    let wasm = out.join("state_wasm_bg.wasm");
    let size = std::fs::metadata(&wasm)
        .with_context(|| format!("reading {wasm:?}"))?
        .len();
    info(&format!("{} is {} KiB", wasm.display(), size / 1024));
    Ok(size)
}

fn start_server(addr: &str) -> Result<serve::Server> {
    serve::start(addr, root().join("web"), root().join("examples"))
}

/// Serves the explorer; with `attach`, the page opens attached to that daemon.
pub fn web(attach: Option<&str>) -> Result<()> {
    build()?;
    let server = start_server(ADDR).or_else(|_| start_server("127.0.0.1:0"))?;
    let page = server.url();
    match attach {
        Some(daemon) => {
            let origin = page.trim_end_matches('/');
            step(&format!(
                "explorer attached to {daemon}: {origin}/?attach={daemon}"
            ));
            info(&format!(
                "the daemon must allow this page's origin: start it with --allow-origin {origin}"
            ));
        }
        None => step(&format!("explorer: {page}")),
    }
    info("serving web/ (Ctrl-C to stop)");
    loop {
        std::thread::park();
    }
}

/// The wasm binding tests (Node) and the end-to-end test in headless Chromium.
pub fn test() -> Result<()> {
    step("state-wasm binding tests (wasm-bindgen-test in Node)");
    provision::node()?;
    provision::wasm_bindgen_cli()?;
    let mut tests = cargo(&[
        "test",
        "-p",
        "state-wasm",
        "--target",
        "wasm32-unknown-unknown",
        "--tests",
        "--locked",
    ]);
    // Set here rather than in a global .cargo/config.toml, so plain `cargo test` on the host
    // is unaffected.
    tests.env(
        "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
        "wasm-bindgen-test-runner",
    );
    tests.env("WASM_BINDGEN_TEST_TIMEOUT", "120");
    run(tests)?;

    let wasm_size = build()?;
    let (chromium, chromedriver) = provision::chromium()?;
    step("explorer end-to-end test (headless Chromium over WebDriver)");
    let server = start_server("127.0.0.1:0")?;
    browser::end_to_end(
        &server.url(),
        &chromium,
        &chromedriver,
        &target_dir(),
        wasm_size,
    )?;
    step(
        "the explorer as a daily tool: find, why, keyboard and axe audit, screens, history, errors",
    );
    let axe = provision::axe_core(&target_dir())?;
    browser_daily::daily(&server.url(), &chromium, &chromedriver, &target_dir(), &axe)?;
    step(
        "explorer attached to a running daemon (real etcd, state-server, statectl; headless Chromium)",
    );
    browser_live::attached(&server.url(), &chromium, &chromedriver, &target_dir())
}

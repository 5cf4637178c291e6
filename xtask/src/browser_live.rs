//! The explorer attached to a running daemon, in real headless Chromium: a real etcd, the real
//! `state-server` and `statectl` binaries, and the page following the daemon over its HTTP API.
//!
//! A list sent to the daemon must appear on the page (waited for up to 10 s; the delay is
//! recorded in `target/explorer-live.json`, never asserted), state-core in the page must agree
//! with the daemon, the daemon's recorded history must show the transition, and the page must
//! refuse to change anything while attached. Screenshot: `target/explorer-live.png`.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, ensure};
use serde_json::json;

use crate::{
    browser::{WebDriver, ready},
    provision::cargo,
    run::{Guard, free_port, start_etcd},
    util::{info, root, run},
};

/// How long a change may take to show before the test fails.
const SHOW_WITHIN_MS: u64 = 10_000;

fn statectl(target: &Path, server: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
    let mut cmd = Command::new(target.join("debug/statectl"));
    cmd.arg("--server").arg(server).args(args);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().context("starting statectl")?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "statectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn list(state: &str) -> String {
    format!("- name: helloworld_a\n  state:\n    Status: {state}\n")
}

/// Starts etcd and the daemon (allowing the page's origin), then drives the attached page.
pub fn attached(page: &str, chromium: &Path, chromedriver: &Path, target: &Path) -> Result<()> {
    run(cargo(&[
        "build",
        "-p",
        "state-server",
        "--bins",
        "--locked",
    ]))?;
    let dir = target.join(format!("explorer-live-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (_etcd, etcd_url) = start_etcd(&dir)?;
    let port = free_port(47106)?;
    let daemon_url = format!("http://127.0.0.1:{port}");
    let origin = page.trim_end_matches('/');
    let log = std::fs::File::create(dir.join("state-server.log"))?;
    let _daemon = Guard(
        Command::new(target.join("debug/state-server"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--etcd-endpoints", &etcd_url])
            .args(["--allow-origin", origin])
            .args(["--action-controller", "http://127.0.0.1:9"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting state-server")?,
    );
    let example = root().join("examples/helloworld.yaml");
    let example = example.to_string_lossy();
    let started = Instant::now();
    // The daemon answers once it has loaded the fleet and leads.
    while statectl(target, &daemon_url, &["apply", "-f", &example], None).is_err() {
        ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the daemon did not answer in 30 s; see {}",
            dir.join("state-server.log").display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let report = |state: &str| {
        statectl(
            target,
            &daemon_url,
            &["report", "--node", "HPC", "-f", "-"],
            Some(&list(state)),
        )
    };
    report("running")?;

    let wd = WebDriver::start(chromium, chromedriver, target)?;
    wd.goto(&format!("{origin}/?attach={daemon_url}"))?;
    ready(&wd)?;
    wd.wait("__explorer.state('container', 'helloworld_a') === 'running'")?;
    wd.wait("__explorer.state('package', 'helloworld') === 'running'")?;
    info(&format!("attached to {daemon_url}: helloworld running"));

    // A list sent to the daemon shows on the page: the container, and the cascade state-core
    // derives here, which must agree with what the daemon stored.
    let sent = Instant::now();
    report("dead")?;
    let shown = wd.js(&format!(
        "const t0 = Date.now();
         while (__explorer.state('container', 'helloworld_a') !== 'dead') {{
           if (Date.now() - t0 > {SHOW_WITHIN_MS}) throw new Error('the dead container did not show within {SHOW_WITHIN_MS} ms');
           await new Promise(r => setTimeout(r, 5));
         }}
         return true;"
    ));
    let delay = sent.elapsed();
    shown?;
    wd.wait("__explorer.state('package', 'helloworld') === 'error'")?;
    ensure!(
        wd.state("model", "helloworld")? == "dead",
        "model not shown dead"
    );
    let disagree = wd.js("return __explorer.disagreements;")?;
    ensure!(
        disagree == json!([]),
        "the page and the daemon disagree: {disagree}"
    );
    info(&format!(
        "a dead container sent with statectl showed on the page after {} ms",
        delay.as_millis()
    ));

    // The daemon's recorded history of the package shows the transition, with its reason.
    wd.js(
        "document.querySelector('[data-pick=package][data-name=helloworld]').click(); return true;",
    )?;
    wd.wait(
        "[...document.querySelectorAll('#daemon-history tr[data-revision]')].some(r => r.textContent.includes('running → error'))",
    )?;
    let why = wd.js("return document.querySelector('#inspector .daemon').textContent;")?;
    ensure!(
        why.as_str().unwrap_or("").contains("NodeAgent/HPC"),
        "the daemon section names no source: {why}"
    );

    // Attached, the page changes nothing: edits are refused, and time travel only looks.
    let refused = wd.js(
        "const e = __explorer.dispatch({ type: 'add-node', name: 'x' }); return e ? e.message : null;",
    )?;
    ensure!(
        refused.as_str().unwrap_or("").contains("attached"),
        "an edit was not refused while attached: {refused}"
    );
    wd.js("__explorer.travel(__explorer.cursor - 1); return true;")?;
    wd.wait("__explorer.state('container', 'helloworld_a') === 'running'")?;
    wd.js("__explorer.travel(__explorer.steps); return true;")?;
    wd.wait("__explorer.state('container', 'helloworld_a') === 'dead'")?;
    wd.js(
        "document.querySelector('[data-pick=package][data-name=helloworld]').click(); return true;",
    )?;
    wd.wait("document.querySelectorAll('#daemon-history tr[data-revision]').length > 0")?;
    let shot = target.join("explorer-live.png");
    wd.screenshot(&shot)?;
    let severe = wd.severe_logs()?;
    ensure!(severe.is_empty(), "the page logged errors: {severe:#?}");
    let record = json!({
        "list_sent_to_shown_ms": delay.as_secs_f64() * 1000.0,
        "screenshot": shot,
    });
    std::fs::write(
        target.join("explorer-live.json"),
        serde_json::to_string_pretty(&record)?,
    )?;
    drop(wd);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

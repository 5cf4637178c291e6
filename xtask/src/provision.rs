//! Finding or installing the tools the project needs: protoc, the wasm32 target,
//! wasm-bindgen-cli (at the version the state-wasm crate pins), etcd and Chromium.
//!
//! Where installing is possible (rustup, cargo install, apt-get as root) xtask does it and
//! says so; otherwise it stops with the command to run.

use std::{path::PathBuf, process::Command};

use anyhow::{Context, Result, bail};

use crate::util::{info, output, root, run};

/// Path of a `protoc` binary: `$PROTOC` if set, else the one vendored by `protoc-bin-vendored`.
pub fn protoc() -> PathBuf {
    if let Some(p) = std::env::var_os("PROTOC") {
        return PathBuf::from(p);
    }
    protoc_bin_vendored::protoc_bin_path().unwrap_or_else(|_| PathBuf::from("protoc"))
}

/// A `cargo` command in the workspace root, with `PROTOC` set to [`protoc`].
pub fn cargo(args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(args).current_dir(root());
    cmd.env("PROTOC", protoc());
    cmd
}

/// Ensures the `wasm32-unknown-unknown` target is installed.
pub fn wasm_target() -> Result<()> {
    let installed = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        info("wasm32-unknown-unknown target: installed");
        return Ok(());
    }
    info("wasm32-unknown-unknown target: installing with rustup");
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", "wasm32-unknown-unknown"]);
    run(cmd).context("install it with: rustup target add wasm32-unknown-unknown")
}

/// The `wasm-bindgen` version pinned (with `=`) in `crates/state-wasm/Cargo.toml`.
pub fn pinned_wasm_bindgen() -> Result<String> {
    let path = root().join("crates/state-wasm/Cargo.toml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path:?}"))?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("wasm-bindgen"))
        .filter_map(|rest| rest.split('"').nth(1))
        .find_map(|v| v.strip_prefix('='))
        .map(str::to_owned)
        .with_context(|| format!("{path:?} does not pin wasm-bindgen with \"=X.Y.Z\""))
}

/// Ensures `wasm-bindgen` (and its test runner) at the pinned version is on PATH.
pub fn wasm_bindgen_cli() -> Result<()> {
    let want = pinned_wasm_bindgen()?;
    let have = output("wasm-bindgen", &["--version"]).unwrap_or_default();
    if have.split_whitespace().nth(1) == Some(want.as_str()) {
        info(&format!("wasm-bindgen-cli {want}: installed"));
        return Ok(());
    }
    info(&format!(
        "wasm-bindgen-cli {want}: installing with cargo install (about 2 minutes; found {:?})",
        have.trim()
    ));
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["install", "wasm-bindgen-cli", "--version", &want]);
    run(cmd).with_context(|| {
        format!("install it with: cargo install wasm-bindgen-cli --version {want}")
    })
}

/// Installs Debian `packages` for `what`, or says what to run where it cannot.
pub fn apt_install(what: &str, packages: &[&str]) -> Result<()> {
    let is_root = output("id", &["-u"]).is_some_and(|u| u.trim() == "0");
    let has_apt = output("apt-get", &["--version"]).is_some();
    if !(is_root && has_apt) {
        bail!(
            "{what} is missing; install it with: sudo apt-get install -y {}",
            packages.join(" ")
        );
    }
    info(&format!(
        "{what}: installing {} with apt-get",
        packages.join(" ")
    ));
    let mut update = Command::new("apt-get");
    update.args(["update", "-qq"]);
    run(update)?;
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-qq"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive");
    run(install)
}

fn find_binary(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    candidates.iter().find_map(|c| {
        let p = PathBuf::from(c);
        if p.is_absolute() {
            p.exists().then_some(p)
        } else {
            output("which", &[c]).map(|w| PathBuf::from(w.trim()))
        }
    })
}

/// Path of the `etcd` binary (`$ETCD_BIN`, PATH, `/usr/bin/etcd`), installing Debian's
/// `etcd-server` if missing.
pub fn etcd() -> Result<PathBuf> {
    let candidates = ["etcd", "/usr/bin/etcd"];
    if let Some(p) = find_binary("ETCD_BIN", &candidates) {
        info(&format!("etcd: {}", p.display()));
        return Ok(p);
    }
    apt_install("etcd", &["etcd-server"])?;
    find_binary("ETCD_BIN", &candidates)
        .context("etcd-server was installed but no etcd binary found")
}

/// Paths of Chromium and ChromeDriver, installing Debian's packages if missing.
pub fn chromium() -> Result<(PathBuf, PathBuf)> {
    let find = || {
        Some((
            find_binary("CHROMIUM_BIN", &["chromium", "/usr/bin/chromium"])?,
            find_binary("CHROMEDRIVER", &["chromedriver", "/usr/bin/chromedriver"])?,
        ))
    };
    if let Some(found) = find() {
        info(&format!(
            "chromium: {}, chromedriver: {}",
            found.0.display(),
            found.1.display()
        ));
        return Ok(found);
    }
    apt_install("chromium", &["chromium", "chromium-driver"])?;
    find().context("chromium was installed but chromium or chromedriver is not on PATH")
}

/// Ensures Node.js is on PATH (wasm-bindgen-test runs the binding tests in it), installing
/// Debian's `nodejs` if missing.
pub fn node() -> Result<()> {
    if let Some(v) = output("node", &["--version"]) {
        info(&format!("node: {}", v.trim()));
        return Ok(());
    }
    apt_install("Node.js", &["nodejs"])?;
    output("node", &["--version"])
        .map(|_| ())
        .context("nodejs was installed but node is not on PATH")
}

/// The axe-core release the accessibility audit runs. Pinned so a new rule upstream cannot
/// fail the test on its own; raise it deliberately.
pub const AXE_CORE_VERSION: &str = "4.10.3";

/// Path of `axe.min.js` at [`AXE_CORE_VERSION`], installed with npm from the npm registry into
/// `target/axe-core-<version>/` (gitignored, never committed) the first time it is needed.
/// The browser test reads the file and hands it to the page itself: no CDN.
pub fn axe_core(target: &std::path::Path) -> Result<PathBuf> {
    let dir = target.join(format!("axe-core-{AXE_CORE_VERSION}"));
    let file = dir.join("node_modules/axe-core/axe.min.js");
    if file.exists() {
        info(&format!("axe-core {AXE_CORE_VERSION}: {}", file.display()));
        return Ok(file);
    }
    if output("npm", &["--version"]).is_none() {
        apt_install("npm", &["npm"])?;
    }
    info(&format!(
        "axe-core {AXE_CORE_VERSION}: installing with npm into {}",
        dir.display()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut cmd = Command::new("npm");
    cmd.args([
        "install",
        "--no-save",
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        "--prefix",
    ])
    .arg(&dir)
    .arg(format!("axe-core@{AXE_CORE_VERSION}"));
    run(cmd).with_context(|| {
        format!(
            "install it with: npm install --prefix {} axe-core@{AXE_CORE_VERSION}",
            dir.display()
        )
    })?;
    if !file.exists() {
        bail!("npm installed axe-core but {} is missing", file.display());
    }
    Ok(file)
}

//! `cargo xtask dist --check`: runs what `dist` built, as far as this machine can, and says
//! plainly what it could not: each binary answers `--version` and serves until SIGTERM
//! (arm64 under qemu-user); the amd64 image starts under podman and serves; each Debian
//! package holds what it should, and its binary runs from the unpacked package.

use std::{
    fs,
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::{
    dist::{Arch, BINARIES, out_dir},
    util::{info, output, run, step},
};

/// How long a start may take under emulation before the check gives up.
const START: Duration = Duration::from_secs(60);
/// The daemon stops within 10 s of SIGTERM (docs/contract.md#waits); a little more here.
const STOP: Duration = Duration::from_secs(12);

/// Podman's options where its defaults cannot run a container (sandboxes that refuse
/// crun's cgroups or raising rlimits); tried only when a plain `podman run` fails.
const PODMAN_FALLBACK: [&str; 4] = ["--runtime", "runc", "--cgroup-manager", "cgroupfs"];
const RUN_FALLBACK: [&str; 4] = [
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
];

pub fn check(arches: &[Arch]) -> Result<()> {
    let mut not_run = Vec::new();
    for arch in arches {
        step(&format!("{}: the binaries run", arch.name));
        for b in BINARIES {
            version(arch, &arch.bin_dir().join(b))?;
        }
        serves(
            arch,
            &arch.bin_dir().join("state-server"),
            &out_dir().join(format!("check-{}", arch.name)),
        )?;
        step(&format!("{}: the image", arch.name));
        if arch.emulator.is_none() {
            image_serves(arch)?;
        } else {
            let seen = output(
                "podman",
                &[
                    "image",
                    "inspect",
                    "--format",
                    "{{.Architecture}}",
                    &arch.image(),
                ],
            );
            info(&format!(
                "built; not run here (no {} container runtime); architecture recorded: {}",
                arch.name,
                seen.as_deref().map_or("?", str::trim)
            ));
            not_run.push(format!("the {} image was built but not started", arch.name));
        }
        step(&format!("{}: the Debian package", arch.name));
        package(arch)?;
        not_run.push(format!(
            "the {} package was unpacked and its binary run, not installed with dpkg -i (postinst, systemd)",
            arch.name
        ));
    }
    step("checked; not tried here:");
    for n in &not_run {
        info(n);
    }
    Ok(())
}

/// Runs `binary` (under the arch's emulator) with `args`.
fn command(arch: &Arch, binary: &Path) -> Command {
    match arch.emulator {
        Some(emulator) => {
            let mut c = Command::new(emulator);
            c.arg(binary);
            c
        }
        None => Command::new(binary),
    }
}

fn version(arch: &Arch, binary: &Path) -> Result<()> {
    let out = command(arch, binary)
        .arg("--version")
        .output()
        .with_context(|| format!("run {}", binary.display()))?;
    if !out.status.success() {
        bail!(
            "{} --version failed: {}",
            binary.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    info(String::from_utf8_lossy(&out.stdout).trim());
    Ok(())
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until `/readyz` on `port` answers 200.
fn ready(port: u16, child: &mut Option<&mut Child>) -> Result<Duration> {
    let started = Instant::now();
    let url = format!("http://127.0.0.1:{port}/readyz");
    while started.elapsed() < START {
        if let Ok(resp) = ureq::get(&url).call()
            && resp.status() == 200
        {
            return Ok(started.elapsed());
        }
        if let Some(c) = child
            && let Ok(Some(status)) = c.try_wait()
        {
            bail!("the daemon exited before it was ready ({status})");
        }
        sleep(Duration::from_millis(200));
    }
    bail!("not ready within {START:?}")
}

/// Starts the daemon on its embedded store, waits until ready, stops it with SIGTERM and
/// checks it exits cleanly within [`STOP`].
fn serves(arch: &Arch, binary: &Path, dir: &Path) -> Result<()> {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir)?;
    let metrics = free_port()?;
    let mut child = command(arch, binary)
        .args(["--listen", "127.0.0.1:0", "--pullpiri=false", "--data-dir"])
        .arg(dir.join("data"))
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics}")])
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.join("daemon.log"))?)
        .spawn()
        .with_context(|| format!("start {}", binary.display()))?;
    let took = ready(metrics, &mut Some(&mut child));
    let mut term = Command::new("kill");
    term.args(["-TERM", &child.id().to_string()]);
    let _ = term.status();
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if stopped.elapsed() > STOP {
            let _ = child.kill();
            bail!("the daemon did not stop within {STOP:?} of SIGTERM");
        }
        sleep(Duration::from_millis(100));
    };
    let took = took.with_context(|| format!("log: {}", dir.join("daemon.log").display()))?;
    if !status.success() {
        bail!("the daemon exited with {status} after SIGTERM");
    }
    info(&format!(
        "ready in {:.1}s, stopped in {:.1}s",
        took.as_secs_f64(),
        stopped.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// `podman [global] run [run_opts] args…`, plainly or with the fallback options.
fn podman_run(fallback: bool, args: &[&str]) -> Command {
    let mut c = Command::new("podman");
    if fallback {
        c.args(PODMAN_FALLBACK);
    }
    c.arg("run");
    if fallback {
        c.args(RUN_FALLBACK);
    }
    c.args(args);
    c
}

fn image_serves(arch: &Arch) -> Result<()> {
    // What the archive holds, as an install loads it.
    let image = format!("{}:{}", crate::dist::IMAGE, crate::dist::VERSION);
    let mut load = Command::new("podman");
    load.arg("load").arg("-i").arg(arch.archive());
    run(load).context("the saved archive loads")?;
    let plain = podman_run(false, &["--rm", &image, "--version"]).output()?;
    let fallback = !plain.status.success();
    if fallback {
        info(&format!(
            "podman's defaults cannot run a container here ({}); trying {} run {}",
            String::from_utf8_lossy(&plain.stderr).trim(),
            PODMAN_FALLBACK.join(" "),
            RUN_FALLBACK.join(" ")
        ));
        run(podman_run(true, &["--rm", &image, "--version"]))?;
    }
    let metrics = free_port()?;
    let name = "statemanager-dist-check";
    let _ = Command::new("podman").args(["rm", "-f", name]).output();
    let metrics_addr = format!("127.0.0.1:{metrics}");
    run(podman_run(
        fallback,
        &[
            "-d",
            "--name",
            name,
            "--network",
            "host",
            &image,
            "--listen",
            "127.0.0.1:0",
            "--pullpiri=false",
            "--metrics-listen",
            &metrics_addr,
        ],
    ))?;
    let took = ready(metrics, &mut None);
    let mut stop = Command::new("podman");
    stop.args(["stop", "-t", "15", name]);
    let stopped = run(stop);
    let code = output(
        "podman",
        &["inspect", "--format", "{{.State.ExitCode}}", name],
    );
    let logs = output("podman", &["logs", name]).unwrap_or_default();
    let _ = Command::new("podman").args(["rm", "-f", name]).output();
    let took = took.with_context(|| format!("the container's log:\n{logs}"))?;
    stopped?;
    let user = output(
        "podman",
        &["image", "inspect", "--format", "{{.Config.User}}", &image],
    );
    if user.as_deref().map(str::trim) != Some("65532:65532") {
        bail!("the image runs as {user:?}, not the unprivileged 65532:65532");
    }
    if code.as_deref().map(str::trim) != Some("0") {
        bail!("the container exited with {code:?} after podman stop; log:\n{logs}");
    }
    info(&format!(
        "ran as uid 65532, ready in {:.1}s, stopped cleanly",
        took.as_secs_f64()
    ));
    Ok(())
}

fn package(arch: &Arch) -> Result<()> {
    let deb = arch.deb();
    let contents = output("dpkg-deb", &["--contents", &deb.to_string_lossy()])
        .with_context(|| format!("dpkg-deb --contents {}", deb.display()))?;
    for want in [
        "./usr/bin/state-server",
        "./usr/bin/statectl",
        "./lib/systemd/system/statemanager.service",
        "./etc/default/statemanager",
    ] {
        if !contents.contains(want) {
            bail!("{} lacks {want}:\n{contents}", deb.display());
        }
    }
    let arch_field = output(
        "dpkg-deb",
        &["--field", &deb.to_string_lossy(), "Architecture"],
    );
    if arch_field.as_deref().map(str::trim) != Some(arch.name) {
        bail!("{} says Architecture {arch_field:?}", deb.display());
    }
    let unpacked = out_dir().join(format!("unpacked-{}", arch.name));
    let _ = fs::remove_dir_all(&unpacked);
    let mut x = Command::new("dpkg-deb");
    x.arg("-x").arg(&deb).arg(&unpacked);
    run(x)?;
    version(arch, &unpacked.join("usr/bin/state-server"))?;
    let unit = unpacked.join("lib/systemd/system/statemanager.service");
    if output("which", &["systemd-analyze"]).is_some() {
        // Verified as installed, but with ExecStart at the unpacked binary: verify checks
        // that the command exists.
        let text = fs::read_to_string(&unit)?;
        let binary = unpacked.join("usr/bin/state-server");
        let here = text.replace(
            "ExecStart=/usr/bin/state-server",
            &format!("ExecStart={}", binary.display()),
        );
        let copy = out_dir()
            .join(format!("unit-{}", arch.name))
            .join("statemanager.service");
        fs::create_dir_all(copy.parent().context("unit folder")?)?;
        fs::write(&copy, here)?;
        let mut verify = Command::new("systemd-analyze");
        verify.arg("verify").arg(&copy);
        run(verify).context("the systemd unit")?;
    } else {
        info("systemd-analyze not on this machine: the unit was not verified");
    }
    Ok(())
}

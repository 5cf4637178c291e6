//! `cargo xtask run` and `cargo xtask build`.

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::{
    provision::{self, cargo},
    util::{info, root, run as run_cmd, step},
};

const LISTEN: &str = "127.0.0.1:47006";

/// Kills a child process when dropped.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

pub fn free_port(preferred: u16) -> Result<u16> {
    if port_free(preferred) {
        return Ok(preferred);
    }
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `GET /health` on etcd's client port.
fn etcd_healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.contains("\"health\":\"true\"")
}

/// Starts etcd with its data under `target/etcd-data`; returns the guard and its client URL.
pub fn start_etcd(dir: &Path) -> Result<(Guard, String)> {
    let bin = provision::etcd()?;
    let client = free_port(2379)?;
    let peer = free_port(2380)?;
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    std::fs::create_dir_all(dir)?;
    let log = std::fs::File::create(dir.join("etcd.log"))?;
    let child = Command::new(bin)
        .args(["--name", "statemanager-dev", "--data-dir"])
        .arg(dir.join("data"))
        .args(["--listen-client-urls", &client_url])
        .args(["--advertise-client-urls", &client_url])
        .args(["--listen-peer-urls", &peer_url])
        .args(["--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("statemanager-dev={peer_url}")])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("cannot start etcd")?;
    let guard = Guard(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !etcd_healthy(client) {
        if Instant::now() > deadline {
            bail!(
                "etcd did not become healthy on {client_url}; see {}",
                dir.join("etcd.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    info(&format!("etcd: {client_url} (data in {})", dir.display()));
    Ok((guard, client_url))
}

pub fn run(etcd: bool) -> Result<()> {
    step("building state-server and statectl");
    run_cmd(cargo(&["build", "-p", "state-server", "--bins"]))?;
    let target = root().join("target");
    let _etcd_guard;
    let mut args: Vec<String> = vec!["--listen".into(), LISTEN.into()];
    if etcd {
        step("starting a local etcd under target/");
        let (guard, url) = start_etcd(&target.join("etcd-dev"))?;
        _etcd_guard = guard;
        args.extend(["--etcd-endpoints".into(), url]);
    } else {
        let data = target.join("state-data");
        args.extend(["--data-dir".into(), data.to_string_lossy().into_owned()]);
        info(&format!("embedded store: {}", data.display()));
    }
    step("starting state-server");
    let statectl = target.join("debug/statectl");
    let example = root().join("examples/helloworld.yaml");
    println!(
        "    listening on {LISTEN} (gRPC: statemanager.StateManagerConnection, health, reflection)\n\
         \n    try, in another terminal:\n\
         \x20     {s} --server http://{LISTEN} apply -f {e}\n\
         \x20     {s} --server http://{LISTEN} list package\n\
         \n    Ctrl-C stops it.\n",
        s = statectl.display(),
        e = example.display(),
    );
    let mut daemon = Command::new(target.join("debug/state-server"))
        .args(&args)
        .spawn()
        .context("cannot start state-server")?;
    let status = daemon.wait()?;
    if !status.success() {
        bail!("state-server exited with {status}");
    }
    Ok(())
}

pub fn build() -> Result<()> {
    step("release build of the workspace");
    run_cmd(cargo(&["build", "--workspace", "--release", "--locked"]))?;
    crate::web::build()?;
    info(&format!(
        "binaries in {}; the explorer in web/ (serve it with cargo xtask web)",
        root().join("target/release").display()
    ));
    Ok(())
}

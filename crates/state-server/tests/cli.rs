//! The binaries end to end: `state-server` on its embedded store as a child process, driven by
//! `statectl`; restart persistence; SIGTERM.

mod common;

use std::{
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use common::free_port;

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(data: &Path) -> Server {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_state-server"))
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
                &data.to_string_lossy(),
                "--action-controller",
                &format!("http://127.0.0.1:{}", free_port()),
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start state-server");
        let server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.ctl(&["list", "model"]).status.code() != Some(0) {
            assert!(Instant::now() < deadline, "state-server did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn ctl(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_statectl"))
            .arg("--server")
            .arg(&self.url)
            .args(args)
            .output()
            .expect("run statectl")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "statectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(!out.status.success(), "statectl {args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// SIGTERM, then how long the process took to exit.
    fn terminate(mut self) -> Duration {
        let pid = self.child.id().to_string();
        let sent = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let limit = Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "state-server exited with {status}");
                return sent.elapsed();
            }
            if sent.elapsed() > limit {
                let _ = self.child.kill();
                panic!("state-server ignored SIGTERM for {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn statectl_end_to_end_on_the_embedded_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/helloworld.yaml"
    );
    let out = server.ok(&["apply", "-f", example]);
    assert!(out.contains("Package/helloworld applied"), "{out}");
    assert_eq!(
        server.ok(&["get", "package", "helloworld"]).trim(),
        "PACKAGE_STATE_IDLE"
    );

    let containers = dir.path().join("containers.yaml");
    std::fs::write(
        &containers,
        "- name: /helloworld_app\n  state: { Status: running, Running: \"true\" }\n- name: helloworld_sidecar\n  state: { Status: exited, ExitCode: \"2\" }\n",
    )
    .expect("write");
    let out = server.ok(&[
        "report",
        "--node",
        "HPC",
        "-f",
        &containers.to_string_lossy(),
    ]);
    assert!(out.contains("2 containers stored"), "{out}");
    assert_eq!(
        server.ok(&["get", "model", "helloworld"]).trim(),
        "MODEL_STATE_DEAD"
    );
    let out = server.ok(&["list", "package", "--state", "error"]);
    assert!(
        out.contains("helloworld") && out.contains("PACKAGE_STATE_ERROR"),
        "{out}"
    );
    let out = server.ok(&["list", "package", "--state", "running"]);
    assert!(!out.contains("helloworld"), "{out}");

    let out = server.ok(&[
        "change",
        "scenario",
        "helloworld",
        "--to",
        "idle",
        "--source",
        "ApiServer",
    ]);
    assert!(out.contains("SCENARIO_STATE_IDLE"), "{out}");
    let err = server.fails(&[
        "change",
        "scenario",
        "helloworld",
        "--from",
        "idle",
        "--to",
        "completed",
        "--source",
        "ActionController",
    ]);
    assert!(err.contains("ERROR_CODE_INVALID_STATE_TRANSITION"), "{err}");
    let err = server.fails(&["get", "model", "nope"]);
    assert!(err.contains("NotFound"), "{err}");
    let err = server.fails(&["get", "volume", "v"]);
    assert!(err.contains("unknown resource kind \"volume\""), "{err}");

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "kind: Package\nmetadata:\n  name: ok\n---\nkind: Package\nmetadata:\n  name: ../x\n",
    )
    .expect("write");
    let err = server.fails(&["apply", "-f", &bad.to_string_lossy()]);
    assert!(err.contains("document 2"), "{err}");
    assert_eq!(
        server.ok(&["get", "package", "ok"]).trim(),
        "PACKAGE_STATE_IDLE"
    );

    // Persistence: a restart on the same data keeps every state.
    server.terminate();
    let server = Server::start(&data);
    assert_eq!(
        server.ok(&["get", "model", "helloworld"]).trim(),
        "MODEL_STATE_DEAD"
    );
    assert_eq!(
        server.ok(&["get", "scenario", "helloworld"]).trim(),
        "SCENARIO_STATE_IDLE"
    );
}

#[test]
fn sigterm_stops_the_daemon_promptly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"));
    let took = server.terminate();
    // The contract is "exit within 10 s"; this is that bound, not a speed measurement.
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn statectl_says_when_the_server_is_unreachable() {
    let out = Command::new(env!("CARGO_BIN_EXE_statectl"))
        .args([
            "--server",
            &format!("http://127.0.0.1:{}", free_port()),
            "list",
            "model",
        ])
        .output()
        .expect("run statectl");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach the StateManager"), "{err}");
}

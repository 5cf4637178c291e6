//! The HTTP API on the gRPC port (`docs/contract.md#http-api`), spoken as a browser speaks it:
//! plain HTTP/1.1, server-sent events resumed with `Last-Event-ID`, CORS only for allowed
//! origins, and writes only as JSON.

use std::time::Duration;

use state_core::ModelState;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::harness::{HELLOWORLD, Harness, dead, running};

const ORIGIN: &str = "http://127.0.0.1:8700";

/// An HTTP/1.1 exchange on its own connection; the response so far is read with [`Http::until`].
struct Http {
    stream: TcpStream,
    seen: String,
}

impl Http {
    async fn send(h: &Harness, request: &str) -> Http {
        let addr = h.daemon.url().trim_start_matches("http://").to_owned();
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("write request");
        Http {
            stream,
            seen: String::new(),
        }
    }

    async fn get(h: &Harness, path: &str, headers: &str) -> Http {
        Http::send(
            h,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"),
        )
        .await
    }

    /// Reads until `text` has arrived (10 s at most); returns everything read so far.
    async fn until(&mut self, text: &str) -> &str {
        let mut buf = [0u8; 8192];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !self.seen.contains(text) {
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no {text:?} within 10 s; got:\n{}", self.seen))
                .expect("read");
            assert!(
                n > 0,
                "connection closed before {text:?}; got:\n{}",
                self.seen
            );
            self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        &self.seen
    }

    /// The whole response of a request sent with `Connection: close`.
    async fn all(mut self) -> String {
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), self.stream.read_to_end(&mut rest))
            .await
            .expect("response within 10 s")
            .expect("read");
        self.seen.push_str(&String::from_utf8_lossy(&rest));
        self.seen
    }
}

/// The SSE `id` of the event (one block up to a blank line) that contains `text`.
fn id_of(stream: &str, text: &str) -> i64 {
    let block = stream
        .split("\n\n")
        .find(|b| b.contains(text))
        .expect("event");
    let line = block
        .lines()
        .find_map(|l| l.strip_prefix("id: ").or_else(|| l.strip_prefix("id:")))
        .unwrap_or_else(|| panic!("no id in {block:?}"));
    line.trim().parse().expect("numeric id")
}

#[tokio::test]
async fn server_sent_events_follow_changes_and_resume_by_last_event_id() {
    let mut h = Harness::start().await;
    h.apply(HELLOWORLD).await;
    h.report("HPC", vec![running("helloworld_a")]).await;

    let mut sse = Http::get(&h, "/v1/watch?kinds=model", "").await;
    let head = sse.until("snapshot_done").await.to_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/event-stream"), "{head}");
    assert!(head.contains(ModelState::Running.stored()), "{head}");

    h.report("HPC", vec![dead("helloworld_a")]).await;
    let seen = sse.until(ModelState::Dead.stored()).await.to_owned();
    let id = id_of(&seen, ModelState::Dead.stored());
    assert!(seen.contains("NodeAgent/HPC"), "{seen}");
    drop(sse);

    // Missed while away, then resumed the way EventSource reconnects: no snapshot, just it.
    h.report("HPC", vec![running("helloworld_a")]).await;
    let mut resumed = Http::get(
        &h,
        "/v1/watch?kinds=model",
        &format!("Last-Event-ID: {id}\r\n"),
    )
    .await;
    let seen = resumed.until(ModelState::Running.stored()).await.to_owned();
    assert!(!seen.contains("snapshot"), "{seen}");
    assert!(id_of(&seen, ModelState::Running.stored()) > id);

    let bad = Http::get(&h, "/v1/watch?kinds=volume", "")
        .await
        .all()
        .await;
    assert!(
        bad.starts_with("HTTP/1.1 400") && bad.contains("unknown kind"),
        "{bad}"
    );
    h.stop().await;
}

#[tokio::test]
async fn fleet_history_and_state_changes_as_json() {
    let mut h = Harness::start_with(|cfg| cfg.allowed_origins = vec![ORIGIN.into()]).await;
    h.apply(HELLOWORLD).await;
    h.report("HPC", vec![running("helloworld_a")]).await;

    let fleet = Http::get(&h, "/v1/fleet", "").await.all().await;
    let body = fleet.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json: serde_json::Value =
        serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{e}: {fleet}"));
    assert_eq!(json["packages"]["helloworld"]["models"][0], "helloworld");
    assert_eq!(json["nodes"]["HPC"]["helloworld_a"]["state"], "running");
    assert_eq!(json["models"]["helloworld"], "running");

    let history = Http::get(&h, "/v1/history?kind=model&name=helloworld", "")
        .await
        .all()
        .await;
    assert!(
        history.contains("\"to\":\"MODEL_STATE_RUNNING\""),
        "{history}"
    );

    // A write must be JSON: a form post (what another site could make a browser send) is
    // refused before it reaches the engine.
    let form = "kind=scenario&name=helloworld&to=idle";
    let refused = Http::send(
        &h,
        &format!(
            "POST /v1/state-change HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
            form.len()
        ),
    )
    .await
    .all()
    .await;
    assert!(refused.starts_with("HTTP/1.1 415"), "{refused}");
    let change = r#"{"kind":"scenario","name":"helloworld","to":"idle","source":"ApiServer"}"#;
    let answer = Http::send(
        &h,
        &format!(
            "POST /v1/state-change HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{change}",
            change.len()
        ),
    )
    .await
    .all()
    .await;
    assert!(answer.contains("ERROR_CODE_SUCCESS"), "{answer}");

    // CORS: the allowed origin may read; any other gets no permission.
    let preflight = |origin: &str| {
        format!(
            "OPTIONS /v1/state-change HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\nConnection: close\r\n\r\n"
        )
    };
    let allowed = Http::send(&h, &preflight(ORIGIN)).await.all().await;
    assert!(
        allowed
            .to_ascii_lowercase()
            .contains(&format!("access-control-allow-origin: {ORIGIN}")),
        "{allowed}"
    );
    let other = Http::send(&h, &preflight("http://evil.example"))
        .await
        .all()
        .await;
    assert!(
        !other
            .to_ascii_lowercase()
            .contains("access-control-allow-origin"),
        "{other}"
    );
    // ... and is told so: 403 with the reason, not 200 without a grant.
    assert!(other.starts_with("HTTP/1.1 403"), "{other}");
    assert!(other.contains("--allow-origin"), "{other}");
    h.stop().await;
}

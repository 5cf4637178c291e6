//! The HTTP side (`--metrics-listen`): `/metrics` in the Prometheus text format, `/healthz`
//! (the process answers) and `/readyz` (the state is loaded and the store reachable), for
//! probes that do not speak gRPC.

use std::{sync::Arc, sync::atomic::Ordering};

use axum::{Router, extract::State, http::StatusCode, routing::get};
use tokio::net::TcpListener;

use crate::{
    engine::{Command, EngineHandle},
    metrics::{KindState, Metrics},
};

#[derive(Clone)]
struct Shared {
    metrics: Arc<Metrics>,
    engine: EngineHandle,
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    engine: EngineHandle,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(Shared { metrics, engine });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn scrape(
    State(s): State<Shared>,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    // Resources per kind and state are counted now, from the engine's view; if the engine
    // cannot answer in time the last counts stay.
    let census = s
        .engine
        .call(crate::waits::SCRAPE_WAIT, |reply| Command::Census { reply })
        .await;
    if let Ok(Ok(counts)) = census {
        s.metrics.resources.clear();
        for (kind, state, n) in counts {
            s.metrics
                .resources
                .get_or_create(&KindState { kind, state })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
    (
        StatusCode::OK,
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

async fn ready(State(s): State<Shared>) -> (StatusCode, String) {
    let (status, mut body) = if s.metrics.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the state is not loaded or the store is unreachable\n".to_owned(),
        )
    };
    // States are still served from the store while the artifact source is away: said, but
    // not a reason to stop serving.
    if let Some(problem) = s.metrics.artifacts_problem() {
        body.push_str(&format!("artifacts: {problem}\n"));
    }
    (status, body)
}

//! The daemon's HTTP/JSON face, served on the gRPC port (`docs/contract.md#http-api`): what a
//! browser can use without a gRPC-Web client, for the explorer attached to a running daemon
//! (`cargo xtask web --attach`) and for `curl`.
//!
//! - `GET /v1/watch?kinds=model,package&prefix=&from=REV`: `WatchStates` as server-sent events,
//!   one JSON event per message. The last event of each revision carries the revision as its
//!   SSE `id`, so a browser's `EventSource` that reconnects resumes exactly where it was
//!   (`Last-Event-ID`) without any code of the page's.
//! - `GET /v1/history?kind=&name=&limit=`: `GetHistory`.
//! - `GET /v1/fleet`: the fleet's shape (packages, scenarios, nodes, states).
//! - `POST /v1/state-change` (JSON only): `SendStateChange`, through the same handler.
//!
//! Cross-origin requests are refused unless their origin is allowed (`--allow-origin`). A write
//! must be `application/json`, which a browser never sends cross-origin without asking first,
//! so another site cannot make a visitor's browser post one.

use std::{convert::Infallible, sync::Arc};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use state_core::kind::Kind;
use tokio_stream::{Stream, StreamExt as _};
use tonic::{Code, Request, Status};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::{
    engine::{Command, EngineHandle, shape::Shape},
    forward::engine_status,
    history,
    metrics::Metrics,
    pb::statemanager::{
        ErrorCode, StateChange, state_manager_connection_server::StateManagerConnection,
    },
    service::Service,
    store::AnyStore,
    watch,
};

/// What the HTTP handlers share.
#[derive(Clone, Debug)]
pub struct HttpApi {
    pub store: Arc<AnyStore>,
    pub hub: Arc<watch::hub::Hub>,
    pub engine: EngineHandle,
    pub service: Service,
    pub metrics: Arc<Metrics>,
    /// Origins allowed to call from a browser page elsewhere (none: same origin only).
    pub origins: Vec<String>,
}

type Refusal = (StatusCode, String);

/// The routes, with CORS for the allowed origins.
pub fn router(api: HttpApi) -> Router {
    let origins: Vec<HeaderValue> = api
        .origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let routes = Router::new()
        .route("/v1/watch", get(watch_events))
        .route("/v1/history", get(history_entries))
        .route("/v1/fleet", get(fleet))
        .route("/v1/state-change", post(state_change))
        .with_state(api);
    let routes = if origins.is_empty() {
        routes
    } else {
        routes.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins.clone()))
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([
                    header::CONTENT_TYPE,
                    header::HeaderName::from_static("last-event-id"),
                ]),
        )
    };
    // Outermost: the CORS layer would answer any preflight 200, granting nothing.
    routes.layer(middleware::from_fn_with_state(
        Arc::new(origins),
        refuse_foreign_preflight,
    ))
}

/// Answers a CORS preflight from an origin not allowed with 403 and the reason, rather than
/// 200 without a grant: a browser refuses either, but a person reading the exchange sees why.
async fn refuse_foreign_preflight(
    State(allowed): State<Arc<Vec<HeaderValue>>>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    if request.method() == Method::OPTIONS
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        && let Some(origin) = headers.get(header::ORIGIN)
        && !allowed.contains(origin)
    {
        let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
        return (
            StatusCode::FORBIDDEN,
            format!("origin {origin:?} may not call this API (the daemon's --allow-origin)\n"),
        )
            .into_response();
    }
    next.run(request).await
}

/// The HTTP status of a gRPC refusal: the caller's fault, whom it may not be, or the daemon
/// that cannot answer now.
fn refusal(status: &Status) -> Refusal {
    let code = match status.code() {
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        // A certificate that names nobody, or somebody who may not do this.
        Code::Unauthenticated | Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::FailedPrecondition | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    (code, status.message().to_owned())
}

#[derive(Debug, Default, Deserialize)]
struct WatchQuery {
    /// Comma-separated kinds (empty: all four).
    #[serde(default)]
    kinds: String,
    #[serde(default)]
    prefix: String,
    /// Resume after this revision (0: snapshot first).
    #[serde(default)]
    from: i64,
}

async fn watch_events(
    State(api): State<HttpApi>,
    Query(q): Query<WatchQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Refusal> {
    let kinds: Vec<String> = q
        .kinds
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    let filter = watch::Filter::new(&kinds, &q.prefix).map_err(|e| (StatusCode::BAD_REQUEST, e))?;
    // A reconnecting EventSource names the last revision it processed.
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let from = resumed.unwrap_or(q.from);
    if from < 0 {
        return Err((StatusCode::BAD_REQUEST, "from is negative".into()));
    }
    let events = watch::start(
        api.store.clone(),
        api.hub.clone(),
        filter,
        from,
        api.metrics.clone(),
    );
    let stream = tokio_stream::wrappers::ReceiverStream::new(events).map(|e| {
        let event = match e {
            Ok(e) => {
                let id = e.complete.then(|| e.revision.to_string());
                let event = Event::default().json_data(&e).unwrap_or_default();
                match id {
                    Some(id) => event.id(id),
                    None => event,
                }
            }
            Err(e) => Event::default()
                .json_data(serde_json::json!({"type": "error", "message": e.to_string()}))
                .unwrap_or_default(),
        };
        Ok(event)
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[derive(Debug, Default, Deserialize)]
struct HistoryQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    limit: usize,
}

async fn history_entries(
    State(api): State<HttpApi>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Vec<history::Entry>>, Refusal> {
    history::read(api.store.as_ref(), &q.kind, &q.name, q.limit)
        .await
        .map(Json)
        .map_err(|e| match e {
            history::HistoryError::Invalid(m) => (StatusCode::BAD_REQUEST, m),
            history::HistoryError::Store(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        })
}

async fn fleet(State(api): State<HttpApi>) -> Result<Json<Shape>, Refusal> {
    api.engine
        .call(api.service.wait(), |reply| Command::Shape { reply })
        .await
        .and_then(|r| r)
        .map(Json)
        .map_err(|e| {
            let status = engine_status(&e);
            (StatusCode::SERVICE_UNAVAILABLE, status.message().to_owned())
        })
}

/// A state change as the page sends it.
#[derive(Debug, Deserialize)]
struct ChangeBody {
    /// scenario, package or model
    kind: String,
    name: String,
    #[serde(default)]
    from: String,
    to: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    transition_id: String,
}

/// `SendStateChange`'s answer, with the error code by name.
#[derive(Debug, Serialize)]
struct ChangeAnswer {
    error_code: &'static str,
    message: String,
    error_details: String,
}

async fn state_change(
    State(api): State<HttpApi>,
    connection: Extensions,
    Json(body): Json<ChangeBody>,
) -> Result<Json<ChangeAnswer>, Refusal> {
    let kind = Kind::parse(&body.kind).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    // What the connection layer put on the request (its address, the verified client
    // certificate) goes along, so the caller is identified exactly as over gRPC.
    let mut request = Request::new(StateChange {
        resource_type: kind.resource_type().wire(),
        resource_name: body.name,
        current_state: body.from,
        target_state: body.to,
        transition_id: body.transition_id,
        timestamp_ns: 0,
        source: body.source,
    });
    *request.extensions_mut() = connection;
    let answer = api
        .service
        .send_state_change(request)
        .await
        .map_err(|s| refusal(&s))?
        .into_inner();
    let code = ErrorCode::try_from(answer.error_code).unwrap_or(ErrorCode::Unspecified);
    Ok(Json(ChangeAnswer {
        error_code: code.as_str_name(),
        message: answer.message,
        error_details: answer.error_details,
    }))
}

//! Putting the daemon together: store, engine, reconcile sender, gRPC service with health and
//! reflection, and graceful shutdown.

use std::{future::Future, path::PathBuf, sync::Arc, time::Duration};

use state_core::container::Limits;
use tokio::net::TcpListener;
use tonic::{
    service::Routes,
    transport::{Endpoint, Server, server::TcpIncoming},
};
use tonic_health::ServingStatus;

use crate::{
    engine::{Engine, EngineConfig, SERVICE_NAME},
    http_api::{self, HttpApi},
    leader::Leadership,
    metrics::Metrics,
    pb::{self, statemanager::state_manager_connection_server::StateManagerConnectionServer},
    pullpiri::{faults::Faults, rocksdb::Source},
    reconcile::{Backoff, Policy, Reconciler},
    rpc_metrics::RpcMetrics,
    service::{Backing, Service},
    store::{
        AnyStore, StoreError,
        embedded::EmbeddedStore,
        etcd::{EtcdAccess, EtcdStore},
    },
    tls::TlsConfig,
    waits::{Probe, Stopping},
    watch::hub::Hub,
};

/// HTTP/2 keepalive pings on an idle connection, and how long one may go unanswered.
const KEEPALIVE: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent calls on one connection.
const MAX_STREAMS_PER_CONNECTION: u32 = 64;

/// Which store to use.
#[derive(Clone, Debug)]
pub enum StoreConfig {
    /// An etcd cluster.
    Etcd {
        /// Client URLs.
        endpoints: Vec<String>,
        /// TLS and user.
        access: EtcdAccess,
    },
    /// The embedded database in this directory.
    Embedded {
        /// Data directory.
        data_dir: PathBuf,
    },
}

/// Everything the daemon is configured with.
#[derive(Clone, Debug)]
pub struct Config {
    pub store: StoreConfig,
    /// ActionController URL.
    pub action_controller: String,
    /// Engine tuning (strict sources, store deadline, transaction size).
    pub engine: EngineConfig,
    /// Deadline of one store call.
    pub store_timeout: Duration,
    /// Bounds on container lists.
    pub limits: Limits,
    /// Largest accepted gRPC message.
    pub max_message_bytes: usize,
    /// Reconcile retry timing.
    pub backoff: Backoff,
    /// Serve gRPC server reflection (what `grpcurl` uses to list services).
    pub reflection: bool,
    /// TLS and mTLS (off by default).
    pub tls: TlsConfig,
    /// Where to serve `/metrics`, `/healthz` and `/readyz` (off by default).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The URL other daemons reach this one at, published when it leads (`None`: derived
    /// from the listen address).
    pub advertise_url: Option<String>,
    /// The leader's lease: a leader that dies is replaced within this time plus an election.
    pub lease_ttl: Duration,
    /// Origins whose pages may call the HTTP API (`/v1/...`) from a browser (none: only
    /// pages served by the daemon's own origin, which is none).
    pub allowed_origins: Vec<String>,
    /// What a Reconcile reports and what a refusal means.
    pub reconcile: Policy,
    /// Artifacts from Pullpiri's RocksDB service instead of `ApplyArtifacts` (Pullpiri mode).
    pub artifacts: Option<Source>,
    /// Where to serve Timpani's FaultService (Pullpiri mode).
    pub fault_listen: Option<std::net::SocketAddr>,
    /// Where to forward Timpani's faults.
    pub policy_manager: Option<String>,
    /// Pullpiri mode's answer to an OffloadModel still running at its deadline: taken,
    /// rather than refused (`docs/pullpiri.md`).
    pub pullpiri: bool,
}

impl Config {
    /// Pullpiri's StateManager port, where its components already look for it.
    pub const DEFAULT_LISTEN: &str = "0.0.0.0:47006";
    /// Pullpiri's ActionController port, on the same host as the StateManager by default.
    pub const DEFAULT_ACTION_CONTROLLER: &str = crate::pullpiri::DEFAULT_ACTION_CONTROLLER;
    /// The embedded store's directory, relative to where the daemon starts.
    pub const DEFAULT_DATA_DIR: &str = "statemanager-data";
    /// One store call: well under the request deadline, so a request can retry a few times.
    pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(2);
    /// The leader's lease ([`crate::waits::DEFAULT_LEASE_TTL`]).
    pub const DEFAULT_LEASE_TTL: Duration = crate::waits::DEFAULT_LEASE_TTL;
    /// gRPC's usual 4 MiB limit: a full list of 10,000 containers fits with room to spare.
    pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
}

impl Default for Config {
    fn default() -> Self {
        Config {
            store: StoreConfig::Embedded {
                data_dir: PathBuf::from(Self::DEFAULT_DATA_DIR),
            },
            action_controller: Self::DEFAULT_ACTION_CONTROLLER.into(),
            engine: EngineConfig::default(),
            store_timeout: Self::DEFAULT_STORE_TIMEOUT,
            limits: Limits::default(),
            max_message_bytes: Self::DEFAULT_MAX_MESSAGE_BYTES,
            backoff: Backoff::default(),
            reflection: true,
            tls: TlsConfig::default(),
            metrics_listen: None,
            advertise_url: None,
            lease_ttl: Self::DEFAULT_LEASE_TTL,
            allowed_origins: Vec::new(),
            reconcile: Policy::default(),
            artifacts: None,
            fault_listen: None,
            policy_manager: None,
            pullpiri: false,
        }
    }
}

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The ActionController URL is invalid.
    #[error("action controller URL: {0}")]
    ActionController(tonic::transport::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The metrics address cannot be bound.
    #[error("metrics address: {0}")]
    Metrics(std::io::Error),
    /// Reflection descriptors are broken.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// A Pullpiri peer's URL is invalid.
    #[error("{what}: {error}")]
    Peer {
        what: &'static str,
        error: tonic::transport::Error,
    },
}

/// The URL to publish when leading: the configured one, or one built from the listen address
/// (loopback for an unspecified address: enough for daemons on one host, and said in the log).
fn advertise_url(cfg: &Config, listener: &TcpListener) -> String {
    if let Some(url) = &cfg.advertise_url {
        return url.clone();
    }
    let local = listener
        .local_addr()
        .unwrap_or_else(|_| std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    // With TLS on the listener, other daemons must dial it with TLS too.
    let scheme = if cfg.tls.server().is_some() {
        "https"
    } else {
        "http"
    };
    let url = if local.ip().is_unspecified() {
        format!("{scheme}://127.0.0.1:{}", local.port())
    } else {
        format!("{scheme}://{local}")
    };
    tracing::info!(url = %url, "no --advertise-url given; other daemons on this host reach this one at this URL");
    url
}

/// Opens the configured store.
pub async fn open_store(cfg: &Config) -> Result<AnyStore, StoreError> {
    Ok(match &cfg.store {
        StoreConfig::Etcd { endpoints, access } => AnyStore::Etcd(Box::new(
            EtcdStore::connect_with(endpoints, cfg.store_timeout, access).await?,
        )),
        StoreConfig::Embedded { data_dir } => AnyStore::Embedded(EmbeddedStore::open(data_dir)?),
    })
}

/// Serves on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let store = Arc::new(open_store(&cfg).await?);
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status(SERVICE_NAME, ServingStatus::NotServing)
        .await;
    health
        .set_service_status("", ServingStatus::NotServing)
        .await;
    let mut action_controller = Endpoint::from_shared(cfg.action_controller.clone())
        .map_err(ServeError::ActionController)?
        .connect_timeout(cfg.backoff.call_timeout)
        .timeout(cfg.backoff.call_timeout);
    if let Some(tls) = cfg.tls.to_action_controller() {
        action_controller = action_controller
            .tls_config(tls)
            .map_err(ServeError::ActionController)?;
    }
    let action_controller = action_controller.connect_lazy();
    let metrics = Metrics::new();
    let reconcile = Reconciler::start_with(
        action_controller.clone(),
        cfg.backoff,
        cfg.reconcile,
        metrics.clone(),
    );
    let leadership = match store.as_ref() {
        AnyStore::Etcd(etcd) => Leadership::elect(
            etcd.as_ref().clone(),
            advertise_url(&cfg, &listener),
            cfg.lease_ttl,
        ),
        AnyStore::Embedded(_) => Leadership::alone(),
    };
    let resign = leadership.resign.clone();
    let (handle, engine, commands) = Engine::new(
        store.clone(),
        reconcile,
        leadership.role.clone(),
        health,
        cfg.engine.clone(),
    );
    let engine = engine
        .with_metrics(metrics.clone())
        .with_probe(Probe::within_lease(cfg.lease_ttl));
    let roles = leadership.role.clone();
    let engine_task = tokio::spawn(engine.run(commands));
    let wait = crate::waits::handler_wait(cfg.engine.store_deadline);
    // The tasks beside the gRPC server (artifact poll, fault service, probes) each hold an
    // engine handle; they stop when this is dropped, so the engine can end.
    let (side_stop, side_stopped) = tokio::sync::watch::channel(());
    let stopped = move || {
        let mut rx = side_stopped.clone();
        async move {
            let _ = rx.changed().await;
        }
    };
    if let Some(source) = cfg.artifacts.clone() {
        crate::pullpiri::rocksdb::start(
            source,
            store.clone(),
            handle.clone(),
            roles,
            metrics.clone(),
            wait,
            stopped(),
        )
        .map_err(|error| ServeError::Peer {
            what: "--artifacts-from",
            error,
        })?;
    }
    if let Some(addr) = cfg.fault_listen {
        let faults = Faults::new(
            handle.clone(),
            cfg.policy_manager.as_deref(),
            metrics.clone(),
            wait,
        )
        .map_err(|error| ServeError::Peer {
            what: "--policy-manager",
            error,
        })?;
        let stopped = stopped();
        tokio::spawn(async move {
            if let Err(e) = faults.serve(addr, stopped).await {
                tracing::error!(address = %addr, error = %e, "Timpani's FaultService stopped");
            }
        });
    }
    // Only with a metrics address: a handle kept here would keep the engine from ending.
    let handle_for_probes = cfg.metrics_listen.map(|_| handle.clone());
    let handle_for_http = handle.clone();
    let hub = Hub::start(store.clone());
    let service = Service::new(
        handle,
        cfg.limits,
        cfg.engine.store_deadline,
        action_controller,
        leadership,
        &cfg.tls,
        Backing {
            store: store.clone(),
            metrics: metrics.clone(),
            hub: hub.clone(),
            artifacts_from: cfg.artifacts.as_ref().map(|s| s.url.clone()),
            pullpiri: cfg.pullpiri,
        },
    );
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    tracing::info!(
        address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        store = ?cfg.store,
        action_controller = %cfg.action_controller,
        strict_sources = cfg.engine.strict_sources,
        "state-server listening"
    );
    let http = http_api::router(HttpApi {
        store,
        hub,
        engine: handle_for_http,
        service: service.clone(),
        metrics: metrics.clone(),
        origins: cfg.allowed_origins.clone(),
    });
    // HTTP/1.1 too, for browsers' server-sent events on the HTTP API.
    let mut server = Server::builder().accept_http1(true);
    if let Some(tls) = cfg.tls.server() {
        server = server.tls_config(tls)?;
    }
    if let (Some(addr), Some(handle)) = (cfg.metrics_listen, handle_for_probes) {
        let probes = TcpListener::bind(addr).await.map_err(ServeError::Metrics)?;
        tracing::info!(address = %addr, "metrics and probes on /metrics, /healthz, /readyz");
        let metrics = metrics.clone();
        let stopped = stopped();
        tokio::spawn(async move {
            if let Err(e) = crate::probes::serve(probes, metrics, handle, stopped).await {
                tracing::warn!(error = %e, "the metrics endpoint stopped");
            }
        });
    }
    let mut server = server
        .layer(RpcMetrics(metrics.clone()))
        // A peer that vanished without closing its connection is noticed and dropped.
        .http2_keepalive_interval(Some(KEEPALIVE))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        // Bounded work per connection. A NodeAgent has one call in flight; 1,000 of them on
        // their own connections stay far inside these. Unary calls bound themselves (each
        // waits for the engine or the leader at most the store deadline), so no server-wide
        // timeout cuts a long-lived stream such as a health watch.
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        .concurrency_limit_per_connection(MAX_STREAMS_PER_CONNECTION as usize);
    // Paths no service claims answer as gRPC's UNIMPLEMENTED, as they did before the HTTP
    // routes shared the port.
    let http = http.fallback(|| async {
        let (parts, ()) = tonic::Status::unimplemented("")
            .into_http::<()>()
            .into_parts();
        axum::response::Response::from_parts(parts, axum::body::Body::empty())
    });
    let mut routes = Routes::from(http).add_service(health_service);
    if cfg.reflection {
        routes = routes.add_service(reflection).add_service(reflection_alpha);
    }
    let routes = routes.add_service(
        StateManagerConnectionServer::new(service).max_decoding_message_size(cfg.max_message_bytes),
    );
    // Every deadline of the stop counts from its signal (`waits::Stopping`).
    let (signalled, stopping) = tokio::sync::oneshot::channel();
    let shutdown = async move {
        shutdown.await;
        let _ = signalled.send(Stopping::now());
    };
    let serving = server
        .add_routes(routes)
        // Without TCP_NODELAY, small answers wait for delayed ACKs (about 40 ms each).
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        );
    tokio::pin!(serving);
    let (result, stopping) = tokio::select! {
        r = &mut serving => (r, Stopping::now()),
        Ok(stopping) = stopping => {
            let r = match tokio::time::timeout_at(stopping.drain_until(), &mut serving).await {
                Ok(r) => r,
                Err(_) => {
                    // Unanswered, so never acknowledged: their callers send them again.
                    tracing::warn!("calls still in flight at the end of the drain; stopping without them");
                    Ok(())
                }
            };
            (r, stopping)
        }
    };
    drop(side_stop);
    // The service (and with it every engine handle) is gone: the engine ends once idle.
    // Commands it has not finished by then were never answered, so nothing acknowledged is
    // lost by not waiting for them.
    let _ = tokio::time::timeout_at(stopping.engine_until(), engine_task).await;
    // Only now that nothing more is written: the next daemon may lead at once.
    let _ = tokio::time::timeout_at(stopping.exit_by(), resign.now()).await;
    tracing::info!("state-server stopped");
    Ok(result?)
}

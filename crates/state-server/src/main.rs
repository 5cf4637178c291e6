//! `state-server`: the Pullpiri StateManager daemon.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context;
use clap::Parser;
use state_core::container::Limits;
use state_server::{
    engine::EngineConfig,
    pullpiri::{self, Asked, rocksdb::Source},
    reconcile::Backoff,
    server::{Config, StoreConfig, serve},
    store::etcd::EtcdAccess,
    tls::{Pem, TlsConfig},
};
use tracing_subscriber::EnvFilter;

/// The Pullpiri StateManager: derives model and package states from NodeAgent container lists,
/// stores them in etcd (or an embedded database), and tracks scenario lifecycles.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address to serve gRPC on.
    #[arg(long, env = "STATE_SERVER_LISTEN", default_value = Config::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// etcd client URLs, comma-separated; without them the embedded store is used.
    #[arg(long, env = "STATE_SERVER_ETCD_ENDPOINTS", value_delimiter = ',')]
    etcd_endpoints: Vec<String>,
    /// Directory of the embedded store (used when no etcd endpoints are given).
    #[arg(
        long,
        env = "STATE_SERVER_DATA_DIR",
        default_value = Config::DEFAULT_DATA_DIR
    )]
    data_dir: PathBuf,
    /// ActionController URL, for Reconcile and OffloadModel calls [default: in Pullpiri mode
    /// http://{host.ip}:47001 from Pullpiri's settings, else http://127.0.0.1:47001].
    #[arg(long, env = "STATE_SERVER_ACTION_CONTROLLER")]
    action_controller: Option<String>,
    /// Deadline of one ActionController call, in milliseconds [default: 30000 in Pullpiri
    /// mode, where it relaunches workloads before answering; else 2000].
    #[arg(long, env = "STATE_SERVER_ACTION_CONTROLLER_TIMEOUT_MS")]
    action_controller_timeout_ms: Option<u64>,
    /// Pullpiri mode (docs/pullpiri.md): work with Pullpiri's components as they run today.
    /// On by default when Pullpiri's settings file is found; --pullpiri=false turns it off.
    #[arg(
        long,
        env = "STATE_SERVER_PULLPIRI",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pullpiri: Option<bool>,
    /// Pullpiri's settings file [default: /etc/pullpiri/settings.yaml when it exists].
    #[arg(long, env = "STATE_SERVER_PULLPIRI_SETTINGS")]
    pullpiri_settings: Option<PathBuf>,
    /// In Pullpiri mode, refuse a completion whose earlier lifecycle steps nobody sent,
    /// naming them, instead of taking them on the callers' behalf.
    #[arg(long, env = "STATE_SERVER_STRICT_LIFECYCLE")]
    strict_lifecycle: bool,
    /// Read artifacts from Pullpiri's RocksDB service at this URL, the only artifact source
    /// then [default in Pullpiri mode: $ROCKSDB_SERVICE_URL, else http://localhost:47007].
    #[arg(long, env = "STATE_SERVER_ARTIFACTS_FROM")]
    artifacts_from: Option<String>,
    /// Serve Timpani's FaultService here, or `off` [default in Pullpiri mode:
    /// 127.0.0.1:50053].
    #[arg(long, env = "STATE_SERVER_FAULT_LISTEN")]
    fault_listen: Option<String>,
    /// Forward Timpani's faults to the PolicyManager's ReportFault at this URL
    /// (e.g. http://10.0.0.1:47005).
    #[arg(long, env = "STATE_SERVER_POLICY_MANAGER")]
    policy_manager: Option<String>,
    /// Refuse scenario transitions from components that do not own them.
    #[arg(long, env = "STATE_SERVER_STRICT_SOURCES")]
    strict_sources: bool,
    /// PEM CA of etcd's certificate (`https://` endpoints).
    #[arg(long, env = "STATE_SERVER_ETCD_CA")]
    etcd_ca: Option<PathBuf>,
    /// PEM client certificate for etcd (its --client-cert-auth); with --etcd-key.
    #[arg(long, env = "STATE_SERVER_ETCD_CERT", requires = "etcd_key")]
    etcd_cert: Option<PathBuf>,
    /// PEM private key of --etcd-cert.
    #[arg(long, env = "STATE_SERVER_ETCD_KEY", requires = "etcd_cert")]
    etcd_key: Option<PathBuf>,
    /// etcd user (etcd's authentication); the password comes from
    /// STATE_SERVER_ETCD_PASSWORD or --etcd-password-file, never from the command line.
    #[arg(long, env = "STATE_SERVER_ETCD_USER")]
    etcd_user: Option<String>,
    /// File holding the etcd user's password (its first line).
    #[arg(long, env = "STATE_SERVER_ETCD_PASSWORD_FILE", requires = "etcd_user")]
    etcd_password_file: Option<PathBuf>,
    /// PEM certificate for the gRPC listener (TLS); with --tls-key.
    #[arg(long, env = "STATE_SERVER_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "STATE_SERVER_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// PEM CA that client certificates must chain to: turns on mTLS, and callers are
    /// identified by their certificate (see README, "Security").
    #[arg(long, env = "STATE_SERVER_TLS_CLIENT_CA", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Identity of another daemon whose forwarded requests may name the original caller
    /// (repeat, or separate with commas).
    #[arg(long, env = "STATE_SERVER_PEER_IDENTITY", value_delimiter = ',')]
    peer_identity: Vec<String>,
    /// PEM CA of an `https` ActionController.
    #[arg(long, env = "STATE_SERVER_ACTION_CONTROLLER_CA")]
    action_controller_ca: Option<PathBuf>,
    /// Serve Prometheus metrics on /metrics, and /healthz and /readyz, at this address (off by
    /// default; e.g. 127.0.0.1:9464, loopback unless the scraper runs elsewhere).
    #[arg(long, env = "STATE_SERVER_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Do not serve gRPC server reflection (recommended in production: it lists every rpc).
    #[arg(long, env = "STATE_SERVER_NO_REFLECTION")]
    no_reflection: bool,
    /// Log as JSON lines (log level through RUST_LOG, default info).
    #[arg(long, env = "STATE_SERVER_JSON_LOGS")]
    json_logs: bool,
    /// How long a request waits for an unreachable store before it is refused, in milliseconds.
    #[arg(
        long,
        env = "STATE_SERVER_STORE_DEADLINE_MS",
        default_value_t = EngineConfig::DEFAULT_STORE_DEADLINE_MS
    )]
    store_deadline_ms: u64,
    /// Most operations in one store transaction (etcd's --max-txn-ops).
    #[arg(
        long,
        env = "STATE_SERVER_MAX_TXN_OPS",
        default_value_t = EngineConfig::DEFAULT_MAX_TXN_OPS
    )]
    max_txn_ops: usize,
    /// Largest store request in bytes (etcd's --max-request-bytes): larger writes are split.
    #[arg(
        long,
        env = "STATE_SERVER_MAX_REQUEST_BYTES",
        default_value_t = EngineConfig::DEFAULT_MAX_REQUEST_BYTES
    )]
    max_request_bytes: usize,
    /// History records kept per model, package and scenario (the newest; 0: no history).
    #[arg(
        long,
        env = "STATE_SERVER_HISTORY_PER_RESOURCE",
        default_value_t = EngineConfig::DEFAULT_HISTORY_PER_RESOURCE
    )]
    history_per_resource: usize,
    /// Origins (`http://host:port`) whose pages may call the HTTP API from a browser, e.g. the
    /// explorer attached with `cargo xtask web --attach`; comma-separated or repeated.
    #[arg(long, env = "STATE_SERVER_ALLOW_ORIGIN", value_delimiter = ',')]
    allow_origin: Vec<String>,
    /// The URL other daemons on the same etcd reach this one at (it forwards writes to the
    /// leader); default: http://127.0.0.1:{listen port}, which serves daemons on one host.
    #[arg(long, env = "STATE_SERVER_ADVERTISE_URL")]
    advertise_url: Option<String>,
    /// The leader's lease in seconds: a leader that dies is replaced within it plus an
    /// election.
    #[arg(
        long,
        env = "STATE_SERVER_LEASE_TTL",
        default_value_t = Config::DEFAULT_LEASE_TTL.as_secs()
    )]
    lease_ttl: u64,
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if args.json_logs {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let tls = tls_config(&args)?;
    let access = etcd_access(&args)?;
    let store = if args.etcd_endpoints.is_empty() {
        StoreConfig::Embedded {
            data_dir: args.data_dir,
        }
    } else {
        StoreConfig::Etcd {
            endpoints: args.etcd_endpoints,
            access,
        }
    };
    let mode = pullpiri::resolve(
        &Asked {
            pullpiri: args.pullpiri,
            settings: args.pullpiri_settings.clone(),
            action_controller: args.action_controller.clone(),
            action_controller_timeout: args.action_controller_timeout_ms.map(Duration::from_millis),
            artifacts_from: args.artifacts_from.clone(),
            rocksdb_service_url: std::env::var("ROCKSDB_SERVICE_URL")
                .ok()
                .filter(|u| !u.trim().is_empty()),
            fault_listen: args.fault_listen.clone(),
            policy_manager: args.policy_manager.clone(),
            strict_lifecycle: args.strict_lifecycle,
        },
        std::path::Path::new(pullpiri::settings::DEFAULT_PATH),
    )?;
    mode.log();
    let cfg = Config {
        store,
        action_controller: mode.action_controller.url.clone(),
        backoff: Backoff {
            call_timeout: mode.action_controller_timeout,
            ..Backoff::default()
        },
        reconcile: mode.reconcile,
        artifacts: mode
            .artifacts_from
            .as_ref()
            .map(|p| Source::new(p.url.clone())),
        fault_listen: mode.fault_listen.as_ref().map(|(addr, _)| *addr),
        policy_manager: mode.policy_manager.as_ref().map(|p| p.url.clone()),
        pullpiri: mode.on,
        engine: EngineConfig {
            strict_sources: args.strict_sources,
            store_deadline: Duration::from_millis(args.store_deadline_ms),
            max_txn_ops: args.max_txn_ops,
            max_request_bytes: args.max_request_bytes,
            history_per_resource: args.history_per_resource,
            lifecycle: mode.lifecycle,
        },
        // The membership key shares its transaction with other writes: two thirds of a
        // request, as the default 1 MiB is of etcd's default 1.5 MiB.
        limits: Limits {
            max_membership_bytes: args.max_request_bytes / 3 * 2,
            ..Limits::default()
        },
        reflection: !args.no_reflection,
        metrics_listen: args.metrics_listen,
        tls,
        advertise_url: args.advertise_url,
        lease_ttl: Duration::from_secs(args.lease_ttl.max(1)),
        allowed_origins: args.allow_origin,
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(serve(cfg, listener, async {
        let _ = stop_rx.await;
    }));
    tokio::select! {
        r = shutdown_signal() => r?,
        // The server ended by itself: an error at start-up.
        joined = &mut server => {
            joined.context("server task failed")??;
            return Ok(());
        }
    }
    tracing::info!("shutting down: no new requests, finishing those in flight");
    let _ = stop_tx.send(());
    // The server keeps to `waits::SHUTDOWN` itself; this only guards against a stop that hangs.
    let backstop = state_server::waits::SHUTDOWN + Duration::from_millis(500);
    match tokio::time::timeout(backstop, server).await {
        Ok(joined) => joined.context("server task failed")??,
        Err(_) => tracing::warn!("the stop took longer than {backstop:?}; exiting"),
    }
    Ok(())
}

/// How to reach etcd: its CA, a client certificate, a user and password.
fn etcd_access(args: &Args) -> anyhow::Result<EtcdAccess> {
    let read = |path: &PathBuf, what: &str| {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the {what} {}", path.display()))
    };
    let identity = match (&args.etcd_cert, &args.etcd_key) {
        (Some(cert), Some(key)) => Some(Pem {
            cert: read(cert, "etcd client certificate")?,
            key: read(key, "etcd client key")?,
        }),
        _ => None,
    };
    let user = match &args.etcd_user {
        None => None,
        Some(user) => {
            let password = match &args.etcd_password_file {
                Some(file) => read(file, "etcd password file")?
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                None => std::env::var("STATE_SERVER_ETCD_PASSWORD").context(
                    "--etcd-user needs a password: STATE_SERVER_ETCD_PASSWORD or --etcd-password-file",
                )?,
            };
            Some((user.clone(), password))
        }
    };
    Ok(EtcdAccess {
        ca: args
            .etcd_ca
            .as_ref()
            .map(|p| read(p, "etcd CA"))
            .transpose()?,
        identity,
        user,
    })
}

/// Reads the TLS files the flags name; a file that cannot be read stops the start with its name.
fn tls_config(args: &Args) -> anyhow::Result<TlsConfig> {
    let read = |path: &Option<PathBuf>, what: &str| -> anyhow::Result<Option<String>> {
        path.as_ref()
            .map(|p| {
                std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read the {what} {}", p.display()))
            })
            .transpose()
    };
    let identity = match (
        read(&args.tls_cert, "TLS certificate")?,
        read(&args.tls_key, "TLS key")?,
    ) {
        (Some(cert), Some(key)) => Some(Pem { cert, key }),
        _ => None,
    };
    Ok(TlsConfig {
        identity,
        client_ca: read(&args.tls_client_ca, "client CA")?,
        peer_identities: args.peer_identity.clone(),
        action_controller_ca: read(&args.action_controller_ca, "ActionController CA")?,
    })
}

async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

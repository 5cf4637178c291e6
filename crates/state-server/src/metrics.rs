//! What the daemon measures, for Prometheus (`--metrics-listen`): requests by rpc and outcome
//! with their latency, store transactions (outcome, latency, size), group-commit sizes,
//! reloads, reconciles, store reachability, leadership, kept lists, the watched revision, and
//! resources per kind and state (counted when scraped).
//!
//! `prometheus-client` is Prometheus's own Rust client: metrics live in an explicit registry
//! (no process-wide recorder, so daemons in one test process do not mix their numbers) and
//! are written in the OpenMetrics text format Prometheus scrapes.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

/// An rpc and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcOutcome {
    pub rpc: &'static str,
    /// `ok`, or the gRPC code or `ErrorCode` of the refusal (`invalid_argument`,
    /// `precondition_failed`, …).
    pub outcome: String,
}

/// An rpc.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Rpc {
    pub rpc: &'static str,
}

/// How something ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub outcome: &'static str,
}

/// A kind of resource in one state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindState {
    pub kind: &'static str,
    pub state: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latencies from 0.5 ms to about 16 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric of one daemon.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RpcOutcome, Counter>,
    pub request_seconds: Histograms<Rpc>,
    pub transactions: Family<Outcome, Counter>,
    pub transaction_seconds: Histogram,
    pub transaction_writes: Histogram,
    pub group_reports: Histogram,
    pub reloads: Counter,
    pub reconciles: Family<Outcome, Counter>,
    pub reconciles_owed: Gauge,
    /// Timpani's faults, by what became of them.
    pub faults: Family<Outcome, Counter>,
    pub store_up: Gauge,
    /// 1 while the artifact source answers (always 1 without one).
    pub artifacts_up: Gauge,
    /// Why the artifact source does not answer, for `/readyz`'s body.
    pub artifacts_detail: std::sync::Mutex<Option<String>>,
    pub leader: Gauge,
    pub lists_kept: Gauge,
    pub watched_revision: Gauge,
    pub watchers: Gauge,
    pub watch_events: Counter,
    pub resources: Family<KindState, Gauge>,
    /// Loaded and able to serve: what `/readyz` answers.
    pub ready: AtomicBool,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("statemanager");
        let m = Metrics {
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency),
            transactions: Family::default(),
            transaction_seconds: latency(),
            transaction_writes: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            group_reports: Histogram::new(exponential_buckets(1.0, 2.0, 8)),
            reloads: Counter::default(),
            reconciles: Family::default(),
            reconciles_owed: Gauge::default(),
            faults: Family::default(),
            store_up: Gauge::default(),
            artifacts_up: Gauge::default(),
            artifacts_detail: std::sync::Mutex::new(None),
            leader: Gauge::default(),
            lists_kept: Gauge::default(),
            watched_revision: Gauge::default(),
            watchers: Gauge::default(),
            watch_events: Counter::default(),
            resources: Family::default(),
            ready: AtomicBool::new(false),
            registry: Registry::default(),
        };
        registry.register(
            "requests",
            "Requests answered, by rpc and outcome",
            m.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer a request, by rpc",
            m.request_seconds.clone(),
        );
        registry.register(
            "store_transactions",
            "Store transactions, by outcome (applied, conflict, deposed, error)",
            m.transactions.clone(),
        );
        registry.register(
            "store_transaction_duration_seconds",
            "Time of one store transaction",
            m.transaction_seconds.clone(),
        );
        registry.register(
            "store_transaction_writes",
            "Keys written or deleted by one store transaction",
            m.transaction_writes.clone(),
        );
        registry.register(
            "group_commit_reports",
            "Container lists stored together in one transaction",
            m.group_reports.clone(),
        );
        registry.register(
            "reloads",
            "Times the fleet was read again from the store (start, failed or conflicting writes, lost watch history)",
            m.reloads.clone(),
        );
        registry.register(
            "reconciles",
            "Reconcile calls to the ActionController, by outcome (sent, failed)",
            m.reconciles.clone(),
        );
        registry.register(
            "reconciles_owed",
            "Error episodes whose Reconcile is being retried",
            m.reconciles_owed.clone(),
        );
        registry.register(
            "faults",
            "Faults Timpani reported, by outcome (recorded, unmatched, not_recorded, forward_failed)",
            m.faults.clone(),
        );
        registry.register("store_up", "1 while the store answers", m.store_up.clone());
        m.artifacts_up.set(1);
        registry.register(
            "artifacts_up",
            "1 while the artifact source (Pullpiri's RocksDB service) answers; 1 without one",
            m.artifacts_up.clone(),
        );
        registry.register("leader", "1 while this daemon leads", m.leader.clone());
        registry.register(
            "lists_kept",
            "Container lists refused by an outage and kept to store later",
            m.lists_kept.clone(),
        );
        registry.register(
            "watched_revision",
            "The last store revision the watch delivered",
            m.watched_revision.clone(),
        );
        registry.register(
            "watch_streams",
            "WatchStates streams open (gRPC and HTTP)",
            m.watchers.clone(),
        );
        registry.register(
            "watch_events",
            "Events sent on WatchStates streams",
            m.watch_events.clone(),
        );
        registry.register(
            "resources",
            "Resources per kind and state, in this daemon's view",
            m.resources.clone(),
        );
        // Every outcome from the start, so that a dashboard shows 0 rather than no data.
        for outcome in ["sent", "failed"] {
            let _ = m.reconciles.get_or_create(&Outcome { outcome });
        }
        for outcome in ["applied", "conflict", "deposed", "error"] {
            let _ = m.transactions.get_or_create(&Outcome { outcome });
        }
        Arc::new(Metrics { registry, ..m })
    }

    /// Counts one answered request.
    pub fn answered(&self, rpc: &'static str, took: Duration, outcome: impl Into<String>) {
        self.requests
            .get_or_create(&RpcOutcome {
                rpc,
                outcome: outcome.into(),
            })
            .inc();
        self.request_seconds
            .get_or_create(&Rpc { rpc })
            .observe(took.as_secs_f64());
    }

    /// Counts one store transaction.
    pub fn transaction(&self, outcome: &'static str, took: Duration, writes: usize) {
        self.transactions.get_or_create(&Outcome { outcome }).inc();
        self.transaction_seconds.observe(took.as_secs_f64());
        self.transaction_writes.observe(writes as f64);
    }

    /// Sets whether the daemon can serve.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Notes whether the artifact source answers, and why not.
    pub fn set_artifacts(&self, problem: Option<String>) {
        self.artifacts_up.set(i64::from(problem.is_none()));
        if let Ok(mut detail) = self.artifacts_detail.lock() {
            *detail = problem;
        }
    }

    /// Why the artifact source does not answer, if it does not.
    pub fn artifacts_problem(&self) -> Option<String> {
        self.artifacts_detail.lock().ok().and_then(|d| d.clone())
    }

    /// The text Prometheus scrapes.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The outcome label of a gRPC status: its code in snake case (`ok` for none).
pub fn status_outcome(status: Option<&tonic::Status>) -> String {
    match status {
        None => "ok".into(),
        Some(s) => snake(&format!("{:?}", s.code())),
    }
}

/// `PreconditionFailed` -> `precondition_failed`.
pub fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

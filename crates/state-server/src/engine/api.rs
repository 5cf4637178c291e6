//! What handlers see of the engine: its configuration, the commands it takes, their answers,
//! and the handle that sends them.

use std::time::Duration;

use state_artifact::Parsed;
use state_core::{
    change::{ChangeError, ValidChange},
    container::ReportedContainer,
    kind::{Kind, Resource, State},
    name::NodeName,
};
use tokio::sync::{mpsc, oneshot};

use crate::store::StoreError;

/// Tuning of the engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Refuse scenario transitions from a non-owner (`PERMISSION_DENIED`).
    pub strict_sources: bool,
    /// How long a request may wait for an unreachable store before it is refused.
    pub store_deadline: Duration,
    /// Most operations in one store transaction.
    pub max_txn_ops: usize,
    /// Largest store request, in bytes.
    pub max_request_bytes: usize,
    /// History records kept per model, package and scenario; 0 records none.
    pub history_per_resource: usize,
    /// How scenario completions are held to the table (Pullpiri mode fills in the steps
    /// today's Pullpiri never sends).
    pub lifecycle: state_core::lifecycle::Lifecycle,
}

impl EngineConfig {
    /// Long enough to ride out the replacement of a dead leader daemon (its 5 s lease, then an
    /// election of about a second) and an etcd leader election, so calls made in that gap wait
    /// rather than fail; short enough that a NodeAgent is not held for long.
    pub const DEFAULT_STORE_DEADLINE_MS: u64 = 8_000;
    /// etcd's own default `--max-txn-ops`: a larger transaction is refused by etcd.
    pub const DEFAULT_MAX_TXN_OPS: usize = 128;
    /// etcd's own default `--max-request-bytes` (1.5 MiB): a larger request is refused by etcd.
    pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1536 * 1024;
    /// Enough to see how a resource got where it is over a bad hour, small enough that the
    /// records of 10,000 resources stay a few tens of MB in etcd.
    pub const DEFAULT_HISTORY_PER_RESOURCE: usize = 20;
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            strict_sources: false,
            store_deadline: Duration::from_millis(Self::DEFAULT_STORE_DEADLINE_MS),
            max_txn_ops: Self::DEFAULT_MAX_TXN_OPS,
            max_request_bytes: Self::DEFAULT_MAX_REQUEST_BYTES,
            history_per_resource: Self::DEFAULT_HISTORY_PER_RESOURCE,
            lifecycle: state_core::lifecycle::Lifecycle::Table,
        }
    }
}

/// Why the engine could not carry out a request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The store could not be reached before the deadline (or, for queries, the state could
    /// not be read at start-up yet).
    #[error("{0}")]
    Unavailable(StoreError),
    /// Other writers kept changing the same keys.
    #[error("gave up after {0} conflicting writes to the same keys")]
    Contention(u32),
    /// The engine is not running.
    #[error("the state engine is not running")]
    Stopped,
    /// Another daemon leads: writes go there.
    #[error("this daemon is not the leader")]
    NotLeader,
    /// Too many requests are waiting for the engine already: shed rather than queued.
    #[error("{0} requests are already waiting for the state engine; try again shortly")]
    Overloaded(usize),
}

/// Why a state change was not applied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChangeFailure {
    /// The request was refused (bad input, precondition, transition, owner).
    #[error(transparent)]
    Rejected(#[from] ChangeError),
    /// The engine could not carry it out.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// What a stored report changed: counts of store writes, by what they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportSummary {
    /// Container keys written.
    pub containers_written: usize,
    /// Container keys deleted.
    pub containers_deleted: usize,
    /// Models whose state changed.
    pub models_changed: usize,
    /// Packages whose state changed.
    pub packages_changed: usize,
}

/// The outcome of an accepted state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeSummary {
    /// The target was already stored; nothing was written.
    Unchanged {
        /// The stored state.
        state: State,
    },
    /// Stored.
    Changed {
        /// The previous state (`None`: absent).
        from: Option<State>,
        /// The new state.
        to: State,
    },
}

/// One artifact stored by `apply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedArtifact {
    /// `Package`, `Scenario` or `Model`.
    pub kind: &'static str,
    pub name: String,
    /// The key it is stored under.
    pub key: String,
}

/// How many resources are in each state: `(kind, state, count)`.
pub type Census = Vec<(&'static str, &'static str, usize)>;

/// A request to the engine, with the channel its answer goes back on.
#[derive(Debug)]
pub enum Command {
    /// A node's full container list.
    Report {
        /// The reporting node.
        node: NodeName,
        /// Its valid containers.
        containers: Vec<ReportedContainer>,
        /// When the daemon that got it from the NodeAgent received it (Unix nanoseconds): a
        /// list older than one already taken from the same node is superseded.
        received: i64,
        /// Answer channel.
        reply: oneshot::Sender<Result<ReportSummary, EngineError>>,
    },
    /// A `SendStateChange`.
    Change {
        /// The validated change.
        change: ValidChange,
        /// The caller's `source`.
        source: String,
        /// Echoed in the logs.
        transition_id: String,
        /// Answer channel.
        reply: oneshot::Sender<Result<ChangeSummary, ChangeFailure>>,
    },
    /// Store artifacts.
    Apply {
        /// Parsed documents.
        docs: Vec<Parsed>,
        /// Answer channel.
        reply: oneshot::Sender<Result<Vec<AppliedArtifact>, EngineError>>,
    },
    /// Makes the store's artifacts what Pullpiri's RocksDB service holds (Pullpiri mode):
    /// stores `puts`, deletes `deletes`, and takes both into the topology.
    Mirror {
        /// Documents new or changed at the source.
        puts: Vec<Parsed>,
        /// Artifact keys the source no longer holds.
        deletes: Vec<String>,
        /// Answer channel: what was stored.
        reply: oneshot::Sender<Result<Vec<AppliedArtifact>, EngineError>>,
    },
    /// Records in the history of the first of `candidates` the fleet holds something that
    /// happened to it without moving it (a fault Timpani reported); answers which one.
    Note {
        candidates: Vec<Resource>,
        /// What happened, in words.
        why: String,
        /// Who reported it.
        source: String,
        /// Answer channel: the resource noted, `None` when the fleet holds none of them.
        reply: oneshot::Sender<Result<Option<Resource>, EngineError>>,
    },
    /// One resource's stored state (`None`: it has none).
    Get {
        resource: Resource,
        /// Answer channel.
        reply: oneshot::Sender<Result<Option<State>, EngineError>>,
    },
    /// How many resources are in each state: `(kind, state, count)`, for the metrics.
    Census {
        /// Answer channel.
        reply: oneshot::Sender<Result<Census, EngineError>>,
    },
    /// The fleet's shape, for the explorer.
    Shape {
        /// Answer channel.
        reply: oneshot::Sender<Result<super::shape::Shape, EngineError>>,
    },
    /// Every resource of a kind with its stored state, sorted by name.
    List {
        kind: Kind,
        /// Answer channel.
        reply: oneshot::Sender<Result<Vec<(Resource, State)>, EngineError>>,
    },
}

impl Command {
    /// Whether it writes state (only the leader carries those out).
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Command::Report { .. }
                | Command::Change { .. }
                | Command::Apply { .. }
                | Command::Mirror { .. }
                | Command::Note { .. }
        )
    }
}

/// The handlers' side of the engine.
#[derive(Clone, Debug)]
pub struct EngineHandle {
    pub(super) tx: mpsc::Sender<Command>,
}

impl EngineHandle {
    /// Sends a command and waits up to `timeout` for its answer.
    pub async fn call<T>(
        &self,
        timeout: Duration,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, EngineError> {
        let (reply, rx) = oneshot::channel();
        // A full queue sheds the request at once: callers never pile up behind the engine.
        match self.tx.try_send(make(reply)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                return Err(EngineError::Overloaded(self.tx.max_capacity()));
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(EngineError::Stopped),
        }
        let wait = async { rx.await.map_err(|_| EngineError::Stopped) };
        match tokio::time::timeout(timeout, wait).await {
            Ok(r) => r,
            Err(_) => Err(EngineError::Unavailable(StoreError::Timeout(timeout))),
        }
    }
}

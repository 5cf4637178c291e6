//! The one place that owns state. Handlers send it typed commands over a channel and await the
//! reply; it plans with state-core, stores each plan in compare-and-swap transactions, and only
//! then applies the plan to its in-memory fleet and answers.
//!
//! Because one task owns the fleet, no lock is held across store calls, and requests are
//! decided in the order they arrive.
//!
//! Files: `api` (what handlers see), here the task and its command loop, `start` (loading and
//! replaying the store), `state` (state changes; queries are answered in `handle`), `execute` (plan, store, apply,
//! and the effects that follow), `write` (a plan's compare-and-swap transactions), `batch`
//! (group commit of queued reports), `artifacts` (topology), `watched` (what other writers
//! stored).

mod api;
mod artifacts;
mod batch;
mod episodes;
mod execute;
mod notes;
pub mod shape;
mod start;
mod state;
mod watched;
mod write;

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
    time::Duration,
};

pub use api::{
    AppliedArtifact, ChangeFailure, ChangeSummary, Command, EngineConfig, EngineError,
    EngineHandle, ReportSummary,
};
use state_core::{
    episode::Episode,
    fleet::{Event, Fleet},
    history::HistoryLog,
    name::PackageName,
};
use tokio::sync::{mpsc, watch};
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{
    leader::{Fence, Role},
    metrics::Metrics,
    reconcile::{Delivered, Reconciler},
    store::{Store, StoreError, WatchEvent, probe},
    waits::Probe,
};

/// Commands waiting for the engine. A full queue makes handlers wait (backpressure) rather
/// than grow memory; 1,024 is well above what group commit drains in one round
/// ([`batch::MAX_BATCH`]).
const COMMAND_QUEUE: usize = 1024;
/// Watch events waiting for the engine. Applying a large artifact file produces a burst of
/// puts; a full queue makes the watch wait, never drops an event.
const WATCH_QUEUE: usize = 4096;
/// Pause between load attempts while the store is unreachable.
const START_RETRY: Duration = Duration::from_millis(500);
/// How often the engine checks the store's health and retries a failed load.
const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// How long a starting engine waits for the election's first verdict before it loads the
/// fleet as a follower.
const FIRST_VERDICT: Duration = Duration::from_secs(1);

/// Who asked for a change, for the logs.
#[derive(Clone, Copy, Debug)]
struct Origin<'a> {
    source: &'a str,
    transition_id: &'a str,
}

/// What to do when a transaction hits a changed key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OnConflict {
    /// Re-read the keys and plan again.
    Replan,
    /// Re-read the keys and give the decision back to the caller.
    Return,
}

/// The service name health is reported for.
pub const SERVICE_NAME: &str = "statemanager.StateManagerConnection";

/// The state engine.
pub struct Engine<S: Store> {
    store: Arc<S>,
    fleet: Fleet,
    /// Last known mod revision of every state and artifact key we know of: one entry per
    /// stored key, so its keys are boxed (no spare capacity) and hashed with foldhash.
    revisions: hashbrown::HashMap<Box<str>, i64>,
    cfg: EngineConfig,
    reconciler: Reconciler,
    health: HealthReporter,
    healthy: Option<bool>,
    /// How the store's reachability is checked, and the checks' verdict (`true`: answering).
    probe: Probe,
    reachable: watch::Receiver<bool>,
    /// Revisions of this engine's own commits that the watch has not echoed yet.
    own: BTreeSet<i64>,
    /// A write failed, conflicted or may have half-applied: etcd must be read again and
    /// repaired before the next request is answered (see ARCHITECTURE.md, "No half-written
    /// plans").
    dirty: bool,
    /// The fleet is being loaded: a failed write fails the load rather than starting another.
    loading: bool,
    /// This engine's role: the leader writes state and sends Reconciles.
    role: Role,
    /// Role changes from the election.
    roles: watch::Receiver<Role>,
    /// When loading last failed, and why.
    last_failure: Option<(tokio::time::Instant, StoreError)>,
    /// Per node, when the newest list taken from it was received.
    newest: HashMap<state_core::name::NodeName, i64>,
    /// What the engine measures.
    metrics: Arc<Metrics>,
    /// Changes seen in the store; replaced at every load.
    watch: mpsc::Receiver<WatchEvent>,
    /// Reconciles the ActionController answered, to record.
    delivered: mpsc::Receiver<Delivered>,
    /// Deliveries whose record could not be stored yet.
    marks: Vec<Delivered>,
    /// Episodes read as owed by the last load: `(package, record, revision)`.
    owed: Vec<(PackageName, Episode, i64)>,
    /// The history records stored per resource (`docs/contract.md#history`).
    history: HistoryLog,
}

impl<S: Store> std::fmt::Debug for Engine<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.store.name())
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl<S: Store> Engine<S> {
    /// Creates the engine and its handle; start it with [`Engine::run`].
    pub fn new(
        store: Arc<S>,
        (reconciler, delivered): (Reconciler, mpsc::Receiver<Delivered>),
        roles: watch::Receiver<Role>,
        health: HealthReporter,
        cfg: EngineConfig,
    ) -> (EngineHandle, Self, mpsc::Receiver<Command>) {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let history = HistoryLog::new(cfg.history_per_resource);
        let engine = Engine {
            store,
            fleet: Fleet::new(),
            revisions: hashbrown::HashMap::new(),
            cfg,
            reconciler,
            health,
            healthy: None,
            probe: Probe::default(),
            // Replaced by the running checks in `run`.
            reachable: watch::channel(true).1,
            own: BTreeSet::new(),
            dirty: true,
            role: Role::Follower,
            roles,
            loading: false,
            last_failure: None,
            watch: mpsc::channel(1).1,
            metrics: Metrics::new(),
            newest: HashMap::new(),
            delivered,
            marks: Vec::new(),
            owed: Vec::new(),
            history,
        };
        (EngineHandle { tx }, engine, rx)
    }

    /// Counts into `metrics` (the daemon's) rather than a private set.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Checks the store as `probe` says (the daemon's lease) rather than by the default lease.
    pub fn with_probe(mut self, probe: Probe) -> Self {
        self.probe = probe;
        self
    }

    /// Whether this engine writes state: the leader (a single daemon always is).
    fn leading(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    /// The fence every write of this leader carries.
    fn fence(&self) -> Option<Fence> {
        match &self.role {
            Role::Leader(fence) => fence.clone(),
            Role::Follower => None,
        }
    }

    /// Takes a new role. A new leader loads the fleet again (repairing etcd and sending owed
    /// Reconciles); a follower stops sending Reconciles and leaves writes to the leader.
    async fn take_role(&mut self, role: Role) {
        if role == self.role {
            return;
        }
        if role == Role::Follower {
            return self.step_down();
        }
        self.role = role;
        self.metrics.leader.set(1);
        tracing::info!("leading: loading the fleet and writing what it calls for");
        self.dirty = true;
        self.last_failure = None;
        let _ = self.ready().await;
    }

    /// The role to load the fleet in first. A daemon that meets no leader is elected within
    /// milliseconds; waiting for that verdict loads a big fleet once instead of twice (as a
    /// follower, then again as the new leader). The election says at once when another daemon
    /// leads; if it says nothing (etcd unreachable), the engine starts as a follower.
    async fn first_role(&mut self) -> Role {
        let role = self.roles.borrow_and_update().clone();
        if role == Role::Follower {
            let _ = tokio::time::timeout(FIRST_VERDICT, self.roles.changed()).await;
        }
        self.roles.borrow_and_update().clone()
    }

    /// Stops leading (the election says so, or a fenced write failed).
    fn step_down(&mut self) {
        if !self.leading() {
            return;
        }
        self.role = Role::Follower;
        self.metrics.leader.set(0);
        tracing::warn!("no longer leading: writes go to the new leader");
        self.reconciler.send(crate::reconcile::Message::Forget);
        self.marks.clear();
    }

    async fn set_healthy(&mut self, healthy: bool) {
        self.metrics.store_up.set(i64::from(healthy));
        self.metrics.set_ready(healthy && !self.dirty);
        if self.healthy == Some(healthy) {
            return;
        }
        self.healthy = Some(healthy);
        let status = if healthy {
            tracing::info!(store = self.store.name(), "store reachable; serving");
            ServingStatus::Serving
        } else {
            tracing::warn!(store = self.store.name(), "store unreachable; not serving");
            ServingStatus::NotServing
        };
        self.health.set_service_status(SERVICE_NAME, status).await;
        self.health.set_service_status("", status).await;
    }

    /// Loads state and topology, then serves commands until every handle is dropped. Until
    /// the fleet is loaded (and whenever a write failed or conflicted, until it is loaded
    /// again), commands are refused rather than answered from a fleet etcd may disagree with.
    pub async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        self.reachable = probe::start(self.store.clone(), self.probe);
        let role = self.first_role().await;
        self.take_role(role).await;
        let mut tick = tokio::time::interval(HOUSEKEEPING);
        loop {
            tokio::select! {
                c = commands.recv() => match c {
                    Some(c) => {
                        if let Err(e) = self.ready_for_request().await {
                            start::refuse(c, EngineError::Unavailable(e));
                            continue;
                        }
                        if !self.leading() && c.writes() {
                            start::refuse(c, EngineError::NotLeader);
                            continue;
                        }
                        self.command(c, &mut commands).await;
                    }
                    None => return,
                },
                Some(event) = self.watch.recv() => self.watched(event).await,
                Some(d) = self.delivered.recv() => self.delivered(d).await,
                Ok(()) = self.reachable.changed() => self.reachability_changed().await,
                Ok(()) = self.roles.changed() => {
                    let role = self.roles.borrow_and_update().clone();
                    self.take_role(role).await;
                }
                _ = tick.tick() => self.housekeeping().await,
            }
        }
    }

    async fn command(&mut self, c: Command, commands: &mut mpsc::Receiver<Command>) {
        if !matches!(c, Command::Report { .. }) {
            return self.handle(c).await;
        }
        // Reports waiting behind this one are stored together.
        let mut reports = Vec::new();
        reports.extend(self.unless_superseded(c));
        let mut next = None;
        while reports.len() < batch::MAX_BATCH {
            match commands.try_recv() {
                Ok(c @ Command::Report { .. }) => reports.extend(self.unless_superseded(c)),
                Ok(other) => {
                    next = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        if !reports.is_empty() {
            self.reports(reports).await;
        }
        if let Some(c) = next {
            if let Err(e) = self.ready_for_request().await {
                return start::refuse(c, EngineError::Unavailable(e));
            }
            if !self.leading() && c.writes() {
                return start::refuse(c, EngineError::NotLeader);
            }
            self.handle(c).await;
        }
    }

    /// Answers a node's list that is older than one already taken from that node (a list kept
    /// through an outage, delivered after a newer one that went through another daemon): it
    /// changes nothing. Otherwise hands it back.
    fn unless_superseded(&mut self, c: Command) -> Option<Command> {
        let Command::Report {
            node,
            received,
            reply,
            ..
        } = &c
        else {
            return Some(c);
        };
        match self.newest.get(node) {
            Some(newest) if *newest > *received => {
                tracing::info!(node = %node, "an older list of the node arrived after a newer one; ignored");
                if let Command::Report { reply, .. } = c {
                    let _ = reply.send(Ok(ReportSummary::default()));
                }
                None
            }
            _ => {
                let _ = reply;
                self.newest.insert(node.clone(), *received);
                Some(c)
            }
        }
    }

    /// Makes sure the fleet agrees with etcd: loads it (again) if it was never loaded or a
    /// write since may have left etcd elsewhere. One attempt; see
    /// [`Engine::ready_for_request`].
    async fn ready(&mut self) -> Result<(), StoreError> {
        self.ready_until(None).await
    }

    /// As [`Engine::ready`], for a request: attempts go on until the store deadline, so a
    /// request made while etcd elects a leader waits rather than fails.
    async fn ready_for_request(&mut self) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + self.cfg.store_deadline;
        self.ready_until(Some(deadline)).await
    }

    async fn ready_until(
        &mut self,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<(), StoreError> {
        if !self.dirty {
            return Ok(());
        }
        // A request that just waited a whole deadline in vain: the ones queued behind it are
        // answered at once rather than each waiting again.
        if let Some((at, e)) = &self.last_failure
            && tokio::time::Instant::now() < *at + START_RETRY
        {
            return Err(e.clone());
        }
        let mut delay = Duration::from_millis(50);
        loop {
            match self.resync().await {
                Ok(()) => {
                    self.last_failure = None;
                    self.set_healthy(true).await;
                    return Ok(());
                }
                Err(e) => {
                    let now = tokio::time::Instant::now();
                    if deadline.is_none_or(|d| now + delay > d) {
                        self.set_healthy(false).await;
                        tracing::warn!(error = %e, "cannot load state from the store; retrying");
                        self.last_failure = Some((now, e.clone()));
                        return Err(e);
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    async fn housekeeping(&mut self) {
        if !self.marks.is_empty() && !self.dirty {
            self.retry_marks().await;
        }
        if self.dirty {
            let _ = self.ready().await;
        } else if self.healthy == Some(false) && *self.reachable.borrow() {
            // A write failed, but the store answers the checks.
            self.set_healthy(true).await;
        }
    }

    /// The store's checks changed their verdict: health follows at once, whether or not any
    /// request is coming in (`docs/contract.md#outages`).
    async fn reachability_changed(&mut self) {
        let up = *self.reachable.borrow_and_update();
        if !up {
            self.set_healthy(false).await;
        } else if self.dirty {
            let _ = self.ready().await;
        } else {
            self.set_healthy(true).await;
        }
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Report {
                node,
                containers,
                reply,
                ..
            } => {
                let source = format!("NodeAgent/{node}");
                let event = Event::NodeReport { node, containers };
                self.one_by_one(std::iter::once((event, source, reply)))
                    .await;
            }
            Command::Change {
                change,
                source,
                transition_id,
                reply,
            } => {
                if reply.is_closed() {
                    return;
                }
                let origin = Origin {
                    source: &source,
                    transition_id: &transition_id,
                };
                let result = self.change(&change, origin).await;
                let _ = reply.send(result);
            }
            Command::Apply { docs, reply } => {
                let result = self.apply(docs).await;
                let _ = reply.send(result);
            }
            Command::Mirror {
                puts,
                deletes,
                reply,
            } => {
                let result = self.mirror(puts, deletes).await;
                let _ = reply.send(result);
            }
            Command::Note {
                candidates,
                why,
                source,
                reply,
            } => {
                let result = self.note(&candidates, &why, &source).await;
                let _ = reply.send(result);
            }
            Command::Get { resource, reply } => {
                let _ = reply.send(Ok(self.fleet.state(&resource)));
            }
            Command::List { kind, reply } => {
                let _ = reply.send(Ok(self.fleet.states(kind)));
            }
            Command::Census { reply } => {
                let _ = reply.send(Ok(self.fleet.census()));
            }
            Command::Shape { reply } => {
                let _ = reply.send(Ok(shape::of(&self.fleet)));
            }
        }
    }
}

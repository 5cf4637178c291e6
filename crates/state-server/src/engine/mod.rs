//! The one place that owns state. Handlers send it typed commands over a channel and await the
//! reply; it plans with state-core, stores each plan in compare-and-swap transactions, and only
//! then applies the plan to its in-memory fleet and answers.
//!
//! Because one task owns the fleet, no lock is held across store calls, and requests are
//! decided in the order they arrive.

mod artifacts;
mod batch;
mod write;

use std::{collections::HashMap, sync::Arc, time::Duration};

use state_artifact::Parsed;
use state_core::{
    ModelState, PackageState, ResourceType, ScenarioState,
    change::{ChangeError, Outcome, ValidChange, decide_direct, decide_scenario},
    container::ReportedContainer,
    fleet::{Event, Fleet, Plan},
    key::{CONTAINER_PREFIX, MODEL_PREFIX, PACKAGE_PREFIX, SCENARIO_PREFIX, StateKey},
    members::{self, NODE_PREFIX, parse_node_key},
    name::NodeName,
};
use tokio::sync::{mpsc, oneshot};
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{
    reconcile::{Message, Reconciler},
    store::{Store, StoreError, WatchEvent},
};

/// Tuning of the engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Refuse scenario transitions from a non-owner (`PERMISSION_DENIED`).
    pub strict_sources: bool,
    /// How long a request may wait for an unreachable store before it is refused.
    pub store_deadline: Duration,
    /// Most operations in one store transaction (etcd's `--max-txn-ops`, 128 by default).
    pub max_txn_ops: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            strict_sources: false,
            store_deadline: Duration::from_secs(5),
            max_txn_ops: 128,
        }
    }
}

/// Why the engine could not carry out a request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The store could not be reached before the deadline.
    #[error("{0}")]
    Unavailable(StoreError),
    /// Other writers kept changing the same keys.
    #[error("gave up after {0} conflicting writes to the same keys")]
    Contention(u32),
    /// The engine is not running.
    #[error("the state engine is not running")]
    Stopped,
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

/// What a stored report changed.
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
    /// The target was already stored.
    Unchanged {
        /// The stored value.
        state: &'static str,
    },
    /// Stored.
    Changed {
        /// The previous stored value (`None`: absent).
        from: Option<&'static str>,
        /// The new stored value.
        to: &'static str,
    },
}

/// One artifact stored by `apply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedArtifact {
    /// `Package`, `Scenario` or `Model`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// The key it is stored under.
    pub key: String,
}

/// A request to the engine.
#[derive(Debug)]
pub enum Command {
    /// A node's full container list.
    Report {
        /// The node.
        node: NodeName,
        /// Its valid containers.
        containers: Vec<ReportedContainer>,
        /// Where to answer.
        reply: oneshot::Sender<Result<ReportSummary, EngineError>>,
    },
    /// A `SendStateChange`.
    Change {
        /// The validated change.
        change: ValidChange,
        /// Who sent it.
        source: String,
        /// For the logs.
        transition_id: String,
        /// Where to answer.
        reply: oneshot::Sender<Result<ChangeSummary, ChangeFailure>>,
    },
    /// Store artifacts.
    Apply {
        /// Parsed documents.
        docs: Vec<Parsed>,
        /// Where to answer.
        reply: oneshot::Sender<Result<Vec<AppliedArtifact>, EngineError>>,
    },
    /// One resource's stored state.
    Get {
        /// Its kind.
        kind: ResourceType,
        /// Its name.
        name: String,
        /// Where to answer.
        reply: oneshot::Sender<Option<&'static str>>,
    },
    /// Resources of a kind with their stored states, by name.
    List {
        /// The kind.
        kind: ResourceType,
        /// Where to answer.
        reply: oneshot::Sender<Vec<(String, &'static str)>>,
    },
}

/// The handlers' side of the engine.
#[derive(Clone, Debug)]
pub struct EngineHandle {
    tx: mpsc::Sender<Command>,
}

impl EngineHandle {
    /// Sends a command and waits up to `timeout` for its answer.
    pub async fn call<T>(
        &self,
        timeout: Duration,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, EngineError> {
        let (reply, rx) = oneshot::channel();
        let send = self.tx.send(make(reply));
        let wait = async {
            send.await.map_err(|_| EngineError::Stopped)?;
            rx.await.map_err(|_| EngineError::Stopped)
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(r) => r,
            Err(_) => Err(EngineError::Unavailable(StoreError::Timeout(timeout))),
        }
    }
}

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
    /// Last known mod revision of every state and artifact key we know of.
    revisions: HashMap<String, i64>,
    cfg: EngineConfig,
    reconciler: Reconciler,
    health: HealthReporter,
    healthy: Option<bool>,
    /// Topology events that could not be stored yet.
    deferred: Vec<Event>,
}

impl<S: Store> std::fmt::Debug for Engine<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.store.name())
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

const STATE_PREFIXES: [&str; 4] = [
    CONTAINER_PREFIX,
    MODEL_PREFIX,
    PACKAGE_PREFIX,
    SCENARIO_PREFIX,
];

impl<S: Store> Engine<S> {
    /// Creates the engine and its handle; start it with [`Engine::run`].
    pub fn new(
        store: Arc<S>,
        reconciler: Reconciler,
        health: HealthReporter,
        cfg: EngineConfig,
    ) -> (EngineHandle, Self, mpsc::Receiver<Command>) {
        let (tx, rx) = mpsc::channel(1024);
        let engine = Engine {
            store,
            fleet: Fleet::new(),
            revisions: HashMap::new(),
            cfg,
            reconciler,
            health,
            healthy: None,
            deferred: Vec::new(),
        };
        (EngineHandle { tx }, engine, rx)
    }

    async fn set_healthy(&mut self, healthy: bool) {
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

    /// Loads state and topology (retrying until the store answers), then serves commands
    /// until every handle is dropped.
    pub async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let (watch_tx, mut watch_rx) = mpsc::channel::<WatchEvent>(4096);
        loop {
            match self.start(&watch_tx).await {
                Ok(()) => break,
                Err(e) => {
                    self.set_healthy(false).await;
                    tracing::warn!(error = %e, "cannot load state from the store; retrying");
                    // Answer what arrives meanwhile rather than let it wait.
                    let retry = tokio::time::sleep(Duration::from_millis(500));
                    tokio::pin!(retry);
                    loop {
                        tokio::select! {
                            () = &mut retry => break,
                            c = commands.recv() => match c {
                                Some(c) => refuse(c, &e),
                                None => return,
                            },
                        }
                    }
                }
            }
        }
        self.set_healthy(true).await;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                c = commands.recv() => match c {
                    Some(c @ Command::Report { .. }) => {
                        // Reports waiting behind this one are stored together.
                        let mut reports = vec![c];
                        let mut next = None;
                        while reports.len() < batch::MAX_BATCH {
                            match commands.try_recv() {
                                Ok(c @ Command::Report { .. }) => reports.push(c),
                                Ok(other) => {
                                    next = Some(other);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        self.reports(reports).await;
                        if let Some(c) = next {
                            self.handle(c).await;
                        }
                    }
                    Some(c) => self.handle(c).await,
                    None => return,
                },
                Some(event) = watch_rx.recv() => self.watched(event).await,
                _ = tick.tick() => self.housekeeping().await,
            }
        }
    }

    async fn start(&mut self, watch_tx: &mpsc::Sender<WatchEvent>) -> Result<(), StoreError> {
        self.fleet = Fleet::new();
        self.revisions.clear();
        let mut loaded = 0usize;
        for prefix in STATE_PREFIXES {
            let snapshot = self.store.load(prefix).await?;
            for kv in snapshot.kvs {
                let Some(key) = StateKey::parse(&kv.key) else {
                    tracing::warn!(key = %kv.key, "ignoring a key that is not a state key");
                    continue;
                };
                if let Err(e) = self.fleet.load(&key, &kv.value) {
                    tracing::warn!(key = %kv.key, error = %e, "ignoring an unreadable stored state");
                    continue;
                }
                self.revisions.insert(kv.key, kv.mod_revision);
                loaded += 1;
            }
        }
        // Which node runs which container: rebuilds every model's counts as they were.
        let nodes = self.store.load(NODE_PREFIX).await?;
        let node_count = nodes.kvs.len();
        for kv in nodes.kvs {
            self.replay(kv).await?;
        }
        let topology = self.load_artifacts(watch_tx).await?;
        tracing::info!(
            store = self.store.name(),
            states = loaded,
            nodes = node_count,
            artifacts = topology,
            "state and topology loaded"
        );
        Ok(())
    }

    /// Takes in a stored node membership at start-up, as if the node had just reported its
    /// containers in their stored states. Writes only what disagrees with it.
    async fn replay(&mut self, kv: crate::store::Kv) -> Result<(), StoreError> {
        let Some(node) = parse_node_key(&kv.key) else {
            tracing::warn!(key = %kv.key, "ignoring a key that is not a node membership key");
            return Ok(());
        };
        self.revisions.insert(kv.key.clone(), kv.mod_revision);
        let members = match members::decode(&kv.value) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(key = %kv.key, error = %e, "ignoring an unreadable node membership");
                return Ok(());
            }
        };
        let containers = members
            .into_iter()
            .filter_map(|m| {
                Some(ReportedContainer {
                    state: self.fleet.container_state(m.container.as_str())?,
                    name: m.container,
                    model: m.model,
                    package: m.package,
                })
            })
            .collect();
        let event = Event::NodeReport {
            node: node.clone(),
            containers,
        };
        let mut plan = self.fleet.plan(&event);
        plan.nodes
            .retain(|(n, v)| !(*n == node && v.as_deref() == Some(kv.value.as_str())));
        if !plan.writes_nothing() {
            tracing::info!(node = %node, writes = plan.write_count(), "stored states disagree with the node's containers; correcting");
            if let write::Written::Conflict = self.write(&plan).await? {
                return Err(StoreError::Internal(
                    "another writer changed the same keys during start-up".into(),
                ));
            }
        }
        let origin = Origin {
            source: "start-up",
            transition_id: "",
        };
        self.apply_plan(plan, origin).await;
        Ok(())
    }

    async fn housekeeping(&mut self) {
        if self.healthy == Some(false) && self.store.ping().await.is_ok() {
            self.set_healthy(true).await;
        }
        if !self.deferred.is_empty() && self.healthy != Some(false) {
            let events = std::mem::take(&mut self.deferred);
            for event in events {
                self.topology(event).await;
            }
        }
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Report {
                node,
                containers,
                reply,
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
            Command::Get { kind, name, reply } => {
                let state = match kind {
                    ResourceType::Scenario => {
                        self.fleet.scenario_state(&name).map(ScenarioState::stored)
                    }
                    ResourceType::Model => self.fleet.model_state(&name).map(ModelState::stored),
                    ResourceType::Package => {
                        self.fleet.package_state(&name).map(PackageState::stored)
                    }
                    _ => None,
                };
                let _ = reply.send(state);
            }
            Command::List { kind, reply } => {
                let mut list: Vec<(String, &'static str)> = match kind {
                    ResourceType::Scenario => self
                        .fleet
                        .scenarios()
                        .filter_map(|(n, s, _)| Some((n.to_string(), s?.stored())))
                        .collect(),
                    ResourceType::Model => self
                        .fleet
                        .models()
                        .map(|(n, s)| (n.to_string(), s.stored()))
                        .collect(),
                    ResourceType::Package => self
                        .fleet
                        .packages()
                        .filter_map(|(n, s)| Some((n.to_string(), s?.stored())))
                        .collect(),
                    _ => Vec::new(),
                };
                list.sort();
                let _ = reply.send(list);
            }
        }
    }

    async fn change(
        &mut self,
        change: &ValidChange,
        origin: Origin<'_>,
    ) -> Result<ChangeSummary, ChangeFailure> {
        let strict = self.cfg.strict_sources;
        for _ in 0..8 {
            let (outcome, event, from, to) = match change {
                ValidChange::Scenario(c) => {
                    let stored = self.fleet.scenario_state(c.name.as_str());
                    let outcome = decide_scenario(c, stored, origin.source, strict)?;
                    if let Outcome::Write {
                        wrong_owner: Some(owners),
                    } = &outcome
                    {
                        tracing::warn!(
                            scenario = %c.name,
                            source = %origin.source,
                            expected = ?owners.iter().map(|o| o.name()).collect::<Vec<_>>(),
                            "scenario transition from a component that does not own it; accepted"
                        );
                    }
                    let event = Event::SetScenario {
                        scenario: c.name.clone(),
                        state: c.target,
                    };
                    (
                        outcome,
                        event,
                        stored.map(ScenarioState::stored),
                        c.target.stored(),
                    )
                }
                ValidChange::Model(c) => {
                    let stored = self.fleet.model_state(c.name.as_str());
                    let outcome = decide_direct(c, stored, ModelState::stored)?;
                    let event = Event::SetModel {
                        model: c.name.clone(),
                        state: c.target,
                    };
                    (
                        outcome,
                        event,
                        stored.map(ModelState::stored),
                        c.target.stored(),
                    )
                }
                ValidChange::Package(c) => {
                    let stored = self.fleet.package_state(c.name.as_str());
                    let outcome = decide_direct(c, stored, PackageState::stored)?;
                    let event = Event::SetPackage {
                        package: c.name.clone(),
                        state: c.target,
                    };
                    (
                        outcome,
                        event,
                        stored.map(PackageState::stored),
                        c.target.stored(),
                    )
                }
            };
            if outcome == Outcome::NoOp {
                return Ok(ChangeSummary::Unchanged { state: to });
            }
            match self.execute(&event, origin, OnConflict::Return).await {
                Ok(Some(_)) => return Ok(ChangeSummary::Changed { from, to }),
                Ok(None) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::Contention(8).into())
    }

    /// Plans `event`, stores the plan, applies it. `Ok(None)`: a conflict was met and the
    /// keys re-read, and the caller asked to decide again ([`OnConflict::Return`]).
    async fn execute(
        &mut self,
        event: &Event,
        origin: Origin<'_>,
        on_conflict: OnConflict,
    ) -> Result<Option<Plan>, EngineError> {
        let deadline = tokio::time::Instant::now() + self.cfg.store_deadline;
        let mut delay = Duration::from_millis(50);
        let mut conflicts = 0;
        loop {
            let plan = self.fleet.plan(event);
            if plan.writes_nothing() {
                self.apply_plan(plan, origin).await;
                return Ok(Some(Plan::default()));
            }
            match self.write(&plan).await {
                Ok(write::Written::All) => {
                    self.set_healthy(true).await;
                    let done = self.apply_plan(plan, origin).await;
                    return Ok(Some(done));
                }
                Ok(write::Written::Conflict) => {
                    conflicts += 1;
                    if conflicts > 8 {
                        return Err(EngineError::Contention(conflicts));
                    }
                    if let Err(e) = self.refresh(&plan).await {
                        self.set_healthy(false).await;
                        return Err(EngineError::Unavailable(e));
                    }
                    if on_conflict == OnConflict::Return {
                        return Ok(None);
                    }
                }
                Err(e) => {
                    self.set_healthy(false).await;
                    let now = tokio::time::Instant::now();
                    if now + delay > deadline {
                        tracing::warn!(error = %e, "store unreachable until the deadline; request refused");
                        return Err(EngineError::Unavailable(e));
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// Applies a stored plan: logs, reconcile messages, then the fleet. Returns the plan's
    /// public part.
    async fn apply_plan(&mut self, mut plan: Plan, origin: Origin<'_>) -> Plan {
        self.effects(&plan, origin);
        let public = plan.take_changes();
        if let Err(e) = self.fleet.commit(plan) {
            // Cannot happen: the engine is the fleet's only user and plans right before.
            tracing::error!(error = %e, "plan could not be applied");
        }
        public
    }

    /// What follows a stored plan: a log line per state change, and reconcile messages.
    fn effects(&self, plan: &Plan, origin: Origin<'_>) {
        for u in &plan.models {
            tracing::info!(
                model = %u.name,
                from = u.old.map_or("absent", ModelState::stored),
                to = u.new.stored(),
                source = origin.source,
                transition_id = origin.transition_id,
                "model state changed"
            );
        }
        for u in &plan.packages {
            tracing::info!(
                package = %u.name,
                from = u.old.map_or("absent", PackageState::stored),
                to = u.new.stored(),
                source = origin.source,
                transition_id = origin.transition_id,
                "package state changed"
            );
            if u.old == Some(PackageState::Error) && u.new != PackageState::Error {
                self.reconciler.send(Message::Left {
                    package: u.name.clone(),
                });
            }
        }
        for u in &plan.scenarios {
            tracing::info!(
                scenario = %u.name,
                from = u.old.map_or("absent", ScenarioState::stored),
                to = u.new.stored(),
                source = origin.source,
                transition_id = origin.transition_id,
                "scenario state changed"
            );
        }
        for p in &plan.package_deletes {
            tracing::info!(package = %p, "package removed; its state key deleted");
            self.reconciler.send(Message::Left { package: p.clone() });
        }
        for r in &plan.reconciles {
            match &r.scenario {
                Some(scenario) => self.reconciler.send(Message::Entered {
                    package: r.package.clone(),
                    scenario: scenario.clone(),
                }),
                None => tracing::warn!(
                    package = %r.package,
                    "package entered error but no scenario targets it; no reconcile sent"
                ),
            }
        }
        if !plan.unassigned.is_empty() {
            tracing::debug!(
                count = plan.unassigned.len(),
                node = origin.source,
                "containers that belong to no model"
            );
        }
    }
}

fn summary(plan: Plan) -> ReportSummary {
    ReportSummary {
        containers_written: plan.container_puts.len(),
        containers_deleted: plan.container_deletes.len(),
        models_changed: plan.models.len(),
        packages_changed: plan.packages.len(),
    }
}

fn refuse(command: Command, error: &StoreError) {
    let e = EngineError::Unavailable(error.clone());
    match command {
        Command::Report { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Command::Change { reply, .. } => {
            let _ = reply.send(Err(e.into()));
        }
        Command::Apply { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Command::Get { reply, .. } => {
            let _ = reply.send(None);
        }
        Command::List { reply, .. } => {
            let _ = reply.send(Vec::new());
        }
    }
}

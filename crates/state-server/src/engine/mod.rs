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
//! (group commit of queued reports), `artifacts` (topology).

mod api;
mod artifacts;
mod batch;
mod execute;
mod start;
mod state;
mod write;

use std::{collections::HashMap, sync::Arc, time::Duration};

pub use api::{
    AppliedArtifact, ChangeFailure, ChangeSummary, Command, EngineConfig, EngineError,
    EngineHandle, ReportSummary,
};
use state_core::fleet::{Event, Fleet};
use tokio::sync::mpsc;
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{
    reconcile::Reconciler,
    store::{Store, WatchEvent},
};

/// Commands waiting for the engine. A full queue makes handlers wait (backpressure) rather
/// than grow memory; 1,024 is well above what group commit drains in one round
/// ([`batch::MAX_BATCH`]).
const COMMAND_QUEUE: usize = 1024;
/// Artifact watch events waiting for the engine. Applying a large artifact file produces a
/// burst of puts; the watch falls back to a resync if it ever overflows.
const WATCH_QUEUE: usize = 4096;
/// Pause between start-up attempts while the store is unreachable.
const START_RETRY: Duration = Duration::from_millis(500);
/// How often the engine checks the store's health and retries deferred topology events.
const HOUSEKEEPING: Duration = Duration::from_secs(1);

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

impl<S: Store> Engine<S> {
    /// Creates the engine and its handle; start it with [`Engine::run`].
    pub fn new(
        store: Arc<S>,
        reconciler: Reconciler,
        health: HealthReporter,
        cfg: EngineConfig,
    ) -> (EngineHandle, Self, mpsc::Receiver<Command>) {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
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
        let (watch_tx, mut watch_rx) = mpsc::channel::<WatchEvent>(WATCH_QUEUE);
        loop {
            match self.start(&watch_tx).await {
                Ok(()) => break,
                Err(e) => {
                    self.set_healthy(false).await;
                    tracing::warn!(error = %e, "cannot load state from the store; retrying");
                    // Answer what arrives meanwhile rather than let it wait.
                    let retry = tokio::time::sleep(START_RETRY);
                    tokio::pin!(retry);
                    loop {
                        tokio::select! {
                            () = &mut retry => break,
                            c = commands.recv() => match c {
                                Some(c) => start::refuse(c, &e),
                                None => return,
                            },
                        }
                    }
                }
            }
        }
        self.set_healthy(true).await;
        let mut tick = tokio::time::interval(HOUSEKEEPING);
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
            Command::Get { resource, reply } => {
                let _ = reply.send(Ok(self.fleet.state(&resource)));
            }
            Command::List { kind, reply } => {
                let _ = reply.send(Ok(self.fleet.states(kind)));
            }
        }
    }
}

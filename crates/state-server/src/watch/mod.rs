//! `WatchStates` (`docs/contract.md#watch`): a snapshot of the states asked for (or the states
//! as they were at a given revision, for a client resuming), then every change of them, each
//! with its revision, old and new state, and what its history record says (source, transition
//! id, why, time).
//!
//! Each stream reads its starting point from the store itself, so it is exact on every
//! replica, leader or follower. It then follows the daemon's one shared watch ([`hub`]) from
//! there, or, when it starts further back than the hub keeps, a store watch of its own: so
//! resuming is the store's own promise, and a client that comes back with its last revision
//! misses nothing while the store still holds that revision, and gets a fresh, flagged
//! snapshot when it does not (compaction). The stream keeps the states it follows, to give each
//! change its old state.

use std::{collections::HashMap, sync::Arc};

use serde::Serialize;
use state_core::{
    history::{Record, parse_history_key},
    key::{CONTAINER_PREFIX, MODEL_PREFIX, PACKAGE_PREFIX, SCENARIO_PREFIX, StateKey},
};
use tokio::sync::{broadcast, mpsc};

pub mod hub;

use hub::{Hub, Raw};

use crate::{
    lists::now_ns,
    metrics::Metrics,
    store::{AnyStore, Kv, Snapshot, Store, StoreError, WatchEvent},
};

/// Events a slow client may fall behind by before its stream waits (and with it, its own
/// store watch: nothing is dropped).
const STREAM_QUEUE: usize = 1024;

/// The kinds a watch can follow, with their state key prefixes.
const KINDS: [(&str, &str); 4] = [
    ("container", CONTAINER_PREFIX),
    ("model", MODEL_PREFIX),
    ("package", PACKAGE_PREFIX),
    ("scenario", SCENARIO_PREFIX),
];

/// What one watch follows.
#[derive(Clone, Debug)]
pub struct Filter {
    kinds: [bool; 4],
    prefix: String,
}

impl Filter {
    /// From the request's kinds (empty: all four) and name prefix; an unknown kind is an error
    /// that names the kinds there are.
    pub fn new(kinds: &[String], prefix: &str) -> Result<Filter, String> {
        let mut on = [kinds.is_empty(); 4];
        for k in kinds {
            let i = KINDS
                .iter()
                .position(|(name, _)| name == k)
                .ok_or_else(|| {
                    format!("unknown kind {k:?}; watch container, model, package or scenario")
                })?;
            on[i] = true;
        }
        Ok(Filter {
            kinds: on,
            prefix: prefix.to_owned(),
        })
    }

    /// `(kind, name)` of a state key this watch follows.
    fn wants(&self, key: &str) -> Option<(&'static str, String)> {
        let (kind, name) = match StateKey::parse(key)? {
            StateKey::Container(n) => (0, n.to_string()),
            StateKey::Model(n) => (1, n.to_string()),
            StateKey::Package(n) => (2, n.to_string()),
            StateKey::Scenario(n) => (3, n.to_string()),
        };
        (self.kinds[kind] && name.starts_with(&self.prefix)).then(|| (KINDS[kind].0, name))
    }
}

/// What an event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// A change at `revision`.
    Change,
    /// One state of a snapshot read at `revision`.
    Snapshot,
    /// The snapshot is complete; changes after `revision` follow.
    SnapshotDone,
}

/// One event of a watch, as the gRPC stream and the HTTP stream send it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveEvent {
    #[serde(rename = "type")]
    pub phase: Phase,
    pub revision: i64,
    pub kind: &'static str,
    pub name: String,
    /// Stored spelling; `""` when absent.
    pub old: String,
    /// Stored spelling; `""` when removed.
    pub new: String,
    pub source: String,
    pub transition_id: String,
    pub why: String,
    pub time_ns: i64,
    /// The last event of its revision (and every snapshot end): a client that resumes from
    /// the revision of the last complete event it processed misses and repeats nothing.
    pub complete: bool,
}

impl LiveEvent {
    fn marker(revision: i64) -> LiveEvent {
        LiveEvent {
            phase: Phase::SnapshotDone,
            revision,
            kind: "",
            name: String::new(),
            old: String::new(),
            new: String::new(),
            source: String::new(),
            transition_id: String::new(),
            why: String::new(),
            time_ns: now_ns(),
            complete: true,
        }
    }
}

/// Starts a watch: its events arrive on the returned receiver until the receiver is dropped,
/// or end with the store error that stopped them.
pub fn start(
    store: Arc<AnyStore>,
    hub: Arc<Hub>,
    filter: Filter,
    from: i64,
    metrics: Arc<Metrics>,
) -> mpsc::Receiver<Result<LiveEvent, StoreError>> {
    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    tokio::spawn(async move {
        metrics.watchers.inc();
        let mut w = Watcher {
            store,
            hub,
            filter,
            states: HashMap::new(),
            tx,
            metrics: metrics.clone(),
        };
        if let Err(e) = w.run(from).await {
            let _ = w.tx.send(Err(e)).await;
        }
        metrics.watchers.dec();
    });
    rx
}

/// The client went away.
struct Gone;

/// Writes kept coming between the pages of a snapshot.
#[derive(Debug, thiserror::Error)]
#[error("the store kept changing while a snapshot was read")]
struct Unsettled;

/// Where a stream's revisions come from once it has its starting point.
enum Source {
    /// The shared watch: kept revisions first, then live ones.
    Hub {
        kept: std::vec::IntoIter<Arc<Raw>>,
        live: broadcast::Receiver<Arc<Raw>>,
    },
    /// A store watch of the stream's own.
    Store(mpsc::Receiver<WatchEvent>),
}

/// The next thing a source gives.
enum Next {
    Changed(i64, Arc<Raw>),
    Own(i64, crate::store::Changes),
    /// History was lost, or the stream fell too far behind the shared watch.
    StartOver,
    End,
}

impl Source {
    async fn next(&mut self) -> Next {
        match self {
            Source::Hub { kept, live } => {
                let raw = match kept.next() {
                    Some(raw) => raw,
                    None => match live.recv().await {
                        Ok(raw) => raw,
                        Err(broadcast::error::RecvError::Lagged(_)) => return Next::StartOver,
                        Err(broadcast::error::RecvError::Closed) => return Next::End,
                    },
                };
                match raw.as_ref() {
                    Raw::Changed { revision, .. } => Next::Changed(*revision, raw.clone()),
                    Raw::Resync => Next::StartOver,
                }
            }
            Source::Store(events) => match events.recv().await {
                Some(WatchEvent::Changed { revision, changes }) => Next::Own(revision, changes),
                Some(WatchEvent::Resync { .. }) => Next::StartOver,
                None => Next::End,
            },
        }
    }
}

struct Watcher {
    store: Arc<AnyStore>,
    hub: Arc<Hub>,
    filter: Filter,
    /// The state of every followed key, as of the last event sent.
    states: HashMap<String, String>,
    tx: mpsc::Sender<Result<LiveEvent, StoreError>>,
    metrics: Arc<Metrics>,
}

impl Watcher {
    async fn run(&mut self, mut from: i64) -> Result<(), StoreError> {
        loop {
            let resumed = if from > 0 {
                self.read(from).await?
            } else {
                None
            };
            let at = match resumed {
                Some(snapshot) => {
                    self.keep(&snapshot);
                    snapshot.revision
                }
                None => {
                    // Asked for a snapshot, or the revision asked for is gone.
                    let snapshot = self.now().await?;
                    if self.snapshot(&snapshot).await.is_err() {
                        return Ok(());
                    }
                    snapshot.revision
                }
            };
            let mut source = match self.hub.replay(at) {
                Some(r) => Source::Hub {
                    kept: r.kept.into_iter(),
                    live: r.live,
                },
                None => {
                    let (events_tx, events) = mpsc::channel(STREAM_QUEUE);
                    self.store.watch("/", at + 1, events_tx).await?;
                    Source::Store(events)
                }
            };
            let mut last = at;
            loop {
                let next = tokio::select! {
                    n = source.next() => n,
                    () = self.tx.closed() => return Ok(()),
                };
                let sent = match next {
                    // The shared watch may still deliver revisions the read already covered.
                    Next::Changed(revision, _) | Next::Own(revision, _) if revision <= last => {
                        Ok(())
                    }
                    Next::Changed(revision, raw) => {
                        last = revision;
                        match raw.as_ref() {
                            Raw::Changed { changes, .. } => self.changed(revision, changes).await,
                            Raw::Resync => Ok(()),
                        }
                    }
                    Next::Own(revision, changes) => {
                        last = revision;
                        self.changed(revision, &changes).await
                    }
                    Next::StartOver => break,
                    Next::End => return Ok(()),
                };
                if sent.is_err() {
                    return Ok(());
                }
            }
            // History this stream had not seen is gone: start over, flagged.
            from = 0;
        }
    }

    /// The followed state keys at `revision` (0: now), all read at one revision; `None` when
    /// the store no longer holds it.
    async fn read(&self, revision: i64) -> Result<Option<Snapshot>, StoreError> {
        let mut all = Snapshot {
            revision,
            ..Snapshot::default()
        };
        for (i, (_, prefix)) in KINDS.iter().enumerate() {
            if !self.filter.kinds[i] {
                continue;
            }
            let prefix = format!("{prefix}{}", self.filter.prefix);
            let Some(part) = self.store.load_at(&prefix, all.revision).await? else {
                return Ok(None);
            };
            all.revision = part.revision;
            all.kvs.extend(part.kvs);
        }
        Ok(Some(all))
    }

    /// The followed state keys now. A store without history cannot pin later prefixes to
    /// the first one's revision if a write comes between: then it reads again.
    async fn now(&self) -> Result<Snapshot, StoreError> {
        let mut attempts = 0;
        loop {
            if let Some(snapshot) = self.read(0).await? {
                return Ok(snapshot);
            }
            attempts += 1;
            if attempts == 10 {
                return Err(StoreError::internal("reading a snapshot", Unsettled));
            }
        }
    }

    /// Remembers the followed states of a snapshot.
    fn keep(&mut self, snapshot: &Snapshot) {
        self.states.clear();
        for kv in &snapshot.kvs {
            if self.filter.wants(&kv.key).is_some() {
                self.states.insert(kv.key.clone(), kv.value.clone());
            }
        }
    }

    /// Sends a snapshot, flagged, then its end marker.
    async fn snapshot(&mut self, snapshot: &Snapshot) -> Result<(), Gone> {
        self.keep(snapshot);
        let time_ns = now_ns();
        for Kv { key, value, .. } in &snapshot.kvs {
            let Some((kind, name)) = self.filter.wants(key) else {
                continue;
            };
            let event = LiveEvent {
                phase: Phase::Snapshot,
                revision: snapshot.revision,
                kind,
                name,
                old: String::new(),
                new: value.clone(),
                source: String::new(),
                transition_id: String::new(),
                why: String::new(),
                time_ns,
                complete: false,
            };
            self.send(event).await?;
        }
        self.send(LiveEvent::marker(snapshot.revision)).await
    }

    /// Sends the followed changes of one revision, each with its history record.
    async fn changed(
        &mut self,
        revision: i64,
        changes: &[(String, Option<String>)],
    ) -> Result<(), Gone> {
        // Keyed `kind/name`, as a record's resource is named.
        let mut records: HashMap<String, Record> = HashMap::new();
        for (key, value) in changes {
            if let (Some((kind, name, _)), Some(value)) = (parse_history_key(key), value)
                && let Ok(record) = Record::decode(value)
            {
                records.insert(format!("{kind}/{name}"), record);
            }
        }
        let mut out = Vec::new();
        for (key, value) in changes {
            let Some((kind, name)) = self.filter.wants(key) else {
                continue;
            };
            let old = match value {
                Some(v) => self.states.insert(key.clone(), v.clone()),
                None => self.states.remove(key),
            }
            .unwrap_or_default();
            let new = value.clone().unwrap_or_default();
            if old == new {
                continue;
            }
            let record = if records.is_empty() {
                None
            } else {
                records.remove(&format!("{kind}/{name}"))
            };
            // Containers have no record: no source, and the time is when this daemon saw it.
            let r = record.unwrap_or_else(|| Record {
                time_ns: now_ns(),
                from: String::new(),
                to: String::new(),
                source: String::new(),
                transition_id: String::new(),
                why: String::new(),
            });
            let event = LiveEvent {
                phase: Phase::Change,
                revision,
                kind,
                name,
                old,
                new,
                source: r.source,
                transition_id: r.transition_id,
                why: r.why,
                time_ns: r.time_ns,
                complete: false,
            };
            out.push(event);
        }
        if let Some(last) = out.last_mut() {
            last.complete = true;
        }
        for event in out {
            self.send(event).await?;
        }
        Ok(())
    }

    async fn send(&self, event: LiveEvent) -> Result<(), Gone> {
        self.metrics.watch_events.inc();
        self.tx.send(Ok(event)).await.map_err(|_| Gone)
    }
}

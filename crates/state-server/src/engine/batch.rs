//! Group commit: reports that queue up while the store is busy are planned one after another
//! on the in-memory fleet and stored together, as many per transaction as fit in the store's
//! operation limit, so many node agents cost one store round trip. Up to [`IN_FLIGHT`] groups
//! that write no key in common are stored at once, so a storm of lists is not one round trip
//! after another (etcd writes concurrent transactions to its log together). A report is
//! answered only once its group is stored. If a group's transaction cannot be stored, the fleet
//! is read again from etcd (which holds every group that was stored) and that group's reports
//! are stored one by one, exactly as if they had arrived alone.

use std::{collections::HashSet, sync::Arc, time::Duration};

use state_core::{
    fleet::{Changes, Event},
    writes::WriteSet,
};
use tokio::{sync::oneshot, task::JoinHandle};

use super::{
    Command, Engine, EngineError, OnConflict, Origin, ReportSummary, execute::summary,
    write::Written,
};
use crate::store::{Committed, Store, StoreError, Write};

/// Groups being stored at once. Four keep etcd's log writes batched under a storm; more would
/// only queue inside etcd.
const IN_FLIGHT: usize = 4;

/// Most reports taken from the queue at once. Reports of ten containers with one change each
/// need about three writes; 64 of them fill etcd's default 128-operation transaction about
/// once, so a bigger batch would only be split into more groups while its first reports wait.
pub(super) const MAX_BATCH: usize = 64;

type Reply = oneshot::Sender<Result<ReportSummary, EngineError>>;

/// Request bytes one history record's writes take at most: its key, a value whose caller
/// fields are capped ([`state_core::history::MAX_FIELD`]), the table row, and a removal.
const RECORD_COST: usize = 1024;

struct Planned {
    event: Event,
    source: String,
    reply: Reply,
    changes: Changes,
}

/// A group whose transaction is on its way to the store.
struct InFlight {
    planned: Vec<Planned>,
    /// Its writes: a group writing any of the same keys waits until it is stored.
    writes: WriteSet,
    /// Shared with the task that sends it.
    txn: Arc<Write>,
    task: JoinHandle<(Result<Committed, StoreError>, Duration)>,
}

/// Reports planned and applied in memory, waiting to be stored in one transaction.
#[derive(Default)]
struct Group {
    planned: Vec<Planned>,
    /// Every plan's writes; the last write of a key wins.
    writes: WriteSet,
}

impl<S: Store> Engine<S> {
    /// Stores a run of reports, in groups that each fit in one transaction.
    pub(super) async fn reports(&mut self, commands: Vec<Command>) {
        if commands.len() == 1 {
            for c in commands {
                self.handle(c).await;
            }
            return;
        }
        let limit = self.txn_capacity();
        let max_bytes = self.txn_bytes();
        let mut group = Group::default();
        let mut flight: Vec<InFlight> = Vec::new();
        for c in commands {
            let Command::Report {
                node,
                containers,
                reply,
                ..
            } = c
            else {
                self.settle(&mut flight).await;
                self.handle(c).await;
                continue;
            };
            if reply.is_closed() {
                continue;
            }
            let source = format!("NodeAgent/{node}");
            let event = Event::NodeReport { node, containers };
            if self.dirty {
                // A failed group left the fleet to be read again: the rest go one by one,
                // each after that reload.
                self.settle(&mut flight).await;
                self.one_by_one(std::iter::once((event, source, reply)))
                    .await;
                continue;
            }
            let mut plan = self.fleet.plan(&event);
            // History records are numbered only once the plan joins the group, so they are
            // counted here from above: each transition's record and one removal.
            let mut writes = WriteSet::of(&plan.changes);
            let mut records = self.record_bound(&plan.changes);
            // Roughly from above: a key both sets write is counted twice.
            let over = group.writes.len_with(&writes) + records > limit
                || group.writes.cost() + writes.cost() + records * RECORD_COST > max_bytes;
            if !group.planned.is_empty() && over {
                self.launch(std::mem::take(&mut group), &mut flight).await;
                if self.dirty {
                    self.settle(&mut flight).await;
                    self.one_by_one(std::iter::once((event, source, reply)))
                        .await;
                    continue;
                }
                // Launching may have waited for earlier groups: plan against the fleet now.
                plan = self.fleet.plan(&event);
                writes = WriteSet::of(&plan.changes);
                records = self.record_bound(&plan.changes);
            }
            if writes.len() + records > limit || writes.cost() + records * RECORD_COST > max_bytes {
                // Too big for one transaction even alone: stored on its own, split in order.
                self.settle(&mut flight).await;
                self.one_by_one(std::iter::once((event, source, reply)))
                    .await;
                continue;
            }
            let changes = plan.take_changes();
            let origin = Origin {
                source: &source,
                transition_id: "",
            };
            let writes = self.recorded(&changes, origin);
            match self.fleet.commit(plan) {
                Ok(()) => {
                    group.writes.merge(writes);
                    group.planned.push(Planned {
                        event,
                        source,
                        reply,
                        changes,
                    });
                }
                Err(e) => tracing::error!(error = %e, "plan could not be applied"),
            }
        }
        if !group.planned.is_empty() {
            self.launch(group, &mut flight).await;
        }
        self.settle(&mut flight).await;
    }

    /// Most history writes `changes` can call for: a record and a removal per transition.
    fn record_bound(&self, changes: &Changes) -> usize {
        if self.history.keep() == 0 {
            return 0;
        }
        let transitions = changes.models.len()
            + changes.model_deletes.len()
            + changes.packages.len()
            + changes.package_deletes.len()
            + changes.scenarios.len();
        2 * transitions
    }

    /// Starts storing a group. It first waits for the groups in flight when it writes one of
    /// their keys (its compares need their revisions) or when [`IN_FLIGHT`] are already on
    /// their way; a group that writes nothing waits for all of them, since its answer rests on
    /// what they store.
    async fn launch(&mut self, group: Group, flight: &mut Vec<InFlight>) {
        let Group { planned, writes } = group;
        self.metrics.group_reports.observe(planned.len() as f64);
        let keys: HashSet<&str> = writes.iter().map(|w| w.key.as_str()).collect();
        let overlaps = keys.is_empty()
            || flight
                .iter()
                .any(|f| f.writes.iter().any(|w| keys.contains(w.key.as_str())));
        if overlaps || flight.len() >= IN_FLIGHT {
            self.settle(flight).await;
        }
        if self.dirty {
            // An earlier group failed: the fleet is read again, and these reports are stored
            // one by one after it.
            self.one_by_one(planned.into_iter().map(|p| (p.event, p.source, p.reply)))
                .await;
            return;
        }
        if writes.is_empty() {
            self.answer(planned);
            return;
        }
        let txn = Arc::new(self.transaction(writes.iter()));
        let store = self.store.clone();
        let sent = Arc::clone(&txn);
        let task = tokio::spawn(async move {
            let started = std::time::Instant::now();
            let outcome = store.commit(&sent).await;
            (outcome, started.elapsed())
        });
        flight.push(InFlight {
            planned,
            writes,
            txn,
            task,
        });
    }

    /// Waits for every group in flight, in the order they were launched, and answers the
    /// reports of those stored; the reports of a group that was not are stored one by one
    /// (after the fleet is read again).
    async fn settle(&mut self, flight: &mut Vec<InFlight>) {
        let mut again = Vec::new();
        for f in flight.drain(..) {
            let (outcome, took) = match f.task.await {
                Ok(done) => done,
                Err(e) => (
                    Err(StoreError::internal("storing a group", e)),
                    Duration::ZERO,
                ),
            };
            match self.committed(outcome, took, &f.txn, f.writes.iter()) {
                Ok(Written::All) => {
                    self.set_healthy(true).await;
                    self.answer(f.planned);
                }
                Ok(Written::Conflict) => again.extend(f.planned),
                Err(e) => {
                    tracing::debug!(error = %e, reports = f.planned.len(), "group commit failed; storing reports one by one");
                    again.extend(f.planned);
                }
            }
        }
        if !again.is_empty() {
            self.one_by_one(again.into_iter().map(|p| (p.event, p.source, p.reply)))
                .await;
        }
    }

    /// Answers the reports of a stored group, after their effects.
    fn answer(&mut self, planned: Vec<Planned>) {
        for p in planned {
            let origin = Origin {
                source: &p.source,
                transition_id: "",
            };
            self.effects(&p.changes, origin);
            let _ = p.reply.send(Ok(summary(p.changes)));
        }
    }

    /// Stores reports one at a time. Once the store deadline has passed for one, the rest are
    /// refused at once rather than each waiting for it again.
    pub(super) async fn one_by_one(
        &mut self,
        reports: impl Iterator<Item = (Event, String, Reply)>,
    ) {
        let mut refused: Option<EngineError> = None;
        for (event, source, reply) in reports {
            if let Some(e) = &refused {
                let _ = reply.send(Err(e.clone()));
                continue;
            }
            if reply.is_closed() {
                continue;
            }
            let origin = Origin {
                source: &source,
                transition_id: "",
            };
            let result = self
                .execute(&event, origin, OnConflict::Replan)
                .await
                .map(|plan| plan.map(summary).unwrap_or_default());
            if let Err(e @ EngineError::Unavailable(_)) = &result {
                // The deadline passed once; the rest would only wait for it again.
                refused = Some(e.clone());
            }
            let _ = reply.send(result);
        }
    }
}

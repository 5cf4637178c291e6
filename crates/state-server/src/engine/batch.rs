//! Group commit: reports that queue up while the store is busy are planned one after another
//! on the in-memory fleet and stored together, as many per transaction as fit in the store's
//! operation limit, so many node agents cost one store round trip. If a group's transaction
//! cannot be stored, its plans are undone and its reports stored one by one, exactly as if they
//! had arrived alone.

use state_core::{
    fleet::{Changes, Event, Undo},
    writes::WriteSet,
};
use tokio::sync::oneshot;

use super::{
    Command, Engine, EngineError, OnConflict, Origin, ReportSummary, execute::summary,
    write::Written,
};
use crate::store::Store;

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
    undo: Undo,
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
        for c in commands {
            let Command::Report {
                node,
                containers,
                reply,
                ..
            } = c
            else {
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
                self.store_group(std::mem::take(&mut group)).await;
                // Storing the group may have undone it: plan against the fleet as it is now.
                plan = self.fleet.plan(&event);
                writes = WriteSet::of(&plan.changes);
                records = self.record_bound(&plan.changes);
            }
            if writes.len() + records > limit || writes.cost() + records * RECORD_COST > max_bytes {
                // Too big for one transaction even alone: stored on its own, split in order.
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
            match self.fleet.commit_undoable(plan) {
                Ok(undo) => {
                    group.writes.merge(writes);
                    group.planned.push(Planned {
                        event,
                        source,
                        reply,
                        changes,
                        undo,
                    });
                }
                Err(e) => tracing::error!(error = %e, "plan could not be applied"),
            }
        }
        if !group.planned.is_empty() {
            self.store_group(group).await;
        }
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

    /// Stores a group in one transaction and answers its reports; if that fails, undoes the
    /// group and stores its reports one by one.
    async fn store_group(&mut self, group: Group) {
        let Group { planned, writes } = group;
        self.metrics.group_reports.observe(planned.len() as f64);
        let stored = if writes.is_empty() {
            true
        } else {
            match self.commit(writes.iter()).await {
                Ok(Written::All) => {
                    self.set_healthy(true).await;
                    true
                }
                Ok(Written::Conflict) => false,
                Err(e) => {
                    tracing::debug!(error = %e, reports = planned.len(), "group commit failed; storing reports one by one");
                    false
                }
            }
        };
        if stored {
            for p in planned {
                let origin = Origin {
                    source: &p.source,
                    transition_id: "",
                };
                self.effects(&p.changes, origin);
                let _ = p.reply.send(Ok(summary(p.changes)));
            }
            return;
        }
        // Put the fleet back, newest plan first, then store each report on its own.
        let mut undone = Vec::with_capacity(planned.len());
        for p in planned.into_iter().rev() {
            if let Err(e) = self.fleet.undo(p.undo) {
                tracing::error!(error = %e, "group commit could not be undone");
            }
            undone.push((p.event, p.source, p.reply));
        }
        undone.reverse();
        self.one_by_one(undone.into_iter()).await;
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

//! Group commit: reports that queue up while the store is busy are planned one after another
//! on the in-memory fleet and stored in one transaction, so many node agents cost one store
//! round trip. If that transaction cannot be stored, every plan is undone and the reports are
//! stored one by one, exactly as if they had arrived alone.

use std::collections::HashMap;

use state_core::fleet::{Event, Plan, Undo};
use tokio::sync::oneshot;

use super::{
    Command, Engine, EngineError, OnConflict, Origin, ReportSummary, summary, write::writes,
};
use crate::store::{Committed, Store, Write};

/// Most reports stored in one transaction.
pub(super) const MAX_BATCH: usize = 64;

struct Planned {
    event: Event,
    source: String,
    reply: oneshot::Sender<Result<ReportSummary, EngineError>>,
    changes: Plan,
    undo: Undo,
}

impl<S: Store> Engine<S> {
    /// Stores a run of reports, together when they fit in one transaction.
    pub(super) async fn reports(&mut self, commands: Vec<Command>) {
        if commands.len() == 1 {
            for c in commands {
                self.handle(c).await;
            }
            return;
        }
        let mut planned: Vec<Planned> = Vec::with_capacity(commands.len());
        // Key -> (value, or None to delete), the last write of the run winning.
        let mut merged: HashMap<String, Option<std::borrow::Cow<'static, str>>> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for c in commands {
            let Command::Report {
                node,
                containers,
                reply,
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
            let mut plan = self.fleet.plan(&event);
            for (key, value) in writes(&plan) {
                if merged.insert(key.clone(), value).is_none() {
                    order.push(key);
                }
            }
            let changes = plan.take_changes();
            match self.fleet.commit_undoable(plan) {
                Ok(undo) => planned.push(Planned {
                    event,
                    source,
                    reply,
                    changes,
                    undo,
                }),
                Err(e) => tracing::error!(error = %e, "plan could not be applied"),
            }
        }
        let stored = if merged.is_empty() {
            true
        } else if merged.len() > self.cfg.max_txn_ops {
            false
        } else {
            let mut write = Write::default();
            for key in &order {
                let expected = self.revisions.get(key).copied().unwrap_or(0);
                write.compares.push((key.clone(), expected));
                match &merged[key] {
                    Some(v) => write.puts.push((key.clone(), v.to_string())),
                    None => write.deletes.push(key.clone()),
                }
            }
            match self.store.commit(&write).await {
                Ok(Committed::Applied { revision }) => {
                    for key in order {
                        if merged[&key].is_some() {
                            self.revisions.insert(key, revision);
                        } else {
                            self.revisions.remove(&key);
                        }
                    }
                    self.set_healthy(true).await;
                    true
                }
                Ok(Committed::Conflict) => false,
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
        // Put the fleet back, then store each report on its own.
        let mut undone = Vec::with_capacity(planned.len());
        for p in planned.into_iter().rev() {
            if let Err(e) = self.fleet.undo(p.undo) {
                tracing::error!(error = %e, "group commit could not be undone");
            }
            undone.push((p.event, p.source, p.reply));
        }
        undone.reverse();
        let mut refused: Option<EngineError> = None;
        for (event, source, reply) in undone {
            if let Some(e) = &refused {
                let _ = reply.send(Err(e.clone()));
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

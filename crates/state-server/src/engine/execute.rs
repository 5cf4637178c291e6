//! Carrying out an event: plan it, store the plan (retrying an unreachable store until the
//! deadline; after a failed or conflicting write, loading the fleet again first, which repairs
//! etcd), apply it to the fleet, then its effects: a log
//! line per state change and the reconcile messages.

use std::time::Duration;

use state_core::{
    ModelState, PackageState, ScenarioState,
    episode::episode_key,
    fleet::{Changes, Event, Plan},
};

use super::{
    Engine, EngineError, OnConflict, Origin, ReportSummary, start::LoadInterrupted, write::Written,
};
use crate::{
    reconcile::Message,
    store::{Store, StoreError},
};

/// First pause before retrying an unreachable store; doubled each time up to [`MAX_RETRY`].
/// Short, because most outages are a reconnect or a leader election.
const FIRST_RETRY: Duration = Duration::from_millis(50);
/// Longest pause between retries, so a store that comes back is used within a second.
const MAX_RETRY: Duration = Duration::from_secs(1);
/// Conflicts tolerated for one event before it is refused: each one re-reads the keys, so
/// only a writer that keeps changing the same keys can exhaust them.
const MAX_CONFLICTS: u32 = 8;

impl<S: Store> Engine<S> {
    pub(super) async fn execute(
        &mut self,
        event: &Event,
        origin: Origin<'_>,
        on_conflict: OnConflict,
    ) -> Result<Option<Changes>, EngineError> {
        let deadline = tokio::time::Instant::now() + self.cfg.store_deadline;
        let mut delay = FIRST_RETRY;
        let mut conflicts = 0;
        loop {
            if !self.leading() {
                return Err(EngineError::NotLeader);
            }
            // After a failed or conflicting write, etcd is read again (and repaired) first.
            if self.dirty {
                // Loading stores topology events through here: they fail the load instead.
                let reloaded = if self.loading {
                    Err(StoreError::internal("loading", LoadInterrupted))
                } else {
                    Box::pin(self.resync()).await
                };
                if let Err(e) = reloaded {
                    self.pause_or_refuse(e, deadline, &mut delay).await?;
                    continue;
                }
                if conflicts > 0 && on_conflict == OnConflict::Return {
                    return Ok(None);
                }
            }
            let plan = self.fleet.plan(event);
            if plan.changes.writes_nothing() {
                let done = self.apply_plan(plan, origin).await;
                return Ok(Some(done));
            }
            match self.write(&plan.changes, origin).await {
                Ok(Written::All) => {
                    self.set_healthy(true).await;
                    let done = self.apply_plan(plan, origin).await;
                    return Ok(Some(done));
                }
                Ok(Written::Conflict) => {
                    conflicts += 1;
                    if conflicts > MAX_CONFLICTS {
                        return Err(EngineError::Contention(conflicts));
                    }
                    tracing::info!(
                        keys = plan.changes.write_count(),
                        "another writer changed the same keys; reloading and planning again"
                    );
                }
                Err(e) => self.pause_or_refuse(e, deadline, &mut delay).await?,
            }
        }
    }

    /// After a failed store call: waits `delay` (then doubles it, up to [`MAX_RETRY`]) if that
    /// ends before `deadline`; otherwise gives the request up.
    async fn pause_or_refuse(
        &mut self,
        e: StoreError,
        deadline: tokio::time::Instant,
        delay: &mut Duration,
    ) -> Result<(), EngineError> {
        self.set_healthy(false).await;
        if tokio::time::Instant::now() + *delay > deadline {
            tracing::warn!(error = %e, "store unreachable until the deadline; request refused");
            return Err(EngineError::Unavailable(e));
        }
        tokio::time::sleep(*delay).await;
        *delay = (*delay * 2).min(MAX_RETRY);
        Ok(())
    }

    /// Applies a stored plan: logs, reconcile messages, then the fleet. Returns its changes.
    pub(super) async fn apply_plan(&mut self, mut plan: Plan, origin: Origin<'_>) -> Changes {
        self.effects(&plan.changes, origin);
        let public = plan.take_changes();
        if let Err(e) = self.fleet.commit(plan) {
            // Cannot happen: the engine is the fleet's only user and plans right before.
            tracing::error!(error = %e, "plan could not be applied");
        }
        public
    }

    pub(super) fn effects(&self, plan: &Changes, origin: Origin<'_>) {
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
        for m in &plan.model_deletes {
            tracing::info!(model = %m, "model no longer referenced; its state key deleted");
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
            if u.old == Some(PackageState::Error) && u.new != PackageState::Error && self.leading()
            {
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
            if self.leading() {
                self.reconciler.send(Message::Left { package: p.clone() });
            }
        }
        for r in &plan.reconciles {
            let Some(scenario) = &r.scenario else {
                tracing::warn!(
                    package = %r.package,
                    "package entered error but no scenario targets it; no reconcile sent"
                );
                continue;
            };
            // The episode is the revision its record was stored at, just now.
            let episode = self
                .revisions
                .get(episode_key(&r.package).as_str())
                .copied();
            match episode {
                Some(episode) if self.leading() => self.reconciler.send(Message::Entered {
                    package: r.package.clone(),
                    scenario: scenario.clone(),
                    episode,
                }),
                _ => {}
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

/// What a report changed, counted.
pub(super) fn summary(plan: Changes) -> ReportSummary {
    ReportSummary {
        containers_written: plan.container_puts.len(),
        containers_deleted: plan.container_deletes.len(),
        models_changed: plan.models.len() + plan.model_deletes.len(),
        packages_changed: plan.packages.len(),
    }
}

//! State changes (`SendStateChange`): decided by state-core against the fleet, stored, then
//! answered. Queries are answered straight from the fleet in `handle`.

use state_core::change::{Outcome, ValidChange};

use super::{ChangeFailure, ChangeSummary, Engine, EngineError, OnConflict, Origin};
use crate::store::Store;

/// How many times a change is decided again after another writer changed its keys, before
/// giving up with [`EngineError::Contention`]. Each retry re-reads the keys, so only a writer
/// that keeps changing the same keys can exhaust it.
const MAX_DECISIONS: u32 = 8;

impl<S: Store> Engine<S> {
    pub(super) async fn change(
        &mut self,
        change: &ValidChange,
        origin: Origin<'_>,
    ) -> Result<ChangeSummary, ChangeFailure> {
        for _ in 0..MAX_DECISIONS {
            let decision = change.decide_with(
                &self.fleet,
                origin.source,
                self.cfg.strict_sources,
                self.cfg.lifecycle,
            )?;
            let wrong_owner = match &decision.outcome {
                Outcome::NoOp => return Ok(ChangeSummary::Unchanged { state: decision.to }),
                Outcome::Write { wrong_owner } => wrong_owner,
                Outcome::StepsTaken { taken, wrong_owner } => {
                    tracing::info!(
                        scenario = %change.resource().name(),
                        source = %origin.source,
                        taken = ?taken.iter().map(|s| format!("{} → {} for {}", s.from.short(), s.to.short(), s.owner)).collect::<Vec<_>>(),
                        "scenario completed before anyone allowed it; the StateManager takes the steps nobody sent (Pullpiri mode)"
                    );
                    wrong_owner
                }
            };
            if let Some(owners) = wrong_owner {
                tracing::warn!(
                    scenario = %change.resource().name(),
                    source = %origin.source,
                    expected = ?owners.iter().map(|o| o.name()).collect::<Vec<_>>(),
                    "scenario transition from a component that does not own it; accepted"
                );
            }
            match self
                .execute(&decision.event, origin, OnConflict::Return)
                .await
            {
                Ok(Some(_)) => {
                    return Ok(ChangeSummary::Changed {
                        from: decision.from,
                        to: decision.to,
                    });
                }
                Ok(None) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::Contention(MAX_DECISIONS).into())
    }
}

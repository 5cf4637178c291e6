//! Notes: what happened to a resource without moving it (a fault Timpani reported),
//! recorded in its history at its present state (`docs/pullpiri.md`).

use state_core::{history, kind::Resource};

use super::{Engine, EngineError, write::Written};
use crate::store::Store;

impl<S: Store> Engine<S> {
    /// Records `why` in the history of the first of `candidates` the fleet holds, at its
    /// present state.
    pub(super) async fn note(
        &mut self,
        candidates: &[Resource],
        why: &str,
        source: &str,
    ) -> Result<Option<Resource>, EngineError> {
        let Some((resource, state)) = candidates
            .iter()
            .find_map(|r| Some((r, self.fleet.state(r)?)))
        else {
            return Ok(None);
        };
        if self.history.keep() == 0 {
            return Ok(Some(resource.clone()));
        }
        let at = history::Origin {
            source,
            transition_id: "",
            time_ns: crate::lists::now_ns(),
        };
        let mut writes = Vec::new();
        self.history.noted(resource, state, why, &at, &mut writes);
        match self.commit(writes.iter()).await {
            Ok(Written::All) => Ok(Some(resource.clone())),
            Ok(Written::Conflict) => Err(EngineError::Contention(1)),
            Err(e) => Err(EngineError::Unavailable(e)),
        }
    }
}

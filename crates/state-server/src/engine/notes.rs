//! Notes: what happened to a resource without moving it (a fault Timpani reported),
//! recorded in its history at its present state (`docs/pullpiri.md`).

use state_core::{
    history,
    kind::{Resource, State},
    writes::KeyWrite,
};

use super::{Engine, EngineError, write::Written};
use crate::store::Store;

impl<S: Store> Engine<S> {
    /// Appends to `out` the history record of a note on `resource` at `state`, from
    /// `source` (nothing while history is off).
    pub(super) fn noted(
        &mut self,
        resource: &Resource,
        state: State,
        why: &str,
        source: &str,
        out: &mut Vec<KeyWrite>,
    ) {
        if self.history.keep() == 0 {
            return;
        }
        let at = history::Origin {
            source,
            transition_id: "",
            time_ns: crate::lists::now_ns(),
        };
        self.history.noted(resource, state, why, &at, out);
    }

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
        let mut writes = Vec::new();
        self.noted(resource, state, why, source, &mut writes);
        if writes.is_empty() {
            return Ok(Some(resource.clone()));
        }
        match self.commit(writes.iter()).await {
            Ok(Written::All) => Ok(Some(resource.clone())),
            Ok(Written::Conflict) => Err(EngineError::Contention(1)),
            Err(e) => Err(EngineError::Unavailable(e)),
        }
    }
}

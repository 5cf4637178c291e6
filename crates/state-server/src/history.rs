//! `GetHistory` (`docs/contract.md#history`): the recorded transitions of one resource, of a
//! kind, or of the whole fleet, read from the store (so every replica answers the same), merged
//! into one timeline by revision.

use serde::Serialize;
use state_core::history::{HISTORY_PREFIX, Record, history_prefix, parse_history_key};

use crate::store::{Store, StoreError};

/// Entries returned when the request names no limit.
pub const DEFAULT_LIMIT: usize = 1000;

/// The kinds that have history.
const KINDS: [&str; 3] = ["model", "package", "scenario"];

/// One recorded transition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The store revision of the transition.
    pub revision: i64,
    pub kind: String,
    pub name: String,
    #[serde(flatten)]
    pub record: RecordOut,
}

/// A record's fields, as sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordOut {
    pub time_ns: i64,
    pub from: String,
    pub to: String,
    pub source: String,
    pub transition_id: String,
    pub why: String,
}

/// What went wrong reading history.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The request names a kind without history, or an invalid name.
    #[error("{0}")]
    Invalid(String),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The newest `limit` entries (0: [`DEFAULT_LIMIT`]) of `kind` (empty: all) and `name` (empty:
/// every resource of the kind), oldest first.
pub async fn read(
    store: &impl Store,
    kind: &str,
    name: &str,
    limit: usize,
) -> Result<Vec<Entry>, HistoryError> {
    let prefix = match (kind, name) {
        ("", "") => HISTORY_PREFIX.to_owned(),
        ("", _) => return Err(HistoryError::Invalid("a name needs a kind".into())),
        (k, _) if !KINDS.contains(&k) => {
            return Err(HistoryError::Invalid(format!(
                "kind {k:?} has no history; use model, package or scenario"
            )));
        }
        (k, "") => format!("{HISTORY_PREFIX}{k}/"),
        (_, n) if n.contains('/') => {
            return Err(HistoryError::Invalid(format!(
                "name {n:?} contains '/', which no resource name does"
            )));
        }
        (k, n) => history_prefix(k, n),
    };
    let limit = if limit == 0 { DEFAULT_LIMIT } else { limit };
    let snapshot = store.load(&prefix).await?;
    let mut entries: Vec<Entry> = snapshot
        .kvs
        .into_iter()
        .filter_map(|kv| {
            let (kind, name, _) = parse_history_key(&kv.key)?;
            let r = match Record::decode(&kv.value) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(key = %kv.key, error = %e, "skipping an unreadable history record");
                    return None;
                }
            };
            Some(Entry {
                revision: kv.mod_revision,
                kind: kind.to_owned(),
                name: name.to_owned(),
                record: RecordOut {
                    time_ns: r.time_ns,
                    from: r.from,
                    to: r.to,
                    source: r.source,
                    transition_id: r.transition_id,
                    why: r.why,
                },
            })
        })
        .collect();
    // One transaction can record several resources: key order breaks ties.
    entries.sort_by_key(|e| e.revision);
    let skip = entries.len().saturating_sub(limit);
    entries.drain(..skip);
    Ok(entries)
}

//! Transition history (`docs/contract.md#history`): every model, package and scenario
//! transition is recorded in the store in the same transaction as the state it describes, so
//! history never disagrees with state. The last `keep` records of each resource are kept; the
//! transaction that adds one removes those beyond.
//!
//! A record lives at `/history/{kind}/{name}/{seq}`, `seq` counting up per resource (zero-padded
//! so key order is time order). Its store revision, read back with it, is the revision of the
//! transition, so records of different resources merge into one timeline. The value is one line
//! of tab-separated fields: `1`, time (ns since the epoch), from, to, source, transition id,
//! why. States are stored spellings, `""` when absent or removed.

use alloc::{
    borrow::Cow,
    collections::VecDeque,
    format,
    string::{String, ToString},
    vec::Vec,
};
use core::fmt::Write as _;

use hashbrown::HashMap;

use crate::{
    ModelState, PackageState, ScenarioState,
    eval::{MODEL_TABLE, PACKAGE_TABLE},
    fleet::{Update, Why},
    kind::{Resource, State},
    lifecycle,
    scenario::SCENARIO_TRANSITIONS,
    writes::KeyWrite,
};

/// The source of a record of a step the daemon took on a caller's behalf.
pub const TAKEN_BY: &str = "StateManager";

/// Prefix of every history record.
pub const HISTORY_PREFIX: &str = "/history/";

/// Longest source or transition id kept in a record, in bytes: both come from callers, and a
/// record must stay small whatever they send.
pub const MAX_FIELD: usize = 256;

/// Why a model's key was deleted by key GC.
const MODEL_GONE: &str = "no container and no package refers to the model any more";
/// Why a package's key was deleted.
const PACKAGE_GONE: &str = "the package has no artifact, no models and no direct state any more";

/// `/history/{kind}/{name}/`: every record of one resource.
pub fn history_prefix(kind: &str, name: &str) -> String {
    format!("{HISTORY_PREFIX}{kind}/{name}/")
}

/// The key of a resource's record number `seq`.
pub fn history_key(kind: &str, name: &str, seq: u64) -> String {
    format!("{HISTORY_PREFIX}{kind}/{name}/{seq:012}")
}

/// `(kind, name, seq)` of a record key; `None` for any other key.
pub fn parse_history_key(key: &str) -> Option<(&str, &str, u64)> {
    let rest = key.strip_prefix(HISTORY_PREFIX)?;
    let (kind, rest) = rest.split_once('/')?;
    let (name, seq) = rest.rsplit_once('/')?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    Some((kind, name, seq.parse().ok()?))
}

/// One recorded transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// When the leader stored it, in nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// The state before, stored spelling; `""` when it had none.
    pub from: String,
    /// The state after, stored spelling; `""` when the resource was removed.
    pub to: String,
    /// Who caused it: a node (`NodeAgent/{node}`) or a component.
    pub source: String,
    /// The transition id the request carried, if any.
    pub transition_id: String,
    /// Why, in the contract's words: the deciding table row, or how it was set.
    pub why: String,
}

/// A stored record that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected a history record: version 1 and six tab-separated fields")]
pub struct RecordError;

impl Record {
    /// The stored value.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(64 + self.why.len());
        let _ = write!(out, "1\t{}", self.time_ns);
        for field in [
            &self.from,
            &self.to,
            &self.source,
            &self.transition_id,
            &self.why,
        ] {
            out.push('\t');
            out.push_str(&clean(field));
        }
        out
    }

    /// Reads a stored value back.
    pub fn decode(value: &str) -> Result<Record, RecordError> {
        let mut f = value.split('\t');
        let mut next = || f.next().ok_or(RecordError);
        if next()? != "1" {
            return Err(RecordError);
        }
        let time_ns = next()?.parse().map_err(|_| RecordError)?;
        let mut text = || next().map(ToString::to_string);
        let record = Record {
            time_ns,
            from: text()?,
            to: text()?,
            source: text()?,
            transition_id: text()?,
            why: text()?,
        };
        Ok(record)
    }
}

/// A field as stored: control characters (tabs, line breaks) become spaces, and it is cut to
/// [`MAX_FIELD`] bytes at a character boundary.
fn clean(field: &str) -> Cow<'_, str> {
    let mut end = field.len().min(MAX_FIELD);
    while !field.is_char_boundary(end) {
        end -= 1;
    }
    let field = &field[..end];
    if field.chars().any(char::is_control) {
        Cow::Owned(
            field
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(field)
    }
}

/// Who caused the transitions of one plan, and when.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    pub source: &'a str,
    pub transition_id: &'a str,
    pub time_ns: i64,
}

/// The record numbers each resource has stored, so the leader knows the next number and which
/// records to remove. Rebuilt from the store's keys at every load.
#[derive(Clone, Debug, Default)]
pub struct HistoryLog {
    keep: usize,
    /// Resource prefix -> its record numbers, oldest first.
    kept: HashMap<String, VecDeque<u64>>,
}

impl HistoryLog {
    /// A log that keeps the last `keep` records per resource; 0 records nothing.
    pub fn new(keep: usize) -> HistoryLog {
        HistoryLog {
            keep,
            kept: HashMap::new(),
        }
    }

    /// Records kept per resource.
    pub fn keep(&self) -> usize {
        self.keep
    }

    /// Forgets every record number (before a load).
    pub fn clear(&mut self) {
        self.kept.clear();
    }

    /// Notes a key read from the store. Returns whether it is a history record.
    pub fn loaded(&mut self, key: &str) -> bool {
        let Some((kind, name, seq)) = parse_history_key(key) else {
            return key.starts_with(HISTORY_PREFIX);
        };
        if self.keep > 0 {
            let seqs = self.kept.entry(history_prefix(kind, name)).or_default();
            // Keys arrive in key order, which is number order; anything else is sorted in.
            match seqs.back() {
                Some(last) if *last > seq => {
                    let at = seqs.partition_point(|s| *s < seq);
                    seqs.insert(at, seq);
                }
                _ => seqs.push_back(seq),
            }
        }
        true
    }

    /// Appends to `out` what records one transition: its record, marked as a record, then the
    /// deletion of the oldest records beyond `keep`.
    fn append(&mut self, kind: &str, name: &str, record: &Record, out: &mut Vec<KeyWrite>) {
        if self.keep == 0 {
            return;
        }
        let seqs = self.kept.entry(history_prefix(kind, name)).or_default();
        let seq = seqs.back().map_or(1, |s| s + 1);
        out.push(KeyWrite::record(
            history_key(kind, name, seq),
            Some(Cow::Owned(record.encode())),
        ));
        seqs.push_back(seq);
        while seqs.len() > self.keep {
            if let Some(old) = seqs.pop_front() {
                out.push(KeyWrite::record(history_key(kind, name, old), None));
            }
        }
    }

    /// Records a model's update after its state write.
    pub(crate) fn model(
        &mut self,
        u: &Update<crate::name::ModelName, ModelState>,
        o: &Origin<'_>,
        out: &mut Vec<KeyWrite>,
    ) {
        let why = match u.why {
            Why::Row(row) => MODEL_TABLE.rows.get(row).map_or("", |r| r.text),
            other => how(other),
        };
        let record = record(o, u.old.map(ModelState::stored), Some(u.new.stored()), why);
        self.append("model", u.name.as_str(), &record, out);
    }

    /// Records a package's update after its state write.
    pub(crate) fn package(
        &mut self,
        u: &Update<crate::name::PackageName, PackageState>,
        o: &Origin<'_>,
        out: &mut Vec<KeyWrite>,
    ) {
        let why = match u.why {
            Why::Row(row) => PACKAGE_TABLE.rows.get(row).map_or("", |r| r.text),
            other => how(other),
        };
        let record = record(
            o,
            u.old.map(PackageState::stored),
            Some(u.new.stored()),
            why,
        );
        self.append("package", u.name.as_str(), &record, out);
    }

    /// Records a scenario's update after its state write.
    pub(crate) fn scenario(
        &mut self,
        u: &Update<crate::name::ScenarioName, ScenarioState>,
        o: &Origin<'_>,
        out: &mut Vec<KeyWrite>,
    ) {
        let why = match u.why {
            Why::Scenario => scenario_row(u.old, u.new),
            Why::StepsTaken => {
                // One record per step: those nobody sent as the daemon's, the last as the
                // caller's, so the history reads as the lifecycle it went through.
                let steps = u
                    .old
                    .map_or_else(Vec::new, |old| lifecycle::steps(old, u.new));
                let (from, taken) = match steps.split_last() {
                    Some((last, taken)) => (Some(last.from), taken),
                    None => (u.old, &[][..]),
                };
                // A record added and removed by one transaction would name its key twice,
                // which etcd refuses: with room for fewer, the newest steps are recorded.
                let taken = &taken[taken.len().saturating_sub(self.keep.saturating_sub(1))..];
                let on_behalf = Origin {
                    source: TAKEN_BY,
                    ..*o
                };
                for step in taken {
                    let why = format!(
                        "taken by the StateManager: {} sent no {} → {}, and {} reported {} (Pullpiri mode)",
                        step.owner,
                        step.from.short(),
                        step.to.short(),
                        o.source,
                        u.new.short()
                    );
                    let from = Some(step.from.stored());
                    let record = record(&on_behalf, from, Some(step.to.stored()), &why);
                    self.append("scenario", u.name.as_str(), &record, out);
                }
                let why = scenario_row(from, u.new);
                let record = record(
                    o,
                    from.map(ScenarioState::stored),
                    Some(u.new.stored()),
                    &why,
                );
                return self.append("scenario", u.name.as_str(), &record, out);
            }
            other => how(other).into(),
        };
        let record = record(
            o,
            u.old.map(ScenarioState::stored),
            Some(u.new.stored()),
            &why,
        );
        self.append("scenario", u.name.as_str(), &record, out);
    }

    /// Records something that happened to a resource without moving it (a refused Reconcile,
    /// a fault Timpani reported): from and to are both its state now, `why` says what.
    pub fn noted(
        &mut self,
        resource: &Resource,
        state: State,
        why: &str,
        o: &Origin<'_>,
        out: &mut Vec<KeyWrite>,
    ) {
        let state = Some(state.stored());
        let record = record(o, state, state, why);
        self.append(resource.kind().short(), resource.name(), &record, out);
    }

    /// Records the deletion of a model's (`kind` "model") or package's key.
    pub(crate) fn removed(
        &mut self,
        kind: &'static str,
        name: &str,
        o: &Origin<'_>,
        out: &mut Vec<KeyWrite>,
    ) {
        let why = if kind == "model" {
            MODEL_GONE
        } else {
            PACKAGE_GONE
        };
        let record = record(o, None, None, why);
        self.append(kind, name, &record, out);
    }
}

fn record(o: &Origin<'_>, from: Option<&str>, to: Option<&str>, why: &str) -> Record {
    Record {
        time_ns: o.time_ns,
        from: from.unwrap_or_default().into(),
        to: to.unwrap_or_default().into(),
        source: o.source.into(),
        transition_id: o.transition_id.into(),
        why: why.into(),
    }
}

/// A state set other than by a table row, in words.
fn how(why: Why) -> &'static str {
    match why {
        Why::Row(_) | Why::Scenario | Why::StepsTaken => "",
        Why::Direct => "set directly by its source",
        Why::Repaired => "derived again from the stored inputs while loading",
        Why::WrittenBack => "written back: another program deleted the key",
    }
}

/// The scenario table's row for a transition, in words.
fn scenario_row(from: Option<ScenarioState>, to: ScenarioState) -> String {
    let row = SCENARIO_TRANSITIONS
        .iter()
        .find(|t| t.from == from && t.to == to);
    let from = from.map_or("none", ScenarioState::short);
    match row {
        Some(t) => {
            let owners: Vec<&str> = t.owners.iter().map(|c| c.name()).collect();
            format!(
                "scenario table: {from} → {}, owned by {}",
                to.short(),
                owners.join(", ")
            )
        }
        None => format!("scenario table has no row {from} → {}", to.short()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::{ModelName, PackageName};

    fn origin() -> Origin<'static> {
        Origin {
            source: "NodeAgent/n1",
            transition_id: "t-1",
            time_ns: 1_700_000_000_000_000_000,
        }
    }

    #[test]
    fn records_round_trip_and_hostile_fields_stay_one_line() {
        let r = Record {
            time_ns: 42,
            from: "MODEL_STATE_RUNNING".into(),
            to: "".into(),
            source: "evil\tsource\nline".into(),
            transition_id: "x".repeat(1000),
            why: "no containers".into(),
        };
        let encoded = r.encode();
        assert!(!encoded.contains('\n'));
        let back = Record::decode(&encoded).unwrap();
        assert_eq!(back.source, "evil source line");
        assert_eq!(back.transition_id.len(), MAX_FIELD);
        assert_eq!(
            (back.time_ns, back.from.as_str(), back.to.as_str()),
            (42, "MODEL_STATE_RUNNING", "")
        );
        assert_eq!(Record::decode("2\t1\ta\tb\tc\td\te"), Err(RecordError));
        assert_eq!(Record::decode("1\tx\ta\tb\tc\td\te"), Err(RecordError));
        assert_eq!(Record::decode("1\t1\ta\tb"), Err(RecordError));
        // A multi-byte character is never cut in half.
        let long = "é".repeat(200);
        assert!(clean(&long).len() <= MAX_FIELD);
    }

    #[test]
    fn keys_parse_back() {
        let k = history_key("package", "p-1", 7);
        assert_eq!(k, "/history/package/p-1/000000000007");
        assert_eq!(parse_history_key(&k), Some(("package", "p-1", 7)));
        assert_eq!(parse_history_key("/history/package/p-1/x"), None);
        assert_eq!(parse_history_key("/package/p-1/state"), None);
    }

    #[test]
    fn the_log_numbers_records_and_removes_the_oldest_beyond_keep() {
        let mut log = HistoryLog::new(2);
        // Loaded out of order, with one more than kept (keep was lowered).
        for seq in [3, 1, 2] {
            assert!(log.loaded(&history_key("model", "m", seq)));
        }
        assert!(!log.loaded("/model/m/state"));
        let u = Update {
            name: ModelName::new("m").unwrap(),
            old: Some(ModelState::Running),
            new: ModelState::Dead,
            why: Why::Row(2),
        };
        let mut out = Vec::new();
        log.model(&u, &origin(), &mut out);
        let keys: Vec<_> = out
            .iter()
            .map(|w| (w.key.as_str(), w.value.is_some()))
            .collect();
        assert_eq!(
            keys,
            [
                ("/history/model/m/000000000004", true),
                ("/history/model/m/000000000001", false),
                ("/history/model/m/000000000002", false),
            ]
        );
        assert!(out.iter().all(|w| w.record));
        let r = Record::decode(out[0].value.as_deref().unwrap()).unwrap();
        assert_eq!(r.why, MODEL_TABLE.rows[2].text);
        assert_eq!(
            (r.from.as_str(), r.to.as_str()),
            ("MODEL_STATE_RUNNING", "MODEL_STATE_DEAD")
        );
        // Off: nothing recorded.
        let mut off = HistoryLog::new(0);
        let mut none = Vec::new();
        off.removed(
            "package",
            PackageName::new("p").unwrap().as_str(),
            &origin(),
            &mut none,
        );
        assert!(none.is_empty());
    }

    #[test]
    fn scenario_records_name_the_table_row_and_its_owners() {
        let text = scenario_row(Some(ScenarioState::Waiting), ScenarioState::Satisfied);
        assert!(
            text.starts_with("scenario table: waiting → satisfied, owned by"),
            "{text}"
        );
        assert!(
            scenario_row(Some(ScenarioState::Idle), ScenarioState::Completed).contains("no row")
        );
    }
}

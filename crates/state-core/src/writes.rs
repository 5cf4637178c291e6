//! The store writes that carry a plan's [`Changes`]: which key gets which value, and which key
//! is deleted (`docs/contract.md#store-keys`).
//!
//! The order is the order a split write is stored in (`docs/contract.md#promises`): node
//! memberships and containers, then models, then packages, then scenarios, then error-episode
//! records (`docs/contract.md#reconcile`), so a reader of a
//! split write never sees a parent state whose children are not stored yet. Group commit merges
//! several plans' sets into one transaction; a key written by two plans keeps its first place
//! and its last value.

use alloc::{borrow::Cow, string::String, vec::Vec};

use hashbrown::HashMap;

use crate::{
    episode::{Delivery, Episode, episode_key},
    fleet::Changes,
    history::{HistoryLog, Origin},
    key::{container_key, node_key},
    kind::{ModelKind, PackageKind, ScenarioKind, Stateful},
};

/// One key written: `Some(value)` puts, `None` deletes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyWrite {
    pub key: String,
    /// Its new value; `None` deletes it.
    pub value: Option<Cow<'static, str>>,
    /// A history record ([`crate::history`]) of the state written before it: stored in the
    /// same transaction as that write, and not compared, since only the fenced leader writes
    /// records and each is written once.
    pub record: bool,
}

impl KeyWrite {
    /// A state write.
    pub fn new(key: String, value: Option<Cow<'static, str>>) -> KeyWrite {
        KeyWrite {
            key,
            value,
            record: false,
        }
    }

    /// A history record's write.
    pub fn record(key: String, value: Option<Cow<'static, str>>) -> KeyWrite {
        KeyWrite {
            key,
            value,
            record: true,
        }
    }

    /// What it adds to a store request, in bytes, roughly from above (see [`write_cost`]).
    pub fn cost(&self) -> usize {
        write_cost(&self.key, self.value.as_deref().unwrap_or(""))
    }
}

/// What writing `value` under `key` adds to a store request, in bytes, roughly from above:
/// the key twice (its compare and its put or delete), the value, and protobuf framing.
pub fn write_cost(key: &str, value: &str) -> usize {
    2 * key.len() + value.len() + 32
}

/// `items` in order, in runs of at most `limit` (at least 1) and at most `max_bytes` of
/// `cost` (a single larger item goes alone): how writes larger than one store transaction
/// are split.
pub fn chunk<T>(
    items: &[T],
    limit: usize,
    max_bytes: usize,
    cost: impl Fn(&T) -> usize,
) -> Vec<&[T]> {
    chunk_glued(items, limit, max_bytes, cost, |_| false)
}

/// As [`chunk`], but an item for which `glued` holds stays in the run of the item before it
/// (a history record with its state), so runs are cut only between groups.
fn chunk_glued<T>(
    items: &[T],
    limit: usize,
    max_bytes: usize,
    cost: impl Fn(&T) -> usize,
    glued: impl Fn(&T) -> bool,
) -> Vec<&[T]> {
    let limit = limit.max(1);
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    let mut i = 0;
    while i < items.len() {
        let mut end = i + 1;
        while end < items.len() && glued(&items[end]) {
            end += 1;
        }
        let c: usize = items[i..end].iter().map(&cost).sum();
        if i > start && (end - start > limit || bytes + c > max_bytes) {
            out.push(&items[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += c;
        i = end;
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
}

/// Keys to write in one go, each at most once, in the order they were first written.
#[derive(Clone, Debug, Default)]
pub struct WriteSet {
    writes: Vec<KeyWrite>,
    /// Key -> its index in `writes`, so a later write of the same key replaces the earlier.
    /// Built on the first [`WriteSet::put`]: a plan's own set (the common case) never needs it,
    /// only a set that others are merged into.
    index: HashMap<String, usize>,
}

impl WriteSet {
    /// The writes that store `changes`.
    pub fn of(changes: &Changes) -> WriteSet {
        WriteSet::recorded(changes, None)
    }

    /// The writes that store `changes`, each model, package and scenario transition followed
    /// by its history record when `history` is given ([`crate::history`]).
    pub fn recorded(
        changes: &Changes,
        mut history: Option<(&mut HistoryLog, &Origin<'_>)>,
    ) -> WriteSet {
        let mut writes = Vec::with_capacity(changes.write_count());
        let add = |writes: &mut Vec<KeyWrite>, key: String, value: Option<Cow<'static, str>>| {
            writes.push(KeyWrite::new(key, value));
        };
        let w = &mut writes;
        for (node, members) in &changes.nodes {
            add(w, node_key(node), members.clone().map(Cow::Owned));
        }
        for (name, state) in &changes.container_puts {
            add(w, container_key(name), Some(state.stored().into()));
        }
        for name in &changes.container_deletes {
            add(w, container_key(name), None);
        }
        for u in &changes.models {
            add(w, ModelKind::key(&u.name), Some(u.new.stored().into()));
            if let Some((log, o)) = &mut history {
                log.model(u, o, w);
            }
        }
        for name in &changes.model_deletes {
            add(w, ModelKind::key(name), None);
            if let Some((log, o)) = &mut history {
                log.removed("model", name.as_str(), o, w);
            }
        }
        for u in &changes.packages {
            add(w, PackageKind::key(&u.name), Some(u.new.stored().into()));
            if let Some((log, o)) = &mut history {
                log.package(u, o, w);
            }
        }
        for name in &changes.package_deletes {
            add(w, PackageKind::key(name), None);
            if let Some((log, o)) = &mut history {
                log.removed("package", name.as_str(), o, w);
            }
        }
        for u in &changes.scenarios {
            add(w, ScenarioKind::key(&u.name), Some(u.new.stored().into()));
            if let Some((log, o)) = &mut history {
                log.scenario(u, o, w);
            }
        }
        // Each error episode is recorded with the package state that opens or closes it.
        for (package, scenario) in changes.episodes() {
            let value = scenario.map(|scenario| {
                let episode = Episode {
                    scenario: scenario.clone(),
                    delivery: Delivery::Owed,
                };
                Cow::Owned(episode.encode())
            });
            add(w, episode_key(package), value);
        }
        // One plan writes each key once; a repeat would be a planner bug that etcd refuses
        // (a transaction may not touch a key twice) but a merged set would hide.
        debug_assert!(
            {
                let mut seen = hashbrown::HashSet::new();
                writes.iter().all(|w| seen.insert(&w.key))
            },
            "a key written twice by one plan"
        );
        WriteSet {
            writes,
            index: HashMap::new(),
        }
    }

    /// Writes `key`: puts `value`, or deletes for `None`. A key written before keeps its place
    /// and takes the new value.
    pub fn put(&mut self, key: String, value: Option<Cow<'static, str>>) {
        self.put_write(KeyWrite::new(key, value));
    }

    /// As [`WriteSet::put`], keeping whether it is a history record.
    fn put_write(&mut self, write: KeyWrite) {
        if !self.indexed() {
            self.index = self
                .writes
                .iter()
                .enumerate()
                .map(|(i, w)| (w.key.clone(), i))
                .collect();
        }
        match self.index.get(&write.key) {
            Some(&i) => self.writes[i] = write,
            None => {
                self.index.insert(write.key.clone(), self.writes.len());
                self.writes.push(write);
            }
        }
    }

    /// Adds every write of `other`, later writes winning.
    pub fn merge(&mut self, other: WriteSet) {
        for w in other.writes {
            self.put_write(w);
        }
    }

    /// How many keys `self` would hold after merging `other`.
    pub fn len_with(&self, other: &WriteSet) -> usize {
        let new = other.writes.iter().filter(|w| !self.contains(&w.key));
        self.len() + new.count()
    }

    /// Whether `key` is written. A set that nothing was merged into has no index yet; its few
    /// keys are looked through directly.
    fn contains(&self, key: &str) -> bool {
        if self.indexed() {
            self.index.contains_key(key)
        } else {
            self.writes.iter().any(|w| w.key == key)
        }
    }

    fn indexed(&self) -> bool {
        self.index.len() == self.writes.len()
    }

    /// Number of keys written.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// Whether nothing is written.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// The writes, in order.
    pub fn iter(&self) -> core::slice::Iter<'_, KeyWrite> {
        self.writes.iter()
    }

    /// The writes in order, in runs of at most `limit` writes (at least 1) and at most
    /// `max_bytes` of [`KeyWrite::cost`] (a single larger write goes alone): how a set larger
    /// than a store transaction is stored.
    ///
    /// A history record stays in the run of the state it records.
    pub fn chunks(&self, limit: usize, max_bytes: usize) -> Vec<&[KeyWrite]> {
        chunk_glued(&self.writes, limit, max_bytes, KeyWrite::cost, |w| w.record)
    }

    /// The request bytes these writes take ([`KeyWrite::cost`], summed).
    pub fn cost(&self) -> usize {
        self.writes.iter().map(KeyWrite::cost).sum()
    }
}

/// Equal when they write the same keys, values and order (whether or not indexed yet).
impl PartialEq for WriteSet {
    fn eq(&self, other: &Self) -> bool {
        self.writes == other.writes
    }
}

impl Eq for WriteSet {}

impl<'a> IntoIterator for &'a WriteSet {
    type Item = &'a KeyWrite;
    type IntoIter = core::slice::Iter<'a, KeyWrite>;
    fn into_iter(self) -> Self::IntoIter {
        self.writes.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, Option<&'static str>)]) -> WriteSet {
        let mut s = WriteSet::default();
        for (k, v) in pairs {
            s.put((*k).into(), v.map(Cow::Borrowed));
        }
        s
    }

    #[test]
    fn a_key_written_twice_keeps_its_place_and_the_last_value() {
        let mut a = set(&[("/a", Some("1")), ("/b", Some("2"))]);
        let b = set(&[("/c", None), ("/a", None)]);
        assert_eq!(a.len_with(&b), 3);
        a.merge(b);
        let got: Vec<_> = a
            .iter()
            .map(|w| (w.key.as_str(), w.value.as_deref()))
            .collect();
        assert_eq!(got, [("/a", None), ("/b", Some("2")), ("/c", None)]);
        assert_eq!(a.chunks(0, usize::MAX).len(), 3);
        assert_eq!(a.chunks(2, usize::MAX).len(), 2);
        // Bytes bound a chunk too; a write larger than the bound goes alone.
        let cost = |k: &str, v: usize| 2 * k.len() + v + 32;
        assert_eq!(a.cost(), cost("/a", 0) + cost("/b", 1) + cost("/c", 0));
        assert_eq!(a.chunks(10, cost("/a", 0) + cost("/b", 1)).len(), 2);
        assert_eq!(a.chunks(10, 1).len(), 3);
    }

    #[test]
    fn a_plan_set_merges_like_any_other() {
        use crate::{ContainerState, name::ContainerName};
        let name = |s: &str| ContainerName::new(s).unwrap();
        let changes = Changes {
            container_puts: alloc::vec![
                (name("a"), ContainerState::Running),
                (name("b"), ContainerState::Dead),
            ],
            ..Changes::default()
        };
        let mut plan = WriteSet::of(&changes);
        let other = set(&[("/container/b/state", None), ("/c", Some("x"))]);
        assert_eq!(plan.len_with(&other), 3);
        plan.merge(other);
        let got: Vec<_> = plan
            .iter()
            .map(|w| (w.key.as_str(), w.value.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("/container/a/state", Some("running")),
                ("/container/b/state", None),
                ("/c", Some("x"))
            ]
        );
        assert_eq!(plan, {
            let mut again = WriteSet::of(&changes);
            again.merge(set(&[("/container/b/state", None), ("/c", Some("x"))]));
            again
        });
    }

    #[test]
    fn a_history_record_is_never_split_from_its_state() {
        use crate::{
            ModelState,
            fleet::{Update, Why},
            history::{HistoryLog, Origin},
            name::ModelName,
        };
        let models = ["a", "b", "c"].map(|m| Update {
            name: ModelName::new(m).unwrap(),
            old: None,
            new: ModelState::Running,
            why: Why::Row(0),
        });
        let changes = Changes {
            models: models.to_vec(),
            ..Changes::default()
        };
        let mut log = HistoryLog::new(1);
        let o = Origin {
            source: "test",
            transition_id: "",
            time_ns: 1,
        };
        let first = WriteSet::recorded(&changes, Some((&mut log, &o)));
        assert_eq!(first.len(), 6);
        // Limits of 3 and 4: cut only before a state write, whatever the limit.
        for limit in [3, 4] {
            for run in first.chunks(limit, usize::MAX) {
                assert!(
                    !run[0].record,
                    "a run starts with a record at limit {limit}"
                );
                assert!(run.len() <= limit);
            }
        }
        // The second transition of each model also deletes the first record (keep 1).
        let second = WriteSet::recorded(&changes, Some((&mut log, &o)));
        assert_eq!(second.len(), 9);
        let runs = second.chunks(3, usize::MAX);
        assert_eq!(runs.len(), 3);
        assert!(
            runs.iter()
                .all(|r| !r[0].record && r[1].record && r[2].record)
        );
    }
}

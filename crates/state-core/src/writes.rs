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
    key::{container_key, node_key},
    kind::{ModelKind, PackageKind, ScenarioKind, Stateful},
};

/// One key written: `Some(value)` puts, `None` deletes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyWrite {
    pub key: String,
    /// Its new value; `None` deletes it.
    pub value: Option<Cow<'static, str>>,
}

impl KeyWrite {
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
    let limit = limit.max(1);
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let c = cost(item);
        if i > start && (i - start == limit || bytes + c > max_bytes) {
            out.push(&items[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += c;
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
        let mut writes = Vec::with_capacity(changes.write_count());
        let mut add = |key: String, value: Option<Cow<'static, str>>| {
            writes.push(KeyWrite { key, value });
        };
        for (node, members) in &changes.nodes {
            add(node_key(node), members.clone().map(Cow::Owned));
        }
        for (name, state) in &changes.container_puts {
            add(container_key(name), Some(state.stored().into()));
        }
        for name in &changes.container_deletes {
            add(container_key(name), None);
        }
        for u in &changes.models {
            add(ModelKind::key(&u.name), Some(u.new.stored().into()));
        }
        for name in &changes.model_deletes {
            add(ModelKind::key(name), None);
        }
        for u in &changes.packages {
            add(PackageKind::key(&u.name), Some(u.new.stored().into()));
        }
        for name in &changes.package_deletes {
            add(PackageKind::key(name), None);
        }
        for u in &changes.scenarios {
            add(ScenarioKind::key(&u.name), Some(u.new.stored().into()));
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
            add(episode_key(package), value);
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
        if !self.indexed() {
            self.index = self
                .writes
                .iter()
                .enumerate()
                .map(|(i, w)| (w.key.clone(), i))
                .collect();
        }
        match self.index.get(&key) {
            Some(&i) => self.writes[i].value = value,
            None => {
                self.index.insert(key.clone(), self.writes.len());
                self.writes.push(KeyWrite { key, value });
            }
        }
    }

    /// Adds every write of `other`, later writes winning.
    pub fn merge(&mut self, other: WriteSet) {
        for w in other.writes {
            self.put(w.key, w.value);
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
    pub fn chunks(&self, limit: usize, max_bytes: usize) -> Vec<&[KeyWrite]> {
        chunk(&self.writes, limit, max_bytes, KeyWrite::cost)
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
}

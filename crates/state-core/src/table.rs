//! Decision tables as data: rows of conditions over per-state counts of children, first
//! matching row wins (`docs/contract.md#model-table`). The model and package tables in [`crate::eval`] are values of
//! [`Table`]; the daemon, the browser explorer and the benchmarks all evaluate them here.

use core::{fmt, marker::PhantomData};

/// A state that can be counted: a dense index below [`MAX_STATES`].
pub trait Counted: Copy + Eq + fmt::Debug + 'static {
    /// Every state, in index order.
    const ALL: &'static [Self];
    /// Dense index of this state.
    fn index(self) -> usize;
    /// Lower-case name, for rendering conditions.
    fn short(self) -> &'static str;
}

/// Upper bound on the number of states of a counted kind.
pub const MAX_STATES: usize = 8;

macro_rules! counted {
    ($($t:ty),+) => {$(
        impl Counted for $t {
            const ALL: &'static [Self] = <$t>::ALL;
            fn index(self) -> usize {
                <$t>::index(self)
            }
            fn short(self) -> &'static str {
                <$t>::short(self)
            }
        }
    )+};
}
counted!(
    crate::ContainerState,
    crate::ModelState,
    crate::PackageState
);

/// How many children are in each state. Updating it is O(1), so a parent is re-evaluated in
/// O(1) whatever its number of children.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Counts<S> {
    total: u32,
    per: [u32; MAX_STATES],
    _state: PhantomData<S>,
}

impl<S: Counted> Default for Counts<S> {
    fn default() -> Self {
        Counts {
            total: 0,
            per: [0; MAX_STATES],
            _state: PhantomData,
        }
    }
}

impl<S: Counted> fmt::Debug for Counts<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for s in S::ALL {
            if self.of(*s) > 0 {
                map.entry(&s.short(), &self.of(*s));
            }
        }
        map.finish()
    }
}

impl<S: Counted> Counts<S> {
    /// Counts a list of child states.
    pub fn from_states(states: impl IntoIterator<Item = S>) -> Self {
        let mut counts = Self::default();
        for s in states {
            counts.add(s);
        }
        counts
    }

    /// Adds one child in state `s`.
    pub fn add(&mut self, s: S) {
        self.total += 1;
        self.per[s.index()] += 1;
    }

    /// Removes one child in state `s`. Removing a child that was never added is a logic error;
    /// it saturates at zero rather than wrapping.
    pub fn remove(&mut self, s: S) {
        self.total = self.total.saturating_sub(1);
        self.per[s.index()] = self.per[s.index()].saturating_sub(1);
    }

    /// Number of children.
    pub fn total(&self) -> u32 {
        self.total
    }

    /// Number of children in state `s`.
    pub fn of(&self, s: S) -> u32 {
        self.per[s.index()]
    }
}

/// A condition of a decision-table row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond<S> {
    /// The children could not be looked up (a store error).
    LookupFailed,
    /// There are no children.
    Empty,
    /// There are no children, or every child is in this state.
    EmptyOrAll(S),
    /// At least one child is in this state.
    Any(S),
    /// There is at least one child and every child is in this state.
    All(S),
    /// Always matches; the last row of every table.
    Otherwise,
}

impl<S: Counted> Cond<S> {
    /// Whether the condition holds; `None` counts means the lookup failed.
    pub fn holds(&self, counts: Option<&Counts<S>>) -> bool {
        let Some(c) = counts else {
            return matches!(self, Cond::LookupFailed | Cond::Otherwise);
        };
        match *self {
            Cond::LookupFailed => false,
            Cond::Empty => c.total == 0,
            Cond::EmptyOrAll(s) => c.total == c.of(s),
            Cond::Any(s) => c.of(s) > 0,
            Cond::All(s) => c.total > 0 && c.total == c.of(s),
            Cond::Otherwise => true,
        }
    }
}

/// One row: when `when` holds (and no earlier row did), the result is `then`.
#[derive(Clone, Copy, Debug)]
pub struct Row<S: 'static, T: 'static> {
    /// The condition.
    pub when: Cond<S>,
    /// The resulting state.
    pub then: T,
    /// The row in words, as the contract states it, shown by the explorer's "why".
    pub text: &'static str,
}

/// A decision table: rows in order, the last one [`Cond::Otherwise`].
#[derive(Clone, Copy, Debug)]
pub struct Table<S: 'static, T: 'static> {
    /// What the table decides (`model state`).
    pub name: &'static str,
    /// The rows, first match wins.
    pub rows: &'static [Row<S, T>],
}

/// The outcome of evaluating a table: the state and the row that decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision<T> {
    /// The resulting state.
    pub state: T,
    /// Index of the deciding row in [`Table::rows`].
    pub row: usize,
}

impl<S: Counted, T: Copy> Table<S, T> {
    /// Evaluates the table; `None` counts means the children could not be looked up.
    ///
    /// Every table ends with [`Cond::Otherwise`] (checked by the tests), so some row decides.
    pub fn decide(&self, counts: Option<&Counts<S>>) -> Decision<T> {
        let last = self.rows.len().saturating_sub(1);
        let row = self
            .rows
            .iter()
            .position(|r| r.when.holds(counts))
            .unwrap_or(last);
        Decision {
            state: self.rows[row].then,
            row,
        }
    }
}

//! How long each part of the daemon waits, all derived here from two settings: the store
//! deadline `D` (`--store-deadline-ms`) and the lease (`--lease-ttl`). The same rule, in
//! words, is `docs/contract.md#waits`; a wait written anywhere else is a bug.
//!
//! - The engine gives up on an unreachable store (or a request on a leader) after `D`.
//! - Every handler, gRPC or HTTP, write or query, waits for the engine `D` plus
//!   [`ANSWER_MARGIN`], so the engine's refusal, with the store's reason, arrives before the
//!   handler's own timeout.
//! - A metrics scrape waits for the engine's counts at most [`ANSWER_MARGIN`] and otherwise
//!   serves the last ones: it must answer inside a scraper's timeout (Prometheus: 10 s)
//!   whatever the engine is doing.
//! - Stopping takes at most [`SHUTDOWN`] from the signal: in-flight calls get until
//!   [`Stopping::drain_until`], the engine's last commands until [`Stopping::engine_until`],
//!   and giving up the lease the rest. A call cut there was never answered, so nothing
//!   acknowledged is lost; its caller sees the connection close and sends again.
//! - The store is checked every [`Probe::every`], each check given [`Probe::within`], so
//!   readiness follows the store within the lease.

use std::time::Duration;

use tokio::time::Instant;

/// The leader's default lease (`--lease-ttl`): short enough that a dead leader is replaced in
/// seconds; long enough that a busy leader on a shared machine keeps its lease. Requests wait
/// through the gap (the store deadline is longer).
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(5);

/// What a handler waits beyond the store deadline.
pub const ANSWER_MARGIN: Duration = Duration::from_secs(2);

/// What a scrape waits for the engine's counts.
pub const SCRAPE_WAIT: Duration = ANSWER_MARGIN;

/// From the stop signal to exit: within the 10 s podman, Kubernetes and most supervisors give
/// between SIGTERM and SIGKILL.
pub const SHUTDOWN: Duration = Duration::from_secs(10);
/// Of [`SHUTDOWN`], what the engine's last commands get after the calls are drained.
const ENGINE_SHARE: Duration = Duration::from_secs(2);
/// Of [`SHUTDOWN`], what resigning the leadership gets at the end.
const RESIGN_SHARE: Duration = Duration::from_secs(1);

/// How long a handler waits for the engine.
pub fn handler_wait(store_deadline: Duration) -> Duration {
    store_deadline + ANSWER_MARGIN
}

/// The deadlines of one shutdown, counted from its signal.
#[derive(Clone, Copy, Debug)]
pub struct Stopping {
    signal: Instant,
}

impl Stopping {
    /// A shutdown signalled now.
    pub fn now() -> Self {
        Stopping {
            signal: Instant::now(),
        }
    }

    /// Until when calls in flight may finish.
    pub fn drain_until(&self) -> Instant {
        self.signal + SHUTDOWN - ENGINE_SHARE - RESIGN_SHARE
    }

    /// Until when the engine may finish its last commands.
    pub fn engine_until(&self) -> Instant {
        self.signal + SHUTDOWN - RESIGN_SHARE
    }

    /// Until when the daemon may take to resign and exit.
    pub fn exit_by(&self) -> Instant {
        self.signal + SHUTDOWN
    }
}

/// How often the store is checked, and how long a check may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Pause between two checks.
    pub every: Duration,
    /// A check that has not answered by then counts as failed.
    pub within: Duration,
}

impl Probe {
    /// Checks that notice a dead store within `lease`: every third of it (at most every
    /// second, as often as the election's own keep-alive), each given half of it, so a
    /// failure is seen within five sixths of the lease. The embedded store has no election
    /// but is checked by the same `--lease-ttl` (5 s by default: within about 3.5 s); what
    /// fails there is the database file, not a connection.
    pub fn within_lease(lease: Duration) -> Probe {
        Probe {
            every: (lease / 3).min(Duration::from_secs(1)),
            within: lease / 2,
        }
    }
}

impl Default for Probe {
    fn default() -> Self {
        Probe::within_lease(DEFAULT_LEASE_TTL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_notices_within_the_lease() {
        for secs in [1, 2, 5, 30] {
            let lease = Duration::from_secs(secs);
            let p = Probe::within_lease(lease);
            assert!(p.every + p.within < lease, "{secs} s: {p:?}");
            assert!(p.every <= Duration::from_secs(1), "{secs} s: {p:?}");
        }
    }

    #[test]
    fn shutdown_deadlines_come_in_order_within_the_bound() {
        let s = Stopping::now();
        assert!(s.drain_until() < s.engine_until());
        assert!(s.engine_until() < s.exit_by());
        assert_eq!(s.exit_by() - s.signal, SHUTDOWN);
    }
}

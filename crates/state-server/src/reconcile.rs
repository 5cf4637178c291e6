//! The reconcile sender: one `Reconcile` call per error episode of a package
//! (`docs/contract.md#reconcile`), retried with exponential backoff and jitter while the package
//! stays in Error, cancelled when it leaves. An answered call goes back to the engine, which
//! records the delivery in etcd so that no restart or new leader sends it again. It runs on its own task; the request path only sends it a message and never waits.
//!
//! Memory is bounded: at most one pending entry per package, and the command queue is bounded
//! (a full queue drops the message with a warning rather than blocking a request).

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use state_core::{
    PodStatus,
    fleet::Reconcile,
    name::{PackageName, ScenarioName},
};
use tokio::{
    sync::mpsc,
    task::JoinSet,
    time::{Instant, sleep_until},
};
use tonic::transport::Channel;

use crate::metrics::{Metrics, Outcome};
use crate::pb::actioncontroller::{
    ReconcileRequest, ReconcileResponse,
    action_controller_connection_client::ActionControllerConnectionClient,
};

/// Retry timing.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Longest delay between retries.
    pub max: Duration,
    /// Deadline of one call.
    pub call_timeout: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            // Soon enough to catch an ActionController that only blinked.
            initial: Duration::from_millis(200),
            // A package may stay in Error for hours; a retry every half minute keeps asking
            // without flooding a struggling ActionController.
            max: Duration::from_secs(30),
            // The ActionController only queues the request; it answers in milliseconds.
            call_timeout: Duration::from_secs(2),
        }
    }
}

impl Backoff {
    /// Delay before retry number `attempt` (1-based): "equal jitter", uniform between half an
    /// exponential cap and the cap, so daemons retrying the same outage spread out but none
    /// retries at once.
    pub fn delay(&self, attempt: u32) -> Duration {
        let cap = self
            .initial
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max);
        let millis = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX).max(1);
        Duration::from_millis(fastrand::u64(millis / 2..=millis))
    }
}

/// What a Reconcile reports, and what a refusal means: the seed's rule, or today's
/// ActionController's (`docs/contract.md#reconcile-in-pullpiri-mode`).
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// The `current` status the request carries.
    pub current: PodStatus,
    /// An ActionController that answered with a refusal (not an unreachable or timed-out
    /// one) is taken at its word: recorded once, not asked again in the episode.
    pub refusals_final: bool,
}

impl Default for Policy {
    /// The seed's: FAILED → RUNNING, every failure retried while the package is in Error.
    fn default() -> Self {
        Policy {
            current: Reconcile::CURRENT,
            refusals_final: false,
        }
    }
}

impl Policy {
    /// Today's Pullpiri: DONE → RUNNING (what its ActionController relaunches on), and its
    /// refusals are final for the episode.
    pub fn pullpiri() -> Self {
        Policy {
            current: Reconcile::CURRENT_IN_PULLPIRI_MODE,
            refusals_final: true,
        }
    }
}

/// Whether a failed call is the ActionController's refusal rather than a failure to reach it
/// in time: only a refusal is final under [`Policy::refusals_final`].
fn refusal(status: &tonic::Status) -> bool {
    use tonic::Code;
    !matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Unknown
            | Code::ResourceExhausted
            | Code::Aborted
    )
}

/// A message to the reconcile sender.
#[derive(Debug)]
pub enum Message {
    /// The package is in an error episode whose Reconcile is owed.
    Entered {
        package: PackageName,
        /// The scenario targeting it.
        scenario: ScenarioName,
        /// The episode: the revision its record was written at.
        episode: i64,
    },
    /// The package left Error (or was removed).
    Left { package: PackageName },
    /// This daemon no longer leads: another one delivers what is owed.
    Forget,
}

/// The ActionController answered an episode's Reconcile: the engine records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    pub package: PackageName,
    /// The scenario the Reconcile named.
    pub scenario: ScenarioName,
    /// The episode (see [`Message::Entered`]).
    pub episode: i64,
    /// The ActionController's refusal, when it refused (and refusals are final).
    pub refused: Option<String>,
}

/// Sends messages to the reconcile task without ever blocking.
#[derive(Clone, Debug)]
pub struct Reconciler {
    tx: mpsc::Sender<Message>,
}

impl Reconciler {
    /// Starts the task, calling the ActionController on `channel` (each call bounded by the
    /// channel's timeout, [`Backoff::call_timeout`] in the daemon) as `policy` says. Each
    /// answered Reconcile comes back on the receiver, for the engine to record.
    pub fn start(
        channel: Channel,
        backoff: Backoff,
        metrics: Arc<Metrics>,
    ) -> (Self, mpsc::Receiver<Delivered>) {
        Self::start_with(channel, backoff, Policy::default(), metrics)
    }

    /// As [`Reconciler::start`], with `policy`.
    pub fn start_with(
        channel: Channel,
        backoff: Backoff,
        policy: Policy,
        metrics: Arc<Metrics>,
    ) -> (Self, mpsc::Receiver<Delivered>) {
        // One message per package entering or leaving Error: 4,096 covers a whole fleet failing
        // at once; beyond that a message is dropped with a warning, never blocking a request.
        let (tx, rx) = mpsc::channel(4096);
        let (delivered_tx, delivered) = mpsc::channel(4096);
        let sender = Sender {
            client: ActionControllerConnectionClient::new(channel),
            delivered: delivered_tx,
            backoff,
            policy,
            metrics,
            pending: HashMap::new(),
            calls: JoinSet::new(),
            busy: HashSet::new(),
        };
        tokio::spawn(sender.run(rx));
        (Reconciler { tx }, delivered)
    }

    /// Queues a message; drops it with a warning if the queue is full.
    pub fn send(&self, message: Message) {
        if let Err(e) = self.tx.try_send(message) {
            tracing::warn!(error = %e, "reconcile queue full; message dropped");
        }
    }
}

struct Pending {
    scenario: ScenarioName,
    episode: i64,
    attempt: u32,
    due: Instant,
}

/// What one call came back with.
type CallResult = (
    PackageName,
    i64,
    Result<tonic::Response<ReconcileResponse>, tonic::Status>,
);

/// The reconcile task's state.
struct Sender {
    client: ActionControllerConnectionClient<Channel>,
    delivered: mpsc::Sender<Delivered>,
    backoff: Backoff,
    policy: Policy,
    metrics: Arc<Metrics>,
    pending: HashMap<PackageName, Pending>,
    /// Calls under way, at most one per package (a synchronous relaunch can take longer
    /// than the backoff, and may outlive its episode); each ends by the call deadline.
    calls: JoinSet<CallResult>,
    busy: HashSet<PackageName>,
}

impl Sender {
    async fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        loop {
            self.metrics
                .reconciles_owed
                .set(i64::try_from(self.pending.len()).unwrap_or(i64::MAX));
            let next = self
                .pending
                .iter()
                .filter(|(k, _)| !self.busy.contains(*k))
                .min_by_key(|(_, p)| p.due)
                .map(|(k, p)| (k.clone(), p.due));
            let due = async {
                match &next {
                    Some((_, due)) => sleep_until(*due).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                m = rx.recv() => match m {
                    Some(m) => self.message(m),
                    None => return,
                },
                Some(Ok(done)) = self.calls.join_next() => self.answered(done).await,
                () = due => {
                    if let Some((package, _)) = next {
                        self.call(package);
                    }
                }
            }
        }
    }

    fn message(&mut self, message: Message) {
        match message {
            Message::Entered {
                package,
                scenario,
                episode,
            } => {
                // The same episode again (a reload): keep its place in the backoff.
                if self
                    .pending
                    .get(&package)
                    .is_some_and(|p| p.episode == episode)
                {
                    return;
                }
                self.pending.insert(
                    package,
                    Pending {
                        scenario,
                        episode,
                        attempt: 0,
                        due: Instant::now(),
                    },
                );
            }
            Message::Forget => self.pending.clear(),
            Message::Left { package } => {
                if self.pending.remove(&package).is_some() {
                    tracing::info!(package = %package, "package left error; reconcile cancelled");
                }
            }
        }
    }

    /// Starts the call for `package`'s episode.
    fn call(&mut self, package: PackageName) {
        let Some(p) = self.pending.get_mut(&package) else {
            return;
        };
        self.busy.insert(package.clone());
        let request = ReconcileRequest {
            scenario_name: p.scenario.to_string(),
            current: self.policy.current.wire(),
            desired: Reconcile::DESIRED.wire(),
        };
        let episode = p.episode;
        let mut client = self.client.clone();
        self.calls.spawn(async move {
            let answer = client.reconcile(request).await;
            (package, episode, answer)
        });
    }

    /// Takes in how a call ended. An episode that ended meanwhile (the package left Error, or
    /// this daemon stopped leading) is not asked again, whatever the answer.
    async fn answered(&mut self, (package, episode, answer): CallResult) {
        self.busy.remove(&package);
        let Some(p) = self
            .pending
            .get_mut(&package)
            .filter(|p| p.episode == episode)
        else {
            return;
        };
        let refused = match answer {
            Ok(resp) => {
                let resp = resp.into_inner();
                count(&self.metrics, "sent");
                tracing::info!(
                    package = %package,
                    scenario = %p.scenario,
                    status = resp.status,
                    desc = %resp.desc,
                    "reconcile sent"
                );
                None
            }
            Err(status) if self.policy.refusals_final && refusal(&status) => {
                count(&self.metrics, "refused");
                tracing::warn!(
                    package = %package,
                    scenario = %p.scenario,
                    code = ?status.code(),
                    reason = %status.message(),
                    "the ActionController refused the reconcile; not asking again in this error episode"
                );
                Some(format!("{:?}: {}", status.code(), status.message()))
            }
            Err(status) => {
                count(&self.metrics, "failed");
                p.attempt += 1;
                // Counted from the end of the call: a timed-out one is not followed by another
                // before its backoff.
                let delay = self.backoff.delay(p.attempt);
                p.due = Instant::now() + delay;
                tracing::warn!(
                    package = %package,
                    scenario = %p.scenario,
                    attempt = p.attempt,
                    retry_in = ?delay,
                    error = %status.message(),
                    "reconcile failed; will retry while the package stays in error"
                );
                return;
            }
        };
        if let Some(p) = self.pending.remove(&package) {
            let answered = Delivered {
                package,
                scenario: p.scenario,
                episode: p.episode,
                refused,
            };
            if let Err(e) = self.delivered.try_send(answered) {
                tracing::warn!(error = %e, "delivery record queue full; the episode stays owed");
            }
        }
    }
}

fn count(metrics: &Metrics, outcome: &'static str) {
    metrics.reconciles.get_or_create(&Outcome { outcome }).inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            call_timeout: Duration::from_secs(1),
        };
        for attempt in 1..40 {
            let d = b.delay(attempt);
            let cap = Duration::from_millis(100)
                .saturating_mul(1 << attempt.min(16))
                .min(Duration::from_secs(1));
            assert!(
                d <= cap && d >= cap / 2,
                "attempt {attempt}: {d:?} vs cap {cap:?}"
            );
        }
    }
}

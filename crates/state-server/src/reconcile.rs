//! The reconcile sender: one `Reconcile` call per error episode of a package
//! (`docs/contract.md#reconcile`), retried with exponential backoff and jitter while the package
//! stays in Error, cancelled when it leaves. An answered call goes back to the engine, which
//! records the delivery in etcd so that no restart or new leader sends it again. It runs on its own task; the request path only sends it a message and never waits.
//!
//! Memory is bounded: at most one pending entry per package, and the command queue is bounded
//! (a full queue drops the message with a warning rather than blocking a request).

use std::{collections::HashMap, sync::Arc, time::Duration};

use state_core::{
    fleet::Reconcile,
    name::{PackageName, ScenarioName},
};
use tokio::{
    sync::mpsc,
    time::{Instant, sleep_until},
};
use tonic::transport::Channel;

use crate::metrics::{Metrics, Outcome};
use crate::pb::actioncontroller::{
    ReconcileRequest, action_controller_connection_client::ActionControllerConnectionClient,
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
}

/// Sends messages to the reconcile task without ever blocking.
#[derive(Clone, Debug)]
pub struct Reconciler {
    tx: mpsc::Sender<Message>,
}

impl Reconciler {
    /// Starts the task, calling the ActionController on `channel` (each call bounded by the
    /// channel's timeout, [`Backoff::call_timeout`] in the daemon). Each answered Reconcile
    /// comes back on the receiver, for the engine to record.
    pub fn start(
        channel: Channel,
        backoff: Backoff,
        metrics: Arc<Metrics>,
    ) -> (Self, mpsc::Receiver<Delivered>) {
        // One message per package entering or leaving Error: 4,096 covers a whole fleet failing
        // at once; beyond that a message is dropped with a warning, never blocking a request.
        let (tx, rx) = mpsc::channel(4096);
        let (delivered_tx, delivered) = mpsc::channel(4096);
        tokio::spawn(run(
            ActionControllerConnectionClient::new(channel),
            rx,
            delivered_tx,
            backoff,
            metrics,
        ));
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

async fn run(
    mut client: ActionControllerConnectionClient<Channel>,
    mut rx: mpsc::Receiver<Message>,
    delivered: mpsc::Sender<Delivered>,
    backoff: Backoff,
    metrics: Arc<Metrics>,
) {
    let mut pending: HashMap<PackageName, Pending> = HashMap::new();
    loop {
        metrics
            .reconciles_owed
            .set(i64::try_from(pending.len()).unwrap_or(i64::MAX));
        let next = pending
            .iter()
            .min_by_key(|(_, p)| p.due)
            .map(|(k, p)| (k.clone(), p.due));
        let message = match &next {
            Some((_, due)) => tokio::select! {
                m = rx.recv() => m.map(Some),
                () = sleep_until(*due) => Some(None),
            },
            None => rx.recv().await.map(Some),
        };
        match message {
            None => return,
            Some(Some(Message::Entered {
                package,
                scenario,
                episode,
            })) => {
                // The same episode again (a reload): keep its place in the backoff.
                if pending.get(&package).is_some_and(|p| p.episode == episode) {
                    continue;
                }
                pending.insert(
                    package,
                    Pending {
                        scenario,
                        episode,
                        attempt: 0,
                        due: Instant::now(),
                    },
                );
            }
            Some(Some(Message::Forget)) => pending.clear(),
            Some(Some(Message::Left { package })) => {
                if pending.remove(&package).is_some() {
                    tracing::info!(package = %package, "package left error; reconcile cancelled");
                }
            }
            Some(None) => {
                let Some((package, _)) = next else { continue };
                let Some(p) = pending.get_mut(&package) else {
                    continue;
                };
                let request = ReconcileRequest {
                    scenario_name: p.scenario.to_string(),
                    current: Reconcile::CURRENT.wire(),
                    desired: Reconcile::DESIRED.wire(),
                };
                match client.reconcile(request).await {
                    Ok(resp) => {
                        metrics
                            .reconciles
                            .get_or_create(&Outcome { outcome: "sent" })
                            .inc();
                        let resp = resp.into_inner();
                        tracing::info!(
                            package = %package,
                            scenario = %p.scenario,
                            status = resp.status,
                            desc = %resp.desc,
                            "reconcile sent"
                        );
                        if let Some(p) = pending.remove(&package) {
                            let answered = Delivered {
                                package,
                                scenario: p.scenario,
                                episode: p.episode,
                            };
                            if let Err(e) = delivered.try_send(answered) {
                                tracing::warn!(error = %e, "delivery record queue full; the episode stays owed");
                            }
                        }
                    }
                    Err(status) => {
                        metrics
                            .reconciles
                            .get_or_create(&Outcome { outcome: "failed" })
                            .inc();
                        p.attempt += 1;
                        let delay = backoff.delay(p.attempt);
                        p.due = Instant::now() + delay;
                        tracing::warn!(
                            package = %package,
                            scenario = %p.scenario,
                            attempt = p.attempt,
                            retry_in = ?delay,
                            error = %status.message(),
                            "reconcile failed; will retry while the package stays in error"
                        );
                    }
                }
            }
        }
    }
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

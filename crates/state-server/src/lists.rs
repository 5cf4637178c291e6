//! Container lists (`SendChangedContainerList`): validated, carried out by the leader (here,
//! or forwarded to it), and kept when refused only because the store or the leader could not
//! be reached. Pullpiri's NodeAgent never sends a refused list again, so the daemon that
//! received it keeps it as that node's pending list (the latest wins: a list is a whole
//! snapshot) and delivers it once it can, unless a newer list from the node came first
//! (`docs/contract.md#outages`). The caller still gets the refusal.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use state_core::container::Limits;
use tonic::Status;

use crate::{
    convert,
    engine::{Command, EngineError, EngineHandle},
    forward::{self, Forwarder, engine_status},
    metrics::Metrics,
    pb::monitoringserver::ContainerList,
    tls,
};

/// How often pending lists are tried again.
const RETRY: Duration = Duration::from_secs(1);

/// One node's place in line and its pending list.
#[derive(Debug, Default)]
struct Slot {
    /// Held while one of the node's lists is delivered, so its lists stay in order.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// The pending list, and who sent it and when.
    pending: Option<(ContainerList, Sender)>,
}

/// Who sent a list (its mTLS identity) and when it was received (Unix nanoseconds).
type Sender = (Option<String>, i64);

/// Marks, on a forwarded list, when the daemon that got it from the NodeAgent received it.
pub const RECEIVED: &str = "x-statemanager-received";

/// For a forwarded list, when the follower received it (never later than now: a stamp from
/// the future, from a caller posing as a follower, would hold back the node's real lists).
pub fn forwarded_at(metadata: &tonic::metadata::MetadataMap) -> Option<i64> {
    if !forward::forwarded(metadata) {
        return None;
    }
    let now = now_ns();
    let stamp = metadata
        .get(RECEIVED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(now);
    Some(stamp.min(now))
}

/// Now, in Unix nanoseconds.
pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Receives, delivers and keeps container lists.
#[derive(Debug)]
pub struct Lists {
    engine: EngineHandle,
    forwarder: Arc<Forwarder>,
    limits: Limits,
    wait: Duration,
    slots: Mutex<HashMap<String, Slot>>,
    metrics: Arc<Metrics>,
}

impl Lists {
    /// Starts the lists, and the task that retries pending ones (it ends with them).
    pub fn start(
        engine: EngineHandle,
        forwarder: Arc<Forwarder>,
        limits: Limits,
        wait: Duration,
        metrics: Arc<Metrics>,
    ) -> Arc<Lists> {
        let lists = Arc::new(Lists {
            engine,
            forwarder,
            limits,
            wait,
            slots: Mutex::new(HashMap::new()),
            metrics,
        });
        tokio::spawn(retry(Arc::downgrade(&lists)));
        lists
    }

    /// The node's turn, and whatever list of it was pending (a newer list replaces it).
    fn turn(&self, node: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(node.to_owned()).or_default().turn.clone()
    }

    fn set_pending(
        &self,
        node: &str,
        list: Option<(ContainerList, Sender)>,
    ) -> Option<(ContainerList, Sender)> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let slot = slots.entry(node.to_owned()).or_default();
        let before = std::mem::replace(&mut slot.pending, list);
        // Counted by the change, not by walking every slot on each list.
        let change = i64::from(slot.pending.is_some()) - i64::from(before.is_some());
        self.metrics.lists_kept.inc_by(change);
        before
    }

    /// Delivers a list a client sent; `forwarded`: by a follower, which keeps it in order and
    /// pending if refused.
    /// `received`: for a forwarded list, when the follower received it.
    pub async fn receive(
        &self,
        list: ContainerList,
        forwarded: Option<i64>,
        identity: Option<String>,
    ) -> Result<String, Status> {
        tls::check_node(identity.as_deref(), &list.node_name)?;
        if let Some(received) = forwarded {
            // The follower that received it keeps it in line (and pending if refused); this
            // daemon may even be that follower, with the list's turn held. A list of the node
            // kept here is older: it is dropped (the engine would ignore it anyway).
            if self.set_pending(&list.node_name, None).is_some() {
                tracing::info!(node = %list.node_name, "a newer list, through another daemon, replaces the node's pending list");
            }
            return self
                .deliver(&list, true, (identity.clone(), received))
                .await;
        }
        let sender = (identity, now_ns());
        let node = list.node_name.clone();
        let turn = self.turn(&node);
        let held = turn.lock().await;
        if self.set_pending(&node, None).is_some() {
            tracing::info!(node = %node, "a newer list replaces the node's pending list");
        }
        let result = self.deliver(&list, false, sender.clone()).await;
        if let Err(status) = &result
            && outage(status)
        {
            tracing::warn!(node = %node, "list refused by an outage; kept, and delivered once the store is back");
            self.set_pending(&node, Some((list, sender)));
        }
        drop(held);
        drop(turn);
        self.prune(&node);
        result
    }

    /// Forgets a node's slot once nothing is pending and nobody waits for its turn, so that
    /// node names a caller makes up do not pile up.
    fn prune(&self, node: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if slots
            .get(node)
            .is_some_and(|s| s.pending.is_none() && Arc::strong_count(&s.turn) == 1)
        {
            slots.remove(node);
        }
    }

    async fn deliver(
        &self,
        list: &ContainerList,
        forwarded: bool,
        (identity, received): Sender,
    ) -> Result<String, Status> {
        let valid = convert::container_list(list, &self.limits)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        for s in &valid.skipped {
            tracing::warn!(node = %valid.node, skipped = %s, "invalid container entry skipped");
        }
        let accepted = valid.containers.len();
        let node = valid.node.clone();
        let result = self
            .engine
            .call(self.wait, |reply| Command::Report {
                node: valid.node,
                containers: valid.containers,
                received,
                reply,
            })
            .await
            .and_then(|r| r);
        match result {
            Ok(summary) => Ok(crate::answer::report(
                &node,
                accepted,
                &summary,
                &valid.skipped,
            )),
            Err(EngineError::NotLeader) if forwarded => Err(forward::not_leader()),
            Err(EngineError::NotLeader) => self
                .forwarder
                .call(
                    self.wait,
                    list.clone(),
                    identity.as_deref(),
                    |mut c, mut r| async move {
                        r.metadata_mut().insert(RECEIVED, received.into());
                        c.send_changed_container_list(r).await
                    },
                )
                .await
                .map(|r| r.resp),
            Err(e) => Err(engine_status(&e)),
        }
    }

    /// Tries every pending list once more.
    async fn retry_pending(&self) {
        let nodes: Vec<String> = {
            let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots
                .iter()
                .filter(|(_, s)| s.pending.is_some())
                .map(|(n, _)| n.clone())
                .collect()
        };
        for node in nodes {
            let turn = self.turn(&node);
            let _turn = turn.lock().await;
            let Some((list, sender)) = self.set_pending(&node, None) else {
                continue;
            };
            match self.deliver(&list, false, sender.clone()).await {
                Ok(resp) => tracing::info!(node = %node, resp = %resp, "pending list delivered"),
                Err(status) if outage(&status) => {
                    self.set_pending(&node, Some((list, sender)));
                }
                Err(status) => {
                    tracing::warn!(node = %node, error = %status.message(), "pending list refused; dropped")
                }
            }
        }
    }
}

/// Whether a refusal says only that the list could not be stored now: the store or the leader
/// could not be reached, or the engine shed it. Never for the list's content.
fn outage(status: &Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable | tonic::Code::ResourceExhausted
    )
}

async fn retry(lists: Weak<Lists>) {
    loop {
        tokio::time::sleep(RETRY).await;
        let Some(lists) = lists.upgrade() else { return };
        lists.retry_pending().await;
    }
}

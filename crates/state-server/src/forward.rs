//! Writes that reach a follower are carried out by the leader: the follower sends the same
//! request to the leader's advertised URL and hands back its answer. While no leader is known
//! or reachable (a leader died and its lease has not expired yet), the call waits and tries
//! again until the deadline, rather than failing at once.
//!
//! A forwarded request is marked, so a daemon that is no longer the leader when it arrives
//! answers "not the leader" (and the follower tries the new one) instead of forwarding again.

use std::{collections::HashMap, future::Future, sync::Mutex, time::Duration};

use tokio::{sync::watch, time::Instant};
use tonic::{
    Request, Response, Status,
    metadata::MetadataMap,
    transport::{Channel, ClientTlsConfig, Endpoint},
};

use crate::pb::statemanager::state_manager_connection_client::StateManagerConnectionClient;

/// Marks a request forwarded by a follower.
pub const FORWARDED: &str = "x-statemanager-forwarded";
/// The caller's verified identity, on a request a follower forwards (mTLS): the leader takes
/// it only from a daemon named in `--peer-identity`.
pub const IDENTITY: &str = "x-statemanager-identity";
/// Marks a refusal from a daemon that does not lead (the caller should find the leader).
pub const NOT_LEADER: &str = "x-statemanager-not-leader";
/// Marks a refusal from the leader because the store is unreachable: final, not retried.
pub const STORE_REFUSED: &str = "x-statemanager-store-refused";

/// Pause between attempts while no leader answers.
const RETRY: Duration = Duration::from_millis(100);

/// The client side of forwarding.
#[derive(Debug)]
pub struct Forwarder {
    leader_url: watch::Receiver<Option<String>>,
    channels: Mutex<HashMap<String, Channel>>,
    /// TLS towards other daemons, for an `https` leader URL.
    tls: Option<ClientTlsConfig>,
}

/// A client of the leader's service.
pub type LeaderClient = StateManagerConnectionClient<Channel>;

impl Forwarder {
    /// Forwards to whichever daemon `leader_url` names.
    pub fn new(leader_url: watch::Receiver<Option<String>>, tls: Option<ClientTlsConfig>) -> Self {
        Forwarder {
            leader_url,
            channels: Mutex::new(HashMap::new()),
            tls,
        }
    }

    fn client(&self, url: &str) -> Result<LeaderClient, Status> {
        let mut channels = self
            .channels
            .lock()
            .map_err(|_| Status::internal("forwarding channels poisoned"))?;
        if let Some(c) = channels.get(url) {
            return Ok(StateManagerConnectionClient::new(c.clone()));
        }
        let mut endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| Status::internal(format!("leader URL {url:?}: {e}")))?
            .connect_timeout(Duration::from_secs(1));
        if let Some(tls) = self.tls.clone().filter(|_| url.starts_with("https:")) {
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| Status::internal(format!("TLS towards the leader: {e}")))?;
        }
        let channel = endpoint.connect_lazy();
        // Old leaders' channels are few (one per leader change) and cheap while idle.
        channels.insert(url.to_owned(), channel.clone());
        Ok(StateManagerConnectionClient::new(channel))
    }

    /// Sends `message` to the leader through `call`, retrying until `wait` has passed while no
    /// leader is known or reachable. The leader's answer, refusal or not, is returned as is.
    pub async fn call<M, T, F, Fut>(
        &self,
        wait: Duration,
        message: M,
        identity: Option<&str>,
        call: F,
    ) -> Result<T, Status>
    where
        M: Clone,
        F: Fn(LeaderClient, Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let deadline = Instant::now() + wait;
        let mut leader_url = self.leader_url.clone();
        let mut last = Status::unavailable("no leader is known yet");
        loop {
            let url = leader_url.borrow_and_update().clone();
            if let Some(url) = url {
                let left = deadline.saturating_duration_since(Instant::now());
                let mut request = Request::new(message.clone());
                request.set_timeout(left.max(Duration::from_millis(1)));
                request
                    .metadata_mut()
                    .insert(FORWARDED, tonic::metadata::MetadataValue::from_static("1"));
                if let Some(id) = identity {
                    let value = id.parse().map_err(|_| {
                        Status::invalid_argument(format!(
                            "the caller's identity {id:?} cannot be passed to the leader (ASCII only)"
                        ))
                    })?;
                    request.metadata_mut().insert(IDENTITY, value);
                }
                match call(self.client(&url)?, request).await {
                    Ok(resp) => return Ok(resp.into_inner()),
                    Err(status) if retryable(&status) => {
                        tracing::debug!(leader = %url, error = %status.message(), "leader not reachable; waiting for one");
                        last = Status::unavailable(format!(
                            "the leader ({url}) could not be reached: {}",
                            status.message()
                        ));
                    }
                    Err(status) => return Err(status),
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(last);
            }
            // Try again when another leader is published, or shortly.
            let pause = RETRY.min(deadline - now);
            let _ = tokio::time::timeout(pause, leader_url.changed()).await;
        }
    }
}

/// Whether a failed forward may succeed at another try: the leader could not be reached, or
/// the daemon reached no longer leads. A refusal by the leader itself (bad input, its store
/// unreachable after its own deadline) is final.
fn retryable(status: &Status) -> bool {
    status.code() == tonic::Code::Unavailable && !status.metadata().contains_key(STORE_REFUSED)
}

/// Whether a request was forwarded by a follower.
pub fn forwarded(metadata: &MetadataMap) -> bool {
    metadata.contains_key(FORWARDED)
}

/// The refusal a daemon that no longer leads gives a forwarded request.
pub fn not_leader() -> Status {
    let mut status = Status::unavailable("this daemon is not the leader");
    status
        .metadata_mut()
        .insert(NOT_LEADER, tonic::metadata::MetadataValue::from_static("1"));
    status
}

/// The status a refused engine call is answered with. A store outage is marked as the
/// leader's final word, so a follower does not try again (it already waited the deadline).
pub fn engine_status(e: &crate::engine::EngineError) -> Status {
    use crate::engine::EngineError;
    match e {
        EngineError::Unavailable(_) => {
            let mut status = Status::unavailable(e.to_string());
            status.metadata_mut().insert(
                STORE_REFUSED,
                tonic::metadata::MetadataValue::from_static("1"),
            );
            status
        }
        EngineError::Stopped => Status::unavailable(e.to_string()),
        EngineError::NotLeader => not_leader(),
        EngineError::Contention(_) => Status::aborted(e.to_string()),
        EngineError::Overloaded(_) => Status::resource_exhausted(e.to_string()),
    }
}

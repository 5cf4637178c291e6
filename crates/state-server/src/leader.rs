//! Who leads: one daemon among any number on one etcd cluster, elected through etcd's own
//! lease and election API. The leader's key in the election carries its `--advertise-url`, so
//! followers know where to forward writes; its creation revision fences every state write
//! (a deposed leader's transactions fail). A daemon on the embedded store leads alone.
//!
//! A lease of `--lease-ttl` seconds is kept alive at a third of its TTL. If the leader dies,
//! its lease expires within the TTL and the next campaigner is elected. A daemon that stops
//! gracefully revokes its lease ([`Resign`]), so the next one is elected at once.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::watch;

use crate::store::etcd::EtcdStore;

/// The name of the election (its keys are `statemanager/leader/{lease}`): outside the state
/// keys, so no state watch sees it.
pub const ELECTION: &str = "statemanager/leader";

/// A leader's proof: its election key and that key's creation revision. A transaction that
/// compares both can only succeed while this leadership lasts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    pub key: Vec<u8>,
    pub revision: i64,
}

/// This daemon's role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Not (yet) the leader: writes go to the leader.
    Follower,
    /// The leader; `None` fence: alone on a store no one else writes (embedded).
    Leader(Option<Fence>),
}

/// What the rest of the daemon sees of the election.
#[derive(Clone, Debug)]
pub struct Leadership {
    /// This daemon's role.
    pub role: watch::Receiver<Role>,
    /// The leader's advertised URL, when one is known.
    pub leader_url: watch::Receiver<Option<String>>,
    /// Gives the lead up when the daemon stops.
    pub resign: Resign,
}

/// This daemon's election lease, to revoke when it stops gracefully: its election key goes
/// with it, and another daemon is elected without waiting for the lease to expire.
#[derive(Clone, Debug, Default)]
pub struct Resign {
    etcd: Option<EtcdStore>,
    lease: Arc<Mutex<Option<i64>>>,
}

impl Resign {
    fn set(&self, lease: Option<i64>) {
        *self
            .lease
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = lease;
    }

    /// Revokes the lease, if any (waiting at most a second: the daemon is stopping).
    pub async fn now(&self) {
        let lease = self
            .lease
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let (Some(etcd), Some(lease)) = (&self.etcd, lease) {
            let mut leases = etcd.client().lease_client();
            match tokio::time::timeout(Duration::from_secs(1), leases.revoke(lease)).await {
                Ok(Ok(_)) => {
                    tracing::info!("election lease revoked: another daemon may lead at once")
                }
                _ => tracing::warn!("could not revoke the election lease; it expires by itself"),
            }
        }
    }
}

impl Leadership {
    /// A daemon that leads alone, from the start.
    pub fn alone() -> Leadership {
        let (role_tx, role) = watch::channel(Role::Leader(None));
        let (url_tx, leader_url) = watch::channel(None);
        // Nothing ever changes: keep the senders alive with the daemon.
        tokio::spawn(async move {
            role_tx.closed().await;
            drop(url_tx);
        });
        Leadership {
            role,
            leader_url,
            resign: Resign::default(),
        }
    }

    /// Takes part in the election on `etcd`, advertising `url`, with a lease of `ttl`.
    pub fn elect(etcd: EtcdStore, url: String, ttl: Duration) -> Leadership {
        let (role_tx, role) = watch::channel(Role::Follower);
        let (url_tx, leader_url) = watch::channel(None);
        let resign = Resign {
            etcd: Some(etcd.clone()),
            lease: Arc::default(),
        };
        tokio::spawn(observe(etcd.clone(), url_tx));
        tokio::spawn(campaign(etcd, url, ttl, role_tx, resign.clone()));
        Leadership {
            role,
            leader_url,
            resign,
        }
    }
}

/// Pause after a failed election call.
const RETRY: Duration = Duration::from_millis(250);

/// Campaigns, leads until the lease is lost, and campaigns again, for as long as anyone
/// listens.
async fn campaign(
    etcd: EtcdStore,
    url: String,
    ttl: Duration,
    role: watch::Sender<Role>,
    resign: Resign,
) {
    let ttl_secs = i64::try_from(ttl.as_secs().max(1)).unwrap_or(5);
    while !role.is_closed() {
        let lease = match etcd.client().lease_client().grant(ttl_secs, None).await {
            Ok(l) => l.id(),
            Err(e) => {
                tracing::debug!(error = %e, "cannot grant an election lease; retrying");
                etcd.rotate();
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        resign.set(Some(lease));
        let (lost_tx, mut lost) = watch::channel(false);
        let keeper = tokio::spawn(keep_alive(etcd.clone(), lease, ttl, lost_tx));
        verdict_if_led(&etcd, &role).await;
        let elected = loop {
            if *lost.borrow() || role.is_closed() {
                break None;
            }
            // A campaign call returns when elected, or fails at the client's call timeout
            // while another daemon leads; then it is simply made again.
            let mut election = etcd.client().election_client();
            match election.campaign(ELECTION, url.as_bytes(), lease).await {
                Ok(resp) => break resp.leader().cloned(),
                Err(e) => {
                    tracing::trace!(error = %e, "not elected yet");
                    tokio::time::sleep(RETRY).await;
                }
            }
        };
        if let Some(key) = elected {
            let fence = Fence {
                key: key.key().to_vec(),
                revision: key.rev(),
            };
            tracing::info!(url = %url, revision = fence.revision, "elected leader");
            let _ = role.send(Role::Leader(Some(fence.clone())));
            tokio::select! {
                _ = lost.wait_for(|lost| *lost) => {
                    tracing::warn!("leadership lost (lease not kept alive); campaigning again");
                }
                () = key_gone(&etcd, &fence, ttl) => {
                    tracing::warn!("the election key was removed; campaigning again");
                }
                () = role.closed() => {}
            }
            let _ = role.send(Role::Follower);
        }
        keeper.abort();
        if role.is_closed() {
            // The daemon is stopping: the server revokes the lease once nothing more is
            // written ([`Resign::now`]), which this task may not live to do.
            return;
        }
        resign.set(None);
        let _ = etcd.client().lease_client().revoke(lease).await;
    }
}

/// Tells the engine at once that another daemon leads, when one does: the engine waits for
/// the election's first verdict before it loads the fleet (`Engine::first_role`), so that a
/// daemon about to be elected loads once, as the leader, rather than as a follower and again.
async fn verdict_if_led(etcd: &EtcdStore, role: &watch::Sender<Role>) {
    let mut election = etcd.client().election_client();
    if let Ok(resp) = election.leader(ELECTION).await
        && resp.kv().is_some()
    {
        // Same value, but a notification: the verdict is "follower".
        role.send_modify(|_| {});
    }
}

/// Returns once this leadership's election key is gone or replaced (someone deleted it while
/// the lease lives): the fence no longer holds, so the daemon must campaign again rather
/// than wait for a lease loss that will not come.
async fn key_gone(etcd: &EtcdStore, fence: &Fence, ttl: Duration) {
    loop {
        tokio::time::sleep(ttl / 3).await;
        if let Ok(resp) = etcd.client().get(fence.key.clone(), None).await {
            let held = resp
                .kvs()
                .first()
                .is_some_and(|kv| kv.create_revision() == fence.revision);
            if !held {
                return;
            }
        }
    }
}

/// Keeps `lease` alive; reports it lost once no keep-alive has succeeded for a whole TTL or
/// etcd says it expired. A keep-alive that fails is tried again at once on the next member.
async fn keep_alive(etcd: EtcdStore, lease: i64, ttl: Duration, lost: watch::Sender<bool>) {
    let mut last_ok = tokio::time::Instant::now();
    let mut stream = None;
    loop {
        if last_ok.elapsed() >= ttl {
            let _ = lost.send(true);
            return;
        }
        if stream.is_none() {
            stream = etcd.client().lease_client().keep_alive(lease).await.ok();
        }
        let mut pause = ttl / 3;
        match &mut stream {
            Some((keeper, responses)) => {
                // The lease runs from when etcd received the keep-alive, which is after it was
                // sent: timing it from the send errs on the safe side.
                let sent = tokio::time::Instant::now();
                let answered = async {
                    keeper.keep_alive().await?;
                    responses.message().await
                };
                match tokio::time::timeout(ttl / 3, answered).await {
                    Ok(Ok(Some(r))) if r.ttl() > 0 => last_ok = sent,
                    Ok(Ok(Some(_))) => {
                        // etcd says the lease is gone.
                        let _ = lost.send(true);
                        return;
                    }
                    _ => {
                        stream = None;
                        etcd.rotate();
                        pause = RETRY;
                    }
                }
            }
            None => {
                etcd.rotate();
                pause = RETRY;
            }
        }
        tokio::time::sleep(pause).await;
    }
}

/// Follows who leads, for forwarding.
async fn observe(etcd: EtcdStore, url: watch::Sender<Option<String>>) {
    while !url.is_closed() {
        let mut election = etcd.client().election_client();
        if let Ok(resp) = election.leader(ELECTION).await {
            let _ = url.send(
                resp.kv()
                    .and_then(|kv| kv.value_str().ok().map(str::to_owned)),
            );
        }
        match election.observe(ELECTION).await {
            Ok(mut stream) => {
                while let Ok(Some(resp)) = stream.message().await {
                    let _ = url.send(
                        resp.kv()
                            .and_then(|kv| kv.value_str().ok().map(str::to_owned)),
                    );
                }
            }
            Err(e) => {
                tracing::trace!(error = %e, "cannot observe the election; retrying");
                etcd.rotate();
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

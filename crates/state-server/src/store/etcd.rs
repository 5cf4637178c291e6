//! The etcd store (production, and the path to a multi-node deployment).

use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, Txn, TxnOp, TxnOpResponse,
    WatchOptions,
};
use tokio::sync::mpsc;

use super::{Changes, Committed, Kv, Snapshot, Store, StoreError, WatchEvent, Write};

/// Keys per page of a prefix read: pages stay far below the client's 4 MiB message limit
/// even when values are node memberships of hundreds of containers.
const LOAD_PAGE: i64 = 500;

/// A handle on an etcd cluster. Cheap to clone.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    timeout: Duration,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: etcd_client::Error) -> StoreError {
    StoreError::unavailable("etcd", e)
}

fn kv(item: &etcd_client::KeyValue) -> Result<Kv, StoreError> {
    Ok(Kv {
        key: item
            .key_str()
            .map_err(|e| StoreError::internal("a key is not UTF-8", e))?
            .to_owned(),
        value: item
            .value_str()
            .map_err(|e| StoreError::internal("a value is not UTF-8", e))?
            .to_owned(),
        mod_revision: item.mod_revision(),
    })
}

/// The end of the key range holding every key that starts with `prefix`.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte was 0xff (or the prefix is empty): to the end of the key space.
    vec![0]
}

impl EtcdStore {
    /// Connects lazily to `endpoints`; every call is bounded by `timeout`.
    pub async fn connect(endpoints: &[String], timeout: Duration) -> Result<Self, StoreError> {
        let options = ConnectOptions::new()
            .with_connect_timeout(timeout)
            .with_timeout(timeout)
            .with_keep_alive(Duration::from_secs(5), timeout)
            .with_keep_alive_while_idle(true);
        let client = Client::connect(endpoints, Some(options))
            .await
            .map_err(unavailable)?;
        Ok(EtcdStore { client, timeout })
    }

    /// The etcd client, for the election.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(r) => r.map_err(unavailable),
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        }
    }
}

impl Store for EtcdStore {
    fn name(&self) -> &'static str {
        "etcd"
    }

    async fn load(&self, prefix: &str) -> Result<Snapshot, StoreError> {
        let end = prefix_end(prefix.as_bytes());
        let mut snapshot = Snapshot::default();
        let mut from = prefix.as_bytes().to_vec();
        loop {
            let mut options = GetOptions::new()
                .with_range(end.clone())
                .with_limit(LOAD_PAGE);
            if snapshot.revision > 0 {
                // Every page is read at the first page's revision: one consistent view.
                options = options.with_revision(snapshot.revision);
            }
            let mut client = self.client.clone();
            let resp = self
                .bounded(client.get(from.clone(), Some(options)))
                .await?;
            if snapshot.revision == 0 {
                snapshot.revision = resp.header().map_or(0, |h| h.revision());
            }
            for item in resp.kvs() {
                snapshot.kvs.push(kv(item)?);
            }
            match resp.kvs().last() {
                Some(last) if resp.more() => {
                    from = last.key().to_vec();
                    from.push(0);
                }
                _ => return Ok(snapshot),
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Kv>, StoreError> {
        let mut client = self.client.clone();
        let resp = self.bounded(client.get(key, None)).await?;
        resp.kvs().first().map(kv).transpose()
    }

    async fn commit(&self, write: &Write) -> Result<Committed, StoreError> {
        let mut compares: Vec<Compare> = write
            .compares
            .iter()
            .map(|(k, rev)| Compare::mod_revision(k.as_str(), CompareOp::Equal, *rev))
            .collect();
        let mut ops: Vec<TxnOp> = Vec::with_capacity(write.ops());
        for (k, v) in &write.puts {
            ops.push(TxnOp::put(k.as_str(), v.as_str(), None));
        }
        for k in &write.deletes {
            ops.push(TxnOp::delete(k.as_str(), None));
        }
        let mut otherwise = Vec::new();
        if let Some(fence) = &write.fence {
            compares.push(Compare::create_revision(
                fence.key.clone(),
                CompareOp::Equal,
                fence.revision,
            ));
            // On failure, read the fence key back to tell a lost leadership from a conflict.
            otherwise.push(TxnOp::get(fence.key.clone(), None));
        }
        let txn = Txn::new().when(compares).and_then(ops).or_else(otherwise);
        let mut client = self.client.clone();
        let resp = self.bounded(client.txn(txn)).await?;
        if !resp.succeeded() {
            if let Some(fence) = &write.fence {
                let held = resp.op_responses().iter().any(|r| match r {
                    TxnOpResponse::Get(g) => g
                        .kvs()
                        .first()
                        .is_some_and(|kv| kv.create_revision() == fence.revision),
                    _ => false,
                });
                if !held {
                    return Ok(Committed::Deposed);
                }
            }
            return Ok(Committed::Conflict);
        }
        Ok(Committed::Applied {
            revision: resp.header().map_or(0, |h| h.revision()),
        })
    }

    async fn watch(
        &self,
        prefix: &str,
        from: i64,
        events: mpsc::Sender<WatchEvent>,
    ) -> Result<(), StoreError> {
        let store = self.clone();
        let prefix = prefix.to_owned();
        tokio::spawn(async move { store.watch_loop(prefix, from, events).await });
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut client = self.client.clone();
        self.bounded(client.get("/", Some(GetOptions::new().with_count_only())))
            .await
            .map(|_| ())
    }
}

impl EtcdStore {
    /// Watches `prefix` from `next`, reconnecting after errors, until `events` is closed.
    async fn watch_loop(self, prefix: String, mut next: i64, events: mpsc::Sender<WatchEvent>) {
        let mut delay = Duration::from_millis(100);
        while !events.is_closed() {
            let mut client = self.client.clone();
            let opts = WatchOptions::new().with_prefix().with_start_revision(next);
            let mut stream = match client.watch(prefix.as_str(), Some(opts)).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(prefix = %prefix, error = %e, "watch could not start; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                    continue;
                }
            };
            loop {
                let message = tokio::select! {
                    m = stream.message() => m,
                    () = events.closed() => return,
                };
                match message {
                    Ok(Some(resp)) => {
                        delay = Duration::from_millis(100);
                        if resp.canceled() {
                            if resp.compact_revision() > 0 {
                                tracing::warn!(prefix = %prefix, "watch history compacted; reloading");
                                match self.load(&prefix).await {
                                    Ok(snapshot) => {
                                        next = snapshot.revision + 1;
                                        let event = WatchEvent::Resync {
                                            prefix: prefix.clone(),
                                            snapshot,
                                        };
                                        if events.send(event).await.is_err() {
                                            return;
                                        }
                                    }
                                    Err(e) => {
                                        tracing::debug!(error = %e, "reload after compaction failed")
                                    }
                                }
                            }
                            break;
                        }
                        // One response may hold several revisions; each is sent whole.
                        let mut batch: Option<(i64, Changes)> = None;
                        for ev in resp.events() {
                            let Some(item) = ev.kv() else { continue };
                            let revision = item.mod_revision();
                            next = next.max(revision + 1);
                            let change = match ev.event_type() {
                                EventType::Put => match kv(item) {
                                    Ok(kv) => (kv.key, Some(kv.value)),
                                    Err(e) => {
                                        tracing::warn!(error = %e, "skipping unreadable watch event");
                                        continue;
                                    }
                                },
                                EventType::Delete => {
                                    (String::from_utf8_lossy(item.key()).into_owned(), None)
                                }
                            };
                            match &mut batch {
                                Some((r, changes)) if *r == revision => changes.push(change),
                                _ => {
                                    if let Some((revision, changes)) =
                                        batch.replace((revision, vec![change]))
                                    {
                                        let event = WatchEvent::Changed { revision, changes };
                                        if events.send(event).await.is_err() {
                                            return;
                                        }
                                    }
                                }
                            }
                        }
                        if let Some((revision, changes)) = batch {
                            let event = WatchEvent::Changed { revision, changes };
                            if events.send(event).await.is_err() {
                                return;
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(prefix = %prefix, error = %e, "watch stream failed; reconnecting");
                        break;
                    }
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }
}

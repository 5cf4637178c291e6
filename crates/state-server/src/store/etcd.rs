//! The etcd store (production, and the path to a multi-node deployment).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, Txn, TxnOp, TxnOpResponse,
    WatchOptions,
};
use tokio::sync::mpsc;

use super::{Changes, Committed, Kv, Snapshot, Store, StoreError, WatchEvent, Write, pages::Pages};

/// Whether etcd refused a read because the revision asked for is compacted or in the future.
fn revision_gone(e: &StoreError) -> bool {
    let StoreError::Unavailable { cause, .. } = e else {
        return false;
    };
    cause.downcast_ref::<etcd_client::Error>().is_some_and(|e| {
        matches!(e, etcd_client::Error::GRpcStatus(s)
            if s.code() == tonic::Code::OutOfRange && s.message().contains("required revision"))
    })
}

/// Whether a page was refused for being larger than the client's message limit.
fn page_too_large(e: &StoreError) -> bool {
    matches!(e, StoreError::Unavailable { cause, .. } if cause.to_string().contains("too large"))
}

/// A handle on an etcd cluster: one client per member, so that a call the member in use cannot
/// answer is made on the next one. Cheap to clone.
#[derive(Clone)]
pub struct EtcdStore {
    clients: Arc<Vec<Client>>,
    /// The member in use: the last one that answered.
    current: Arc<AtomicUsize>,
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

/// How the daemon proves itself to etcd: TLS (the CA of etcd's certificate, and a client
/// certificate when etcd requires one) and a user.
#[derive(Clone, Default)]
pub struct EtcdAccess {
    /// The CA etcd's certificate chains to, PEM (`https://` endpoints).
    pub ca: Option<String>,
    /// A client certificate and key, PEM (etcd's `--client-cert-auth`).
    pub identity: Option<crate::tls::Pem>,
    /// User and password (etcd's authentication).
    pub user: Option<(String, String)>,
}

impl std::fmt::Debug for EtcdAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdAccess")
            .field("tls", &self.ca.is_some())
            .field("client_certificate", &self.identity.is_some())
            .field("user", &self.user.as_ref().map(|(u, _)| u))
            .finish()
    }
}

impl EtcdStore {
    /// Connects lazily to `endpoints`; every call is bounded by `timeout` per member tried.
    pub async fn connect(endpoints: &[String], timeout: Duration) -> Result<Self, StoreError> {
        Self::connect_with(endpoints, timeout, &EtcdAccess::default()).await
    }

    /// As [`EtcdStore::connect`], with TLS and a user.
    pub async fn connect_with(
        endpoints: &[String],
        timeout: Duration,
        access: &EtcdAccess,
    ) -> Result<Self, StoreError> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(timeout)
            .with_timeout(timeout)
            .with_keep_alive(Duration::from_secs(5), timeout)
            .with_keep_alive_while_idle(true)
            // A member cut off from its cluster refuses calls (and ends watches) rather than
            // answering from a stale copy: the call moves to another member.
            .with_require_leader(true);
        if access.ca.is_some() || access.identity.is_some() {
            let mut tls = etcd_client::TlsOptions::new();
            if let Some(ca) = &access.ca {
                tls = tls.ca_certificate(etcd_client::Certificate::from_pem(ca));
            }
            if let Some(pem) = &access.identity {
                tls = tls.identity(etcd_client::Identity::from_pem(&pem.cert, &pem.key));
            }
            options = options.with_tls(tls);
        }
        if let Some((user, password)) = &access.user {
            options = options.with_user(user, password);
        }
        let mut clients = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            let client = Client::connect([endpoint], Some(options.clone()))
                .await
                .map_err(unavailable)?;
            clients.push(client);
        }
        if clients.is_empty() {
            return Err(StoreError::internal("etcd", NoEndpoints));
        }
        Ok(EtcdStore {
            clients: Arc::new(clients),
            current: Arc::new(AtomicUsize::new(0)),
            timeout,
        })
    }

    /// A client on the member in use, for the election.
    pub fn client(&self) -> Client {
        let i = self.current.load(Ordering::Relaxed) % self.clients.len();
        self.clients[i].clone()
    }

    /// Moves to the next member, after a call made outside [`EtcdStore::call`] failed.
    pub fn rotate(&self) {
        if self.clients.len() > 1 {
            self.current.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Runs `call` on the member in use; if that member cannot answer (it died, or lost its
    /// quorum), on each other member in turn. The first that answers stays in use. A refusal
    /// every member would give (bad input) is returned at once.
    async fn call<T, F, Fut>(&self, call: F) -> Result<T, StoreError>
    where
        F: Fn(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        let n = self.clients.len();
        let first = self.current.load(Ordering::Relaxed);
        let mut last = StoreError::Timeout(self.timeout);
        for k in 0..n {
            let i = (first + k) % n;
            match tokio::time::timeout(self.timeout, call(self.clients[i].clone())).await {
                Ok(Ok(v)) => {
                    if k > 0 {
                        self.current.store(i, Ordering::Relaxed);
                        tracing::info!(member = i, "etcd member in use changed");
                    }
                    return Ok(v);
                }
                Ok(Err(e)) if !elsewhere(&e) => return Err(unavailable(e)),
                Ok(Err(e)) => last = unavailable(e),
                Err(_) => last = StoreError::Timeout(self.timeout),
            }
        }
        Err(last)
    }
}

/// Whether another member might answer where this one failed: not for a refusal of the
/// request itself.
fn elsewhere(e: &etcd_client::Error) -> bool {
    use tonic::Code;
    match e {
        etcd_client::Error::GRpcStatus(s) => !matches!(
            s.code(),
            Code::InvalidArgument
                | Code::FailedPrecondition
                | Code::PermissionDenied
                | Code::Unauthenticated
                | Code::ResourceExhausted
                | Code::OutOfRange
        ),
        _ => true,
    }
}

/// `connect` was given no endpoint.
#[derive(Debug, thiserror::Error)]
#[error("no etcd endpoint given")]
struct NoEndpoints;

impl Store for EtcdStore {
    fn name(&self) -> &'static str {
        "etcd"
    }

    async fn load(&self, prefix: &str) -> Result<Snapshot, StoreError> {
        let mut kvs = Vec::new();
        let revision = self.load_pages(prefix, 0, |kv| kvs.push(kv)).await?;
        Ok(Snapshot { kvs, revision })
    }

    async fn load_each<F: FnMut(Kv) + Send>(
        &self,
        prefix: &str,
        each: F,
    ) -> Result<i64, StoreError> {
        self.load_pages(prefix, 0, each).await
    }

    async fn load_at(&self, prefix: &str, revision: i64) -> Result<Option<Snapshot>, StoreError> {
        let mut kvs = Vec::new();
        match self.load_pages(prefix, revision, |kv| kvs.push(kv)).await {
            Ok(revision) => Ok(Some(Snapshot { kvs, revision })),
            Err(e) if revision_gone(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Kv>, StoreError> {
        let resp = self
            .call(|mut c| async move { c.get(key, None).await })
            .await?;
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
        let resp = self
            .call(|mut c| {
                let txn = txn.clone();
                async move { c.txn(txn).await }
            })
            .await?;
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
        self.call(
            |mut c| async move { c.get("/", Some(GetOptions::new().with_count_only())).await },
        )
        .await
        .map(|_| ())
    }
}

impl EtcdStore {
    /// Every key under `prefix` at `revision` (0: the revision of the first page), handed to
    /// `each` page by page ([`Pages`]), all read at that revision: one consistent view whatever
    /// its size. Returns the revision.
    async fn load_pages<F: FnMut(Kv) + Send>(
        &self,
        prefix: &str,
        revision: i64,
        mut each: F,
    ) -> Result<i64, StoreError> {
        let mut pages = Pages::new(prefix, revision);
        loop {
            let (from, options) = (pages.from.clone(), pages.options());
            let page = match self
                .call(|mut c| {
                    let (from, options) = (from.clone(), options.clone());
                    async move { c.get(from, Some(options)).await }
                })
                .await
            {
                Ok(page) => page,
                Err(e) if page_too_large(&e) && pages.halve() => continue,
                Err(e) => return Err(e),
            };
            for item in page.kvs() {
                each(kv(item)?);
            }
            if !pages.advance(&page) {
                return Ok(pages.revision);
            }
        }
    }

    /// Watches `prefix` from `next`, reconnecting after errors, until `events` is closed.
    async fn watch_loop(self, prefix: String, mut next: i64, events: mpsc::Sender<WatchEvent>) {
        let mut delay = Duration::from_millis(100);
        while !events.is_closed() {
            let mut client = self.client();
            let opts = WatchOptions::new().with_prefix().with_start_revision(next);
            let mut stream = match client.watch(prefix.as_str(), Some(opts)).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(prefix = %prefix, error = %e, "watch could not start; retrying");
                    self.rotate();
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
                        self.rotate();
                        break;
                    }
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }
}

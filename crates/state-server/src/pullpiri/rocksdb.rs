//! Artifacts from Pullpiri's RocksDB service (`--artifacts-from`): today's ApiServer stores
//! `Scenario/{name}`, `Package/{name}` and `Model/{name}` there and nowhere else. The service
//! has no watch, so the daemon asks for each prefix at a fixed interval and compares the
//! answer with the artifacts in its own store; the leader stores what changed (and deletes
//! what is gone), which the topology takes in as it takes any artifact, on every replica
//! through the store's watch. The store's copy is what a restart loads when the service is
//! away, so an outage of the service never empties the topology (`docs/pullpiri.md`).
//!
//! - A document that cannot be read, or that its budget refuses, is skipped with a warning
//!   (once per version of it) and the copy stored before stays; it never stops the poll.
//! - An unreachable service keeps the last topology; `statemanager_artifacts_up` turns 0 and
//!   `/readyz` says why (states are still served).
//! - A prefix that empties at once (a wiped or freshly started service) is applied only once
//!   it has stayed empty for [`Source::empty_grace`].

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use state_artifact::{Parsed, parse_one};
use tokio::{sync::watch, time::Instant};
use tonic::transport::{Channel, Endpoint};

use crate::{
    engine::{Command, EngineHandle},
    leader::Role,
    metrics::Metrics,
    pb::rocksdbservice::{GetByPrefixRequest, rocks_db_service_client::RocksDbServiceClient},
    store::{AnyStore, Store},
};

/// The artifact prefixes today's ApiServer writes.
pub const PREFIXES: [&str; 3] = ["Scenario/", "Package/", "Model/"];

/// Where artifacts come from and how often they are asked for.
#[derive(Clone, Debug)]
pub struct Source {
    /// The service's URL (`http://host:47007`).
    pub url: String,
    /// Pause between two polls.
    pub every: Duration,
    /// How long a prefix must stay empty, after holding artifacts, before they are deleted.
    pub empty_grace: Duration,
    /// Deadline of one call to the service.
    pub call_timeout: Duration,
}

impl Source {
    /// Within the NodeAgent's own one-second rhythm: an applied scenario is known before the
    /// first list of its containers arrives.
    pub const DEFAULT_EVERY: Duration = Duration::from_secs(1);
    /// Long enough to ride out a service restarting on an empty directory before its data is
    /// back; short enough that an operator who withdrew everything sees it within a minute.
    pub const DEFAULT_EMPTY_GRACE: Duration = Duration::from_secs(30);

    /// Polls `url` at the defaults.
    pub fn new(url: impl Into<String>) -> Source {
        Source {
            url: url.into(),
            every: Self::DEFAULT_EVERY,
            empty_grace: Self::DEFAULT_EMPTY_GRACE,
            call_timeout: Duration::from_secs(2),
        }
    }
}

/// The poller's state between polls.
struct Poller {
    source: Source,
    client: RocksDbServiceClient<Channel>,
    store: Arc<AnyStore>,
    engine: EngineHandle,
    roles: watch::Receiver<Role>,
    metrics: Arc<Metrics>,
    /// How long the engine may take to store a change.
    wait: Duration,
    /// Per prefix, since when the service has held nothing under it while the store has.
    empty_since: HashMap<&'static str, Instant>,
    /// The unreadable documents of the last comparison, by key and text: a bad one is said
    /// once, and forgotten once it is gone or fixed.
    warned: HashSet<(String, u64)>,
    /// The same, for the comparison under way.
    bad: HashSet<(String, u64)>,
    /// Whether the last poll was answered.
    up: bool,
}

/// Starts polling `source` for as long as the engine runs.
pub fn start(
    source: Source,
    store: Arc<AnyStore>,
    engine: EngineHandle,
    roles: watch::Receiver<Role>,
    metrics: Arc<Metrics>,
    wait: Duration,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let channel = Endpoint::from_shared(source.url.clone())?
        .connect_timeout(source.call_timeout)
        .timeout(source.call_timeout)
        .connect_lazy();
    let mut poller = Poller {
        client: RocksDbServiceClient::new(channel),
        source,
        store,
        engine,
        roles,
        metrics,
        wait,
        empty_since: HashMap::new(),
        warned: HashSet::new(),
        bad: HashSet::new(),
        up: true,
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(poller.source.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stop = std::pin::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = tick.tick() => {}
            }
            if !poller.poll().await {
                return;
            }
        }
    });
    Ok(())
}

impl Poller {
    /// One round. `false` once the engine is gone.
    async fn poll(&mut self) -> bool {
        let mut held = BTreeMap::new();
        for prefix in PREFIXES {
            match self.read(prefix).await {
                Ok(pairs) => {
                    held.insert(prefix, pairs);
                }
                Err(problem) => {
                    if self.up {
                        tracing::warn!(source = %self.source.url, problem = %problem, "Pullpiri's RocksDB service does not answer; keeping the artifacts last read from it");
                    }
                    self.up = false;
                    self.metrics.set_artifacts(Some(format!(
                        "Pullpiri's RocksDB service at {} does not answer ({problem}); the artifacts last read from it stay",
                        self.source.url
                    )));
                    return true;
                }
            }
        }
        if !self.up {
            tracing::info!(source = %self.source.url, "Pullpiri's RocksDB service answers again");
        }
        self.up = true;
        self.metrics.set_artifacts(None);
        // Only the leader writes; the others take the topology in through the store's watch.
        if !matches!(*self.roles.borrow(), Role::Leader(_)) {
            return true;
        }
        let (puts, deletes) = match self.changes(held).await {
            Some(changes) => changes,
            None => return true,
        };
        if puts.is_empty() && deletes.is_empty() {
            return true;
        }
        let (n_puts, n_deletes) = (puts.len(), deletes.len());
        let stored = self
            .engine
            .call(self.wait, |reply| Command::Mirror {
                puts,
                deletes,
                reply,
            })
            .await
            .and_then(|r| r);
        match stored {
            Ok(_) => tracing::info!(
                source = %self.source.url,
                stored = n_puts,
                deleted = n_deletes,
                "artifacts taken from Pullpiri's RocksDB service"
            ),
            Err(crate::engine::EngineError::Stopped) => return false,
            // Asked again at the next poll, which compares again.
            Err(e) => {
                tracing::warn!(error = %e, "artifacts from Pullpiri's RocksDB service not stored yet")
            }
        }
        true
    }

    /// Every key and value under `prefix` at the service.
    async fn read(&mut self, prefix: &str) -> Result<Vec<(String, String)>, String> {
        let answer = self
            .client
            .get_by_prefix(GetByPrefixRequest {
                prefix: prefix.to_owned(),
                limit: 0,
            })
            .await
            .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?
            .into_inner();
        if !answer.error.is_empty() {
            return Err(answer.error);
        }
        Ok(answer
            .pairs
            .into_iter()
            .filter(|kv| kv.key.starts_with(prefix))
            .map(|kv| (kv.key, kv.value))
            .collect())
    }

    /// What the store must take to hold what the service holds: documents to store, keys
    /// to delete. `None` when the store cannot be read now (asked again next time).
    async fn changes(
        &mut self,
        held: BTreeMap<&'static str, Vec<(String, String)>>,
    ) -> Option<(Vec<Parsed>, Vec<String>)> {
        let mut puts = Vec::new();
        let mut deletes = Vec::new();
        for (prefix, pairs) in held {
            let stored: BTreeMap<String, String> = match self.store.load(prefix).await {
                Ok(snapshot) => snapshot
                    .kvs
                    .into_iter()
                    .map(|kv| (kv.key, kv.value))
                    .collect(),
                Err(e) => {
                    tracing::debug!(error = %e, "store not readable for the artifact comparison");
                    return None;
                }
            };
            let at_source: HashSet<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
            if pairs.is_empty() && !stored.is_empty() {
                if !self.held_empty(prefix, stored.len()) {
                    continue;
                }
            } else {
                self.empty_since.remove(prefix);
            }
            for (key, value) in &pairs {
                if let Some(parsed) = self.readable(key, value)
                    && stored.get(key) != Some(&parsed.yaml)
                {
                    puts.push(parsed);
                }
            }
            deletes.extend(
                stored
                    .into_keys()
                    .filter(|k| !at_source.contains(k.as_str())),
            );
        }
        self.warned = std::mem::take(&mut self.bad);
        Some((puts, deletes))
    }

    /// Whether an empty prefix has stayed empty long enough to be taken as such.
    fn held_empty(&mut self, prefix: &'static str, stored: usize) -> bool {
        let now = Instant::now();
        let since = *self.empty_since.entry(prefix).or_insert_with(|| {
            tracing::warn!(
                prefix,
                stored,
                grace = ?self.source.empty_grace,
                "Pullpiri's RocksDB service holds none of these artifacts any more; they are removed only if it stays so"
            );
            now
        });
        now.duration_since(since) >= self.source.empty_grace
    }

    /// The document stored at `key`, if it can be read and names that key.
    fn readable(&mut self, key: &str, value: &str) -> Option<Parsed> {
        let problem = match parse_one(value) {
            Ok(parsed) if parsed.artifact.key() == key => return Some(parsed),
            Ok(parsed) => format!("the document names {}", parsed.artifact.key()),
            Err(e) => e.to_string(),
        };
        let fingerprint = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            value.hash(&mut h);
            h.finish()
        };
        let seen = (key.to_owned(), fingerprint);
        if !self.warned.contains(&seen) {
            tracing::warn!(key, problem = %problem, "artifact in Pullpiri's RocksDB service skipped; the copy stored before stays");
        }
        self.bad.insert(seen);
        None
    }
}

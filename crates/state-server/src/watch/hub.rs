//! One store watch per daemon, shared by every `WatchStates` stream that has caught up, so a
//! hundred streams cost the store one watch, not a hundred. The hub keeps the most recent
//! revisions too: a stream (or a client resuming from a revision in that window) takes them
//! from here and then follows live, under one lock, so nothing falls in between.
//!
//! A stream whose starting revision is older than the window reads the store's own history
//! with a watch of its own instead (`mod.rs`).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::{broadcast, mpsc};

use crate::store::{AnyStore, Changes, Store, WatchEvent};

/// Changed keys kept for streams that start or resume: enough for several seconds of a busy
/// fleet's revisions, a bounded amount of memory whatever the load.
const RECENT_KEYS: usize = 16_384;
/// Revisions a live stream may fall behind by before it starts over with a fresh snapshot.
const LIVE_QUEUE: usize = 4096;

/// What the hub passes on.
#[derive(Debug)]
pub enum Raw {
    /// Everything one revision changed under `/`.
    Changed { revision: i64, changes: Changes },
    /// The store lost history the hub had not seen (compaction): streams start over.
    Resync,
}

#[derive(Debug)]
struct Window {
    /// Every change after this revision is in `recent` (once the watch runs).
    base: i64,
    running: bool,
    recent: VecDeque<Arc<Raw>>,
    keys: usize,
}

/// The shared watch.
#[derive(Debug)]
pub struct Hub {
    window: Mutex<Window>,
    live: broadcast::Sender<Arc<Raw>>,
}

/// What a stream follows once it has read its starting point: the kept revisions after it,
/// then the live ones.
#[derive(Debug)]
pub struct Replay {
    pub kept: Vec<Arc<Raw>>,
    pub live: broadcast::Receiver<Arc<Raw>>,
}

impl Hub {
    /// Starts the shared watch on `store` (retrying until the store answers).
    pub fn start(store: Arc<AnyStore>) -> Arc<Hub> {
        let hub = Arc::new(Hub {
            window: Mutex::new(Window {
                base: 0,
                running: false,
                recent: VecDeque::new(),
                keys: 0,
            }),
            live: broadcast::channel(LIVE_QUEUE).0,
        });
        let run = hub.clone();
        tokio::spawn(async move { run.run(store).await });
        hub
    }

    async fn run(self: Arc<Self>, store: Arc<AnyStore>) {
        let (tx, mut rx) = mpsc::channel(LIVE_QUEUE);
        loop {
            let started = async {
                let revision = store.revision().await?;
                store.watch("/", revision + 1, tx.clone()).await?;
                Ok::<_, crate::store::StoreError>(revision)
            };
            match started.await {
                Ok(revision) => {
                    let mut w = self.lock();
                    w.base = revision;
                    w.running = true;
                    break;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "shared watch cannot start yet; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        // The store's watch reconnects by itself and says when history was lost.
        while let Some(event) = rx.recv().await {
            let raw = match event {
                WatchEvent::Changed { revision, changes } => Raw::Changed { revision, changes },
                WatchEvent::Resync { snapshot, .. } => {
                    let mut w = self.lock();
                    w.base = snapshot.revision;
                    w.recent.clear();
                    w.keys = 0;
                    let _ = self.live.send(Arc::new(Raw::Resync));
                    continue;
                }
            };
            let raw = Arc::new(raw);
            let mut w = self.lock();
            if let Raw::Changed { changes, .. } = raw.as_ref() {
                w.keys += changes.len();
            }
            w.recent.push_back(raw.clone());
            while w.keys > RECENT_KEYS && w.recent.len() > 1 {
                if let Some(old) = w.recent.pop_front()
                    && let Raw::Changed { revision, changes } = old.as_ref()
                {
                    w.keys -= changes.len();
                    w.base = *revision;
                }
            }
            // Sent under the lock, so a stream that subscribes in `replay` sees each revision
            // exactly once: kept, or live.
            let _ = self.live.send(raw);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The revisions after `after`, then live ones; `None` when the hub does not hold every
    /// revision after it (it is older than the window, or the hub is not running yet).
    pub fn replay(&self, after: i64) -> Option<Replay> {
        let w = self.lock();
        if !w.running || w.base > after {
            return None;
        }
        let kept = w
            .recent
            .iter()
            .filter(|r| matches!(r.as_ref(), Raw::Changed { revision, .. } if *revision > after))
            .cloned()
            .collect();
        Some(Replay {
            kept,
            live: self.live.subscribe(),
        })
    }
}

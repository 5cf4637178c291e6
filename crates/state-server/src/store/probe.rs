//! Whether the store answers, checked on a clock of its own. Health and readiness used to
//! change only when a load or a write failed, so an idle daemon (a follower, or a leader
//! between lists) stayed "ready" on a dead store. The check runs beside the engine, not in
//! its loop, so a check that hangs until its timeout never holds up a request.

use std::sync::Arc;

use tokio::sync::watch;

use super::Store;
use crate::waits::Probe;

/// Starts checking `store`: the receiver holds `true` while the last check was answered.
/// It starts `true` (the engine's load says otherwise if the store is down from the start)
/// and changes only when the answer does. The checks stop once every receiver is dropped.
pub fn start<S: Store>(store: Arc<S>, probe: Probe) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(true);
    tokio::spawn(async move {
        loop {
            let answer = tokio::select! {
                () = tx.closed() => return,
                a = tokio::time::timeout(probe.within, store.ping()) => a,
            };
            let up = match answer {
                Ok(Ok(())) => true,
                Ok(Err(e)) => {
                    if *tx.borrow() {
                        tracing::warn!(store = store.name(), error = %e, "store unreachable");
                    }
                    false
                }
                Err(_) => {
                    if *tx.borrow() {
                        tracing::warn!(
                            store = store.name(),
                            "store unreachable: no answer within {:?}",
                            probe.within
                        );
                    }
                    false
                }
            };
            tx.send_if_modified(|was| {
                if *was == up {
                    return false;
                }
                if up {
                    tracing::info!(store = store.name(), "store answers again");
                }
                *was = up;
                true
            });
            tokio::select! {
                () = tx.closed() => return,
                () = tokio::time::sleep(probe.every) => {}
            }
        }
    });
    rx
}

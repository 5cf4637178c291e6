//! The pieces of the restart run (xtask times the daemon's start around them):
//!
//! - `populate`: stores a whole fleet straight into etcd, every key as the daemon would have
//!   written it (state-core's own planner computes them), so the daemon starts on a fleet with
//!   nothing to repair;
//! - `read`: the baseline, reading what the daemon reads at start (everything under `/`, and
//!   the artifacts) with the same client library, paged as the daemon pages, at one revision;
//! - `first-ack`: sends one node's unchanged list until the daemon acknowledges it.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use etcd_client::{Client, Txn, TxnOp};
use serde_json::{Value, json};
use state_server::{
    pb::statemanager::state_manager_connection_client::StateManagerConnectionClient,
    // Paged as the daemon pages its own start-up read.
    store::pages::Pages,
};

use crate::Opts;

/// Concurrent writers while populating.
const WRITERS: usize = 16;
/// Keys per transaction (etcd's default `--max-txn-ops`).
const TXN_OPS: usize = 128;

/// How long `first-ack` keeps trying.
const FIRST_ACK_WITHIN: Duration = Duration::from_secs(600);

pub async fn populate(o: &Opts) -> Result<Value> {
    if o.etcd.is_empty() {
        bail!("populate needs --etcd");
    }
    let started = Instant::now();
    let mut keys: Vec<(String, String)> = o.fleet.artifacts();
    o.fleet.stored(|batch| {
        keys.extend(batch.into_iter().filter_map(|(k, v)| Some((k, v?))));
    });
    let total = keys.len();
    let chunks: Vec<Vec<(String, String)>> = keys.chunks(TXN_OPS).map(<[_]>::to_vec).collect();
    let mut tasks = Vec::new();
    let per_writer = chunks.len().div_ceil(WRITERS).max(1);
    for part in chunks.chunks(per_writer) {
        let part = part.to_vec();
        let mut client = Client::connect([o.etcd.as_str()], None).await?;
        tasks.push(tokio::spawn(async move {
            for chunk in part {
                let ops: Vec<TxnOp> = chunk
                    .iter()
                    .map(|(k, v)| TxnOp::put(k.as_str(), v.as_str(), None))
                    .collect();
                client.txn(Txn::new().and_then(ops)).await?;
            }
            Ok::<_, etcd_client::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(json!({
        "keys": total,
        "containers": o.fleet.containers(),
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

/// Reads a prefix in pages pinned to the first page's revision; returns the keys read.
async fn read_prefix(client: &mut Client, prefix: &str) -> Result<usize> {
    let mut pages = Pages::new(prefix, 0);
    let mut count = 0;
    loop {
        let page = client
            .get(pages.from.clone(), Some(pages.options()))
            .await?;
        count += page.kvs().len();
        if !pages.advance(&page) {
            return Ok(count);
        }
    }
}

pub async fn read(o: &Opts) -> Result<Value> {
    if o.etcd.is_empty() {
        bail!("read needs --etcd");
    }
    let mut client = Client::connect([o.etcd.as_str()], None).await?;
    let started = Instant::now();
    let mut keys = 0;
    for prefix in ["/", "Package/", "Scenario/"] {
        keys += read_prefix(&mut client, prefix).await?;
    }
    Ok(json!({"keys": keys, "seconds": started.elapsed().as_secs_f64()}))
}

pub async fn first_ack(o: &Opts) -> Result<Value> {
    if o.daemon.is_empty() {
        bail!("first-ack needs --daemon");
    }
    let started = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        if let Ok(mut client) = StateManagerConnectionClient::connect(o.daemon.clone()).await
            && client
                .send_changed_container_list(o.fleet.list(0, 0))
                .await
                .is_ok()
        {
            return Ok(json!({"attempts": attempts, "seconds": started.elapsed().as_secs_f64()}));
        }
        if started.elapsed() > FIRST_ACK_WITHIN {
            bail!("the daemon did not acknowledge a list within {FIRST_ACK_WITHIN:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

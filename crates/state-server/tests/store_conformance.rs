//! One conformance suite for every `Store`: the real etcd and the embedded database must behave
//! the same way to the daemon.

mod common;

use std::time::Duration;

use common::Etcd;
use state_server::store::{
    Committed, Store, WatchEvent, Write, embedded::EmbeddedStore, etcd::EtcdStore,
};
use tokio::sync::mpsc;

fn put(key: &str, value: &str, expected: i64) -> Write {
    Write {
        compares: vec![(key.into(), expected)],
        puts: vec![(key.into(), value.into())],
        deletes: vec![],
    }
}

async fn applied(store: &impl Store, write: &Write) -> i64 {
    match store.commit(write).await.expect("commit") {
        Committed::Applied { revision } => revision,
        Committed::Conflict => panic!("unexpected conflict for {write:?}"),
    }
}

async fn next_event(rx: &mut mpsc::Receiver<WatchEvent>) -> WatchEvent {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("watch event in time")
        .expect("watch open")
}

async fn conformance(store: &impl Store) {
    // Empty prefix.
    assert!(store.load("/model/").await.expect("load").kvs.is_empty());
    store.ping().await.expect("ping");

    // Create-if-absent, then read back with its revision.
    let r1 = applied(store, &put("/model/a/state", "MODEL_STATE_CREATED", 0)).await;
    let got = store
        .get("/model/a/state")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got.value, "MODEL_STATE_CREATED");
    assert_eq!(got.mod_revision, r1);

    // A stale compare writes nothing.
    assert_eq!(
        store
            .commit(&put("/model/a/state", "MODEL_STATE_DEAD", 0))
            .await
            .expect("commit"),
        Committed::Conflict
    );
    assert_eq!(
        store
            .get("/model/a/state")
            .await
            .expect("get")
            .expect("present")
            .value,
        "MODEL_STATE_CREATED"
    );

    // A multi-key write is all or nothing: one stale compare blocks the others.
    let multi = Write {
        compares: vec![("/model/a/state".into(), r1), ("/model/b/state".into(), 99)],
        puts: vec![
            ("/model/a/state".into(), "MODEL_STATE_RUNNING".into()),
            ("/model/b/state".into(), "MODEL_STATE_RUNNING".into()),
        ],
        deletes: vec![],
    };
    assert_eq!(
        store.commit(&multi).await.expect("commit"),
        Committed::Conflict
    );
    assert!(store.get("/model/b/state").await.expect("get").is_none());

    // The right compares apply every op at one new revision.
    let multi = Write {
        compares: vec![("/model/a/state".into(), r1), ("/model/b/state".into(), 0)],
        ..multi
    };
    let r2 = applied(store, &multi).await;
    assert!(r2 > r1);
    let snapshot = store.load("/model/").await.expect("load");
    let keys: Vec<_> = snapshot
        .kvs
        .iter()
        .map(|kv| (kv.key.as_str(), kv.mod_revision))
        .collect();
    assert_eq!(keys, [("/model/a/state", r2), ("/model/b/state", r2)]);
    assert!(snapshot.revision >= r2);
    // Prefixes do not leak into each other.
    applied(store, &put("/modelx/state", "x", 0)).await;
    assert_eq!(store.load("/model/").await.expect("load").kvs.len(), 2);

    // Watch from now: puts and deletes arrive in order with their revisions.
    let (tx, mut rx) = mpsc::channel(16);
    let from = store.load("/package/").await.expect("load").revision + 1;
    store.watch("/package/", from, tx).await.expect("watch");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r3 = applied(store, &put("/package/p/state", "PACKAGE_STATE_IDLE", 0)).await;
    applied(store, &put("/model/c/state", "not watched", 0)).await;
    let r4 = applied(
        store,
        &Write {
            compares: vec![("/package/p/state".into(), r3)],
            puts: vec![],
            deletes: vec!["/package/p/state".into()],
        },
    )
    .await;
    match next_event(&mut rx).await {
        WatchEvent::Put(kv) => {
            assert_eq!(
                (kv.key.as_str(), kv.value.as_str(), kv.mod_revision),
                ("/package/p/state", "PACKAGE_STATE_IDLE", r3)
            );
        }
        other => panic!("expected a put, got {other:?}"),
    }
    match next_event(&mut rx).await {
        WatchEvent::Delete { key, mod_revision } => {
            assert_eq!((key.as_str(), mod_revision), ("/package/p/state", r4));
        }
        other => panic!("expected a delete, got {other:?}"),
    }
    assert!(store.get("/package/p/state").await.expect("get").is_none());
}

#[tokio::test]
async fn etcd_store_conforms() {
    let etcd = Etcd::start().await;
    let store = EtcdStore::connect(&[etcd.url()], Duration::from_secs(2))
        .await
        .expect("connect");
    conformance(&store).await;
}

#[tokio::test]
async fn embedded_store_conforms_and_persists() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = EmbeddedStore::open(dir.path()).expect("open");
        conformance(&store).await;
    }
    let store = EmbeddedStore::open(dir.path()).expect("reopen");
    let got = store
        .get("/model/a/state")
        .await
        .expect("get")
        .expect("persisted");
    assert_eq!(got.value, "MODEL_STATE_RUNNING");
    let before = store.load("/").await.expect("load").revision;
    let after = match store
        .commit(&put("/model/z/state", "MODEL_STATE_CREATED", 0))
        .await
        .expect("commit")
    {
        Committed::Applied { revision } => revision,
        Committed::Conflict => panic!("conflict"),
    };
    assert_eq!(after, before + 1, "revisions continue after a reopen");
}

#[tokio::test]
async fn etcd_store_reports_unavailable_when_down() {
    let mut etcd = Etcd::start().await;
    let store = EtcdStore::connect(&[etcd.url()], Duration::from_millis(500))
        .await
        .expect("connect");
    store.ping().await.expect("up");
    etcd.kill();
    let e = store.ping().await.expect_err("down");
    let text = e.to_string();
    assert!(
        text.contains("unavailable") || text.contains("did not answer"),
        "{text}"
    );
}

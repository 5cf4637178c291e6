//! One conformance suite for every `Store`: the real etcd and the embedded database must behave
//! the same way to the daemon.

mod common;

use std::time::Duration;

use common::Etcd;
use state_server::{
    leader::Fence,
    store::{Committed, Store, WatchEvent, Write, embedded::EmbeddedStore, etcd::EtcdStore},
};
use tokio::sync::mpsc;

fn put(key: &str, value: &str, expected: i64) -> Write {
    Write {
        fence: None,
        compares: vec![(key.into(), expected)],
        puts: vec![(key.into(), value.into())],
        deletes: vec![],
    }
}

async fn applied(store: &impl Store, write: &Write) -> i64 {
    match store.commit(write).await.expect("commit") {
        Committed::Applied { revision } => revision,
        other => panic!("unexpected {other:?} for {write:?}"),
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
        fence: None,
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
        fence: None,
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
            fence: None,
            compares: vec![("/package/p/state".into(), r3)],
            puts: vec![],
            deletes: vec!["/package/p/state".into()],
        },
    )
    .await;
    assert_eq!(
        next_event(&mut rx).await,
        WatchEvent::Changed {
            revision: r3,
            changes: vec![("/package/p/state".into(), Some("PACKAGE_STATE_IDLE".into()))],
        },
        "a put, alone in its revision"
    );
    assert_eq!(
        next_event(&mut rx).await,
        WatchEvent::Changed {
            revision: r4,
            changes: vec![("/package/p/state".into(), None)],
        },
        "a delete"
    );
    // One transaction arrives whole, in the order written, keys outside the prefix left out.
    let r5 = applied(
        store,
        &Write {
            fence: None,
            compares: vec![],
            puts: vec![
                ("/package/a/state".into(), "1".into()),
                ("/model/x/state".into(), "not watched".into()),
                ("/package/b/state".into(), "2".into()),
            ],
            deletes: vec![],
        },
    )
    .await;
    assert_eq!(
        next_event(&mut rx).await,
        WatchEvent::Changed {
            revision: r5,
            changes: vec![
                ("/package/a/state".into(), Some("1".into())),
                ("/package/b/state".into(), Some("2".into())),
            ],
        },
        "one transaction, one event"
    );
    assert!(store.get("/package/p/state").await.expect("get").is_none());

    // A prefix larger than one page of a read comes back whole, in key order, at one revision.
    for chunk in 0..11 {
        let puts = (0..110)
            .map(|i| (format!("/many/{:05}", chunk * 110 + i), "v".to_owned()))
            .collect();
        applied(
            store,
            &Write {
                fence: None,
                compares: vec![],
                puts,
                deletes: vec![],
            },
        )
        .await;
    }
    let many = store.load("/many/").await.expect("load");
    assert_eq!(many.kvs.len(), 1210);
    assert!(
        many.kvs.windows(2).all(|w| w[0].key < w[1].key),
        "key order"
    );
    assert!(many.kvs.iter().all(|kv| kv.mod_revision <= many.revision));
}

#[tokio::test]
async fn etcd_store_conforms() {
    let etcd = Etcd::start().await;
    let store = EtcdStore::connect(&[etcd.url()], Duration::from_secs(2))
        .await
        .expect("connect");
    conformance(&store).await;

    // A fenced write applies only while the fence key exists with the fence's creation
    // revision; a failed compare under a holding fence is a conflict, not a deposition.
    let mut client = etcd.client().await;
    let created = client
        .put("statemanager/leader/1", "http://leader", None)
        .await
        .expect("put fence key")
        .header()
        .map(|h| h.revision())
        .expect("revision");
    let fenced = |fence: i64, expected: i64| Write {
        fence: Some(Fence {
            key: b"statemanager/leader/1".to_vec(),
            revision: fence,
        }),
        ..put("/fenced/state", "v", expected)
    };
    let r = applied(&store, &fenced(created, 0)).await;
    assert_eq!(
        store.commit(&fenced(created, 0)).await.expect("commit"),
        Committed::Conflict
    );
    assert_eq!(
        store.commit(&fenced(created + 1, r)).await.expect("commit"),
        Committed::Deposed,
        "another leadership"
    );
    client
        .delete("statemanager/leader/1", None)
        .await
        .expect("delete fence key");
    assert_eq!(
        store.commit(&fenced(created, r)).await.expect("commit"),
        Committed::Deposed,
        "leadership ended"
    );
    assert_eq!(
        store
            .get("/fenced/state")
            .await
            .expect("get")
            .map(|kv| kv.mod_revision),
        Some(r),
        "a deposed writer wrote nothing"
    );
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
        other => panic!("{other:?}"),
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

/// Values so large that a first page of them is over the client's 4 MiB message limit (node
/// memberships of thousands of containers): the read goes on in smaller pages.
#[tokio::test]
async fn etcd_store_reads_a_prefix_of_large_values_in_smaller_pages() {
    let etcd = Etcd::start().await;
    let store = EtcdStore::connect(&[etcd.url()], Duration::from_secs(5))
        .await
        .expect("connect");
    let big = "m".repeat(1024 * 1024);
    for i in 0..6 {
        applied(&store, &put(&format!("/node/n{i}/containers"), &big, 0)).await;
    }
    let all = store.load("/node/").await.expect("load in smaller pages");
    assert_eq!(all.kvs.len(), 6);
    assert!(all.kvs.iter().all(|kv| kv.value.len() == big.len()));
}

//! Container reports (`SendChangedContainerList`): the cascade from containers to models and
//! packages and the reconcile it triggers, membership by annotation, invalid entries and the
//! limits, a report split at the transaction limit, and concurrent reports stored together
//! (`docs/contract.md#sendchangedcontainerlist`, `docs/contract.md#membership`,
//! `docs/contract.md#limits`, `docs/contract.md#promises`).

use std::time::Duration;

use state_server::pb::actioncontroller::PodStatus;

use crate::harness::{
    HELLOWORLD, Harness, container, dead, list, report, report_concurrently, running,
};

#[tokio::test]
async fn cascade_dead_container_marks_package_error_and_reconciles() {
    let mut h = Harness::start().await;
    h.apply(HELLOWORLD).await;
    h.assert_stored("/package/helloworld/state", "PACKAGE_STATE_IDLE")
        .await;
    h.assert_stored("/model/helloworld/state", "MODEL_STATE_CREATED")
        .await;

    // NodeAgent naming: `{model}_{container}` with a leading slash.
    let resp = h.report("HPC", vec![running("/helloworld_app")]).await;
    assert!(resp.contains("1 containers stored"), "{resp}");
    h.assert_stored("/container/helloworld_app/state", "running")
        .await;
    h.assert_stored("/model/helloworld/state", "MODEL_STATE_RUNNING")
        .await;
    h.assert_stored("/package/helloworld/state", "PACKAGE_STATE_RUNNING")
        .await;

    // Exited with a non-zero code is dead (the seed design's table); every model dead: Error.
    h.report("HPC", vec![dead("/helloworld_app")]).await;
    h.assert_stored("/container/helloworld_app/state", "dead")
        .await;
    h.assert_stored("/model/helloworld/state", "MODEL_STATE_DEAD")
        .await;
    h.assert_stored("/package/helloworld/state", "PACKAGE_STATE_ERROR")
        .await;
    let calls = h.ac.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].scenario_name, "helloworld");
    assert_eq!(calls[0].current, PodStatus::Failed as i32);
    assert_eq!(calls[0].desired, PodStatus::Running as i32);

    // Staying in error sends nothing more once the call succeeded.
    h.report(
        "HPC",
        vec![container("helloworld_app", &[("Dead", "true")])],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.ac.calls().len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn membership_by_annotation_and_package_annotation() {
    let mut h = Harness::start().await;
    let mut c = running("radio-main");
    c.annotation
        .insert("io.pullpiri.annotations.model".into(), "radio".into());
    c.annotation.insert(
        "io.pullpiri.annotations.package".into(),
        "infotainment".into(),
    );
    h.report("node-a", vec![c]).await;
    h.assert_stored("/model/radio/state", "MODEL_STATE_RUNNING")
        .await;
    h.assert_stored("/package/infotainment/state", "PACKAGE_STATE_RUNNING")
        .await;
    h.stop().await;
}

#[tokio::test]
async fn invalid_entries_are_skipped_and_named_valid_ones_stored() {
    let mut h = Harness::start().await;
    let mut bad_model = running("ok_c");
    bad_model
        .annotation
        .insert("model".into(), "../package/p".into());
    let resp = h
        .report(
            "n1",
            vec![
                running("m1_good"),
                running("../../package/x"),
                running("has space_c"),
                bad_model,
            ],
        )
        .await;
    assert!(resp.contains("skipped 3"), "{resp}");
    assert!(
        resp.contains("entry 1") && resp.contains("entry 2") && resp.contains("entry 3"),
        "{resp}"
    );
    h.assert_stored("/container/m1_good/state", "running").await;
    // No key outside the four state slots, the node membership slot and the history records
    // was written.
    for (key, _, _) in h.etcd.dump().await {
        assert!(
            state_core::key::StateKey::parse(&key).is_some()
                || state_core::key::parse_node_key(&key).is_some()
                || key.starts_with(state_core::history::HISTORY_PREFIX),
            "unexpected key {key:?}"
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn bad_node_name_and_oversize_lists_are_refused_with_reasons() {
    let mut h = Harness::start_with(|cfg| {
        cfg.limits.max_containers = 5;
        cfg.max_message_bytes = 64 * 1024;
    })
    .await;
    let e = h
        .client
        .send_changed_container_list(list("node/../x", vec![running("m_c")]))
        .await
        .expect_err("bad node refused");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("node_name"), "{}", e.message());

    let many = (0..6).map(|i| running(&format!("m_c{i}"))).collect();
    let e = h
        .client
        .send_changed_container_list(list("n1", many))
        .await
        .expect_err("too many containers refused");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("limit is 5"), "{}", e.message());

    let mut huge = running("m_big");
    huge.stats.insert("blob".into(), "x".repeat(100 * 1024));
    let e = h
        .client
        .send_changed_container_list(list("n1", vec![huge]))
        .await
        .expect_err("oversize message refused");
    assert_eq!(e.code(), tonic::Code::OutOfRange, "{e:?}");

    let mut wide = running("m_wide");
    for i in 0..300 {
        wide.config.insert(format!("k{i}"), "v".into());
    }
    let resp = h.report("n1", vec![wide, running("m_fine")]).await;
    assert!(resp.contains("config has 300 entries"), "{resp}");
    h.assert_stored("/container/m_fine/state", "running").await;
    h.stop().await;
}

#[tokio::test]
async fn large_report_is_split_at_the_transaction_limit() {
    let mut h = Harness::start_with(|cfg| cfg.engine.max_txn_ops = 4).await;
    let containers: Vec<_> = (0..30)
        .map(|i| running(&format!("m{}_c{i}", i % 3)))
        .collect();
    let resp = h.report("n1", containers).await;
    assert!(resp.contains("30 written"), "{resp}");
    let keys = h.etcd.dump().await;
    assert_eq!(
        keys.iter()
            .filter(|(k, _, _)| k.starts_with("/container/"))
            .count(),
        30
    );
    assert_eq!(
        keys.iter()
            .filter(|(k, _, _)| k.starts_with("/model/"))
            .count(),
        3
    );
    // A node list that drops containers deletes their keys.
    let resp = h.report("n1", vec![running("m0_c0")]).await;
    assert!(resp.contains("29 removed"), "{resp}");
    let keys = h.etcd.dump().await;
    assert_eq!(
        keys.iter()
            .filter(|(k, _, _)| k.starts_with("/container/"))
            .count(),
        1
    );
    // m1 lost its last container and no package lists it: its key goes too.
    assert_eq!(h.etcd.value("/model/m1/state").await, None);
    let (etcd, ac) = h.stop_daemon().await;
    // Above etcd's real limit (128 operations), with the default split size.
    let mut h = Harness::on(etcd, ac).await;
    let big: Vec<_> = (0..200).map(|i| running(&format!("big_c{i}"))).collect();
    let resp = h.report("n2", big).await;
    assert!(resp.contains("200 written"), "{resp}");
    h.assert_stored("/model/big/state", "MODEL_STATE_RUNNING")
        .await;
    h.stop().await;
}

#[tokio::test]
async fn concurrent_reports_are_all_stored_in_at_most_one_write_each() {
    let h = Harness::start().await;
    let txn = "grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Txn\"";
    let before = h.etcd.metric(txn).await;
    let nodes = 32;
    let mut tasks = Vec::new();
    for n in 0..nodes {
        let mut client = h.client.clone();
        tasks.push(tokio::spawn(async move {
            let containers = (0..3)
                .map(|c| {
                    if c == 0 && n % 4 == 0 {
                        dead(&format!("m{n}_c{c}"))
                    } else {
                        running(&format!("m{n}_c{c}"))
                    }
                })
                .collect();
            report(&mut client, &format!("node{n}"), containers).await
        }));
    }
    for t in tasks {
        let resp = t.await.expect("task");
        assert!(resp.contains("3 containers stored"), "{resp}");
    }
    let txns = h.etcd.metric(txn).await - before;
    assert!(
        txns >= 1.0 && txns <= f64::from(nodes),
        "{txns} transactions for {nodes} reports"
    );
    let keys = h.etcd.dump().await;
    assert_eq!(
        keys.iter()
            .filter(|(k, _, _)| k.starts_with("/container/"))
            .count(),
        96
    );
    for n in 0..nodes {
        let want = if n % 4 == 0 {
            "MODEL_STATE_DEAD"
        } else {
            "MODEL_STATE_RUNNING"
        };
        assert_eq!(
            h.etcd.value(&format!("/model/m{n}/state")).await.as_deref(),
            Some(want),
            "m{n}"
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn concurrent_reports_survive_a_conflicting_writer() {
    let mut h = Harness::start().await;
    let nodes = 8;
    for n in 0..nodes {
        h.report(&format!("n{n}"), vec![running(&format!("m{n}_a"))])
            .await;
    }
    // Another writer changes a model behind the daemon's back: the daemon's next write of it
    // (alone or grouped with the others) must fail its compare, re-read and plan again.
    let mut other = h.etcd.client().await;
    other
        .put("/model/m0/state", "MODEL_STATE_PAUSED", None)
        .await
        .expect("put");
    let dead_a = |n: usize| vec![dead(&format!("m{n}_a"))];
    for resp in report_concurrently(&h.client, 0..nodes, dead_a).await {
        assert!(resp.contains("1 containers stored"), "{resp}");
    }
    for n in 0..nodes {
        assert_eq!(
            h.etcd.value(&format!("/model/m{n}/state")).await.as_deref(),
            Some("MODEL_STATE_DEAD"),
            "m{n}"
        );
        assert_eq!(
            h.etcd
                .value(&format!("/container/m{n}_a/state"))
                .await
                .as_deref(),
            Some("dead")
        );
    }
    h.stop().await;
}

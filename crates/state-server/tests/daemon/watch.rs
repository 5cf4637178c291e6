//! Watching and history against a real etcd (`docs/contract.md#watch`,
//! `docs/contract.md#history`): a watch starts with a flagged snapshot, then sends every
//! change with its revision, old state and the record the transition was stored with; a
//! resumed watch misses nothing while etcd holds the revision and gets a fresh, flagged
//! snapshot once it was compacted; history is stored in the transaction of its state and keeps
//! the last N per resource.

use std::time::Duration;

use state_core::{
    ContainerState, ModelState, PackageState,
    eval::{MODEL_TABLE, evaluate_model},
    table::Counts,
};
use state_server::pb::statemanager::{
    GetHistoryRequest, StateEvent, StateEventType, WatchStatesRequest,
};
use tonic::Streaming;

use crate::harness::{HELLOWORLD, Harness, dead, running};

async fn watch(h: &mut Harness, kinds: &[&str], from: i64) -> Streaming<StateEvent> {
    h.client
        .watch_states(WatchStatesRequest {
            kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
            name_prefix: String::new(),
            from_revision: from,
        })
        .await
        .expect("watch")
        .into_inner()
}

/// The next event, waiting at most 10 s.
async fn next(stream: &mut Streaming<StateEvent>) -> StateEvent {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("an event within 10 s")
        .expect("stream")
        .expect("stream ended")
}

/// Events up to and including the snapshot's end marker.
async fn snapshot(stream: &mut Streaming<StateEvent>) -> Vec<StateEvent> {
    let mut out = Vec::new();
    loop {
        let e = next(stream).await;
        let done = e.r#type() == StateEventType::SnapshotDone;
        out.push(e);
        if done {
            return out;
        }
    }
}

fn is(e: &StateEvent, kind: &str, old: &str, new: &str) -> bool {
    e.r#type() == StateEventType::Change
        && e.kind == kind
        && e.old_state == old
        && e.new_state == new
}

#[tokio::test]
async fn a_watch_sends_a_snapshot_then_each_change_with_its_record() {
    let mut h = Harness::start().await;
    h.apply(HELLOWORLD).await;
    h.report("HPC", vec![running("helloworld_a")]).await;
    let mut stream = watch(&mut h, &["model", "package"], 0).await;
    let snap = snapshot(&mut stream).await;
    let states: Vec<_> = snap
        .iter()
        .filter(|e| e.r#type() == StateEventType::Snapshot)
        .map(|e| (e.kind.as_str(), e.new_state.as_str()))
        .collect();
    assert_eq!(
        states,
        [
            ("model", ModelState::Running.stored()),
            ("package", PackageState::Running.stored())
        ],
        "{snap:?}"
    );

    h.report("HPC", vec![dead("helloworld_a")]).await;
    let model = next(&mut stream).await;
    let package = next(&mut stream).await;
    assert!(
        is(
            &model,
            "model",
            ModelState::Running.stored(),
            ModelState::Dead.stored()
        ),
        "{model:?}"
    );
    assert!(
        is(
            &package,
            "package",
            PackageState::Running.stored(),
            PackageState::Error.stored()
        ),
        "{package:?}"
    );
    // One transaction: one revision, after the snapshot's; the record says who and why.
    assert_eq!(model.revision, package.revision);
    assert!(model.revision > snap.last().unwrap().revision);
    assert_eq!(model.source, "NodeAgent/HPC");
    let decided = evaluate_model(Some(&Counts::from_states([ContainerState::Dead])));
    assert_eq!(model.why, MODEL_TABLE.rows[decided.row].text);
    assert!(!package.why.is_empty());

    // History holds the same transitions, at the same revision, oldest first.
    let history = h
        .client
        .get_history(GetHistoryRequest {
            kind: "package".into(),
            name: "helloworld".into(),
            limit: 0,
        })
        .await
        .expect("history")
        .into_inner()
        .entries;
    let last = history.last().expect("a package record");
    assert_eq!(
        (
            last.from_state.as_str(),
            last.to_state.as_str(),
            last.revision
        ),
        (
            PackageState::Running.stored(),
            PackageState::Error.stored(),
            package.revision
        )
    );
    assert!(history.windows(2).all(|w| w[0].revision < w[1].revision));
    let refused = h
        .client
        .get_history(GetHistoryRequest {
            kind: "container".into(),
            name: String::new(),
            limit: 0,
        })
        .await
        .expect_err("containers have no history");
    assert!(
        refused.message().contains("model, package or scenario"),
        "{refused:?}"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_resumed_watch_misses_nothing_until_compaction_then_gets_a_fresh_snapshot() {
    let mut h = Harness::start().await;
    h.apply(HELLOWORLD).await;
    h.report("HPC", vec![running("helloworld_a")]).await;
    let mut first = watch(&mut h, &[], 0).await;
    let resume_at = snapshot(&mut first).await.last().unwrap().revision;
    drop(first);

    // While no one watches: the container dies, then runs again; and the daemon restarts, so
    // its shared watch starts after those revisions and the resumed stream reads etcd's own
    // history for them.
    h.report("HPC", vec![dead("helloworld_a")]).await;
    h.report("HPC", vec![running("helloworld_a")]).await;
    let (etcd, ac) = h.stop_daemon().await;
    let mut h = Harness::on(etcd, ac).await;

    let mut resumed = watch(&mut h, &["container", "model"], resume_at).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(next(&mut resumed).await);
    }
    assert!(
        seen.iter().all(|e| e.r#type() == StateEventType::Change),
        "no snapshot on a resume etcd can serve: {seen:?}"
    );
    let kinds: Vec<_> = seen
        .iter()
        .map(|e| (e.kind.as_str(), e.new_state.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("container", ContainerState::Dead.stored()),
            ("model", ModelState::Dead.stored()),
            ("container", ContainerState::Running.stored()),
            ("model", ModelState::Running.stored()),
        ]
    );
    assert_eq!(seen[1].old_state, ModelState::Running.stored());
    drop(resumed);

    // etcd forgets everything before now: resuming from the old revision gets the present.
    let mut etcd = h.etcd.client().await;
    let now = etcd
        .get("/", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    etcd.compact(now, None).await.expect("compact");
    let mut stale = watch(&mut h, &["model"], resume_at).await;
    let snap = snapshot(&mut stale).await;
    assert_eq!(snap[0].r#type(), StateEventType::Snapshot, "{snap:?}");
    assert_eq!(snap[0].new_state, ModelState::Running.stored());
    assert!(snap.last().unwrap().revision >= now);
    h.stop().await;
}

#[tokio::test]
async fn history_keeps_the_last_n_per_resource_and_can_be_turned_off() {
    let mut h = Harness::start_with(|cfg| cfg.engine.history_per_resource = 2).await;
    h.apply(HELLOWORLD).await;
    for _ in 0..3 {
        h.report("HPC", vec![running("helloworld_a")]).await;
        h.report("HPC", vec![dead("helloworld_a")]).await;
    }
    let records = |dump: Vec<(String, String, i64)>| {
        dump.into_iter()
            .filter(|(k, _, _)| k.starts_with("/history/model/helloworld/"))
            .count()
    };
    assert_eq!(records(h.etcd.dump().await), 2);
    let (etcd, ac) = h.stop_daemon().await;

    let mut h = Harness::on_with(etcd, ac, |cfg| cfg.engine.history_per_resource = 0).await;
    let before = h.etcd.dump().await;
    h.report("HPC", vec![running("helloworld_a")]).await;
    h.assert_stored("/model/helloworld/state", ModelState::Running.stored())
        .await;
    assert_eq!(records(h.etcd.dump().await), records(before));
    h.stop().await;
}

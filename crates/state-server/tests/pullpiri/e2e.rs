//! One run of today's Pullpiri against the daemon binary in Pullpiri mode, each call made in
//! the order and with the fields Pullpiri's components use (read in their source at a831c66):
//! the ApiServer stores artifacts in its RocksDB service and starts the scenario; the
//! NodeAgent reports the pod the ActionController launched, labels and all; the FilterGateway
//! and the ActionController step the scenario; the package falls into error and the
//! ActionController, deciding on statuses as Pullpiri's does (it refuses FAILED) and taking
//! 5 s to relaunch, is asked once and relaunches it; Timpani reports a deadline miss.

use std::time::Duration;

use state_server::pb::{
    monitoringserver::ContainerList,
    schedinfo::{FaultInfo, FaultType, fault_service_client::FaultServiceClient},
    statemanager::{
        ApplyArtifactsRequest, ErrorCode, GetHistoryRequest, HistoryEntry, StateChange,
    },
};

use crate::{
    common::{Etcd, eventually, free_port},
    harness::{Client, code},
    peers::{
        Double, KILLED, MODEL, PACKAGE, RUNNING, RocksDb, SCENARIO, apply_as_api_server,
        episode_recorded, pod_container, step,
    },
    replica::Replica,
};

/// The history of `kind` `name`, oldest first.
pub async fn history(client: &mut Client, kind: &str, name: &str) -> Vec<HistoryEntry> {
    client
        .get_history(GetHistoryRequest {
            kind: kind.into(),
            name: name.into(),
            limit: 0,
        })
        .await
        .expect("history")
        .into_inner()
        .entries
}

/// `(from, to, source)` of each record, short enough to compare.
pub fn steps(entries: &[HistoryEntry]) -> Vec<(String, String, String)> {
    entries
        .iter()
        .map(|e| (e.from_state.clone(), e.to_state.clone(), e.source.clone()))
        .collect()
}

pub fn s(from: &str, to: &str, source: &str) -> (String, String, String) {
    let state = |s: &str| {
        if s.is_empty() {
            String::new()
        } else {
            format!("SCENARIO_STATE_{}", s.to_ascii_uppercase())
        }
    };
    (state(from), state(to), source.to_owned())
}

pub async fn send(client: &mut Client, change: StateChange) -> ErrorCode {
    code(
        &client
            .send_state_change(change)
            .await
            .expect("answered")
            .into_inner(),
    )
}

#[tokio::test]
async fn todays_pullpiri_drives_the_daemon_through_a_whole_lifecycle() {
    let etcd = Etcd::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let rocksdb = RocksDb::start();
    // Pullpiri's ActionController binds {host.ip}:47001: a loopback address of its own, so
    // the daemon finds it through the settings file as in an installation.
    // It relaunches before it answers: 5 s here.
    let ac = Double::start(
        "action-controller",
        "127.0.0.2:47001",
        &["--delay-ms", "5000"],
    );
    let pm = Double::start("policy-manager", "127.0.0.1:0", &[]);
    let settings = dir.path().join("settings.yaml");
    std::fs::write(
        &settings,
        "host:\n  name: HPC\n  ip: 127.0.0.2\n  type: vehicle\n  role: master\ndds:\n  idl_path: src/vehicle/dds/idl\n  domain_id: 100\n",
    )
    .expect("settings");
    let faults = format!("127.0.0.1:{}", free_port());
    let daemon = Replica::start_with(
        &[
            "--etcd-endpoints",
            &etcd.url(),
            "--pullpiri-settings",
            settings.to_str().expect("path"),
            "--fault-listen",
            &faults,
            "--policy-manager",
            &pm.url(),
        ],
        &[("ROCKSDB_SERVICE_URL", &rocksdb.url())],
        dir.path(),
        "statemanager",
    )
    .await;
    let log = daemon.log_text();
    assert!(
        log.contains("http://127.0.0.2:47001") && log.contains("host.ip in"),
        "the log says where the ActionController's address came from:\n{log}"
    );
    let mut client = daemon.client().await;

    // ApiServer: artifacts into its RocksDB service, then "" -> idle.
    apply_as_api_server(
        &rocksdb.url(),
        &[
            ("Scenario/helloworld", SCENARIO),
            ("Package/helloworld", PACKAGE),
            ("Model/helloworld", MODEL),
        ],
    )
    .await;
    let idle = step("helloworld", "", "idle", "apiserver");
    assert_eq!(send(&mut client, idle.clone()).await, ErrorCode::Success);
    // The artifacts reach the topology through the daemon's poll.
    eventually(
        Duration::from_secs(10),
        "Package/helloworld mirrored",
        || async { etcd.value("Package/helloworld").await },
    )
    .await;
    // ApplyArtifacts is not how artifacts arrive any more, and says so.
    let refused = client
        .apply_artifacts(ApplyArtifactsRequest {
            yaml: SCENARIO.into(),
        })
        .await
        .expect_err("refused");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(refused.message().contains(&rocksdb.url()), "{refused:?}");

    // NodeAgent: the pod the ActionController launched, with its labels.
    let list = |state| ContainerList {
        node_name: "HPC".into(),
        containers: vec![pod_container(
            "helloworld",
            "helloworld",
            "helloworld",
            "helloworld",
            state,
        )],
    };
    client
        .send_changed_container_list(list(RUNNING))
        .await
        .expect("list");
    assert_eq!(
        etcd.value("/package/helloworld/state").await.as_deref(),
        Some("PACKAGE_STATE_RUNNING")
    );

    // With conditions: the FilterGateway's two steps, nobody's satisfied -> allowed, the
    // ActionController's completion.
    for change in [
        step("helloworld", "idle", "waiting", "filtergateway"),
        step("helloworld", "waiting", "satisfied", "filtergateway"),
        step("helloworld", "allowed", "completed", "actioncontroller"),
    ] {
        assert_eq!(send(&mut client, change).await, ErrorCode::Success);
    }
    assert_eq!(
        etcd.value("/scenario/helloworld/state").await.as_deref(),
        Some("SCENARIO_STATE_COMPLETED")
    );
    let recorded = history(&mut client, "scenario", "helloworld").await;
    assert_eq!(
        steps(&recorded),
        [
            s("", "idle", "apiserver"),
            s("idle", "waiting", "filtergateway"),
            s("waiting", "satisfied", "filtergateway"),
            s("satisfied", "allowed", "StateManager"),
            s("allowed", "completed", "actioncontroller"),
        ]
    );
    assert!(
        recorded[3]
            .why
            .contains("PolicyManager sent no satisfied → allowed"),
        "{:?}",
        recorded[3].why
    );

    // Re-applied: a second lifecycle, this time without conditions, so the FilterGateway
    // calls the ActionController directly and its completion finds the scenario idle.
    assert_eq!(send(&mut client, idle).await, ErrorCode::Success);
    assert_eq!(
        send(
            &mut client,
            step("helloworld", "allowed", "completed", "actioncontroller")
        )
        .await,
        ErrorCode::Success
    );
    let recorded = history(&mut client, "scenario", "helloworld").await;
    assert_eq!(
        steps(&recorded[recorded.len() - 5..]),
        [
            s("completed", "idle", "apiserver"),
            s("idle", "waiting", "StateManager"),
            s("waiting", "satisfied", "StateManager"),
            s("satisfied", "allowed", "StateManager"),
            s("allowed", "completed", "actioncontroller"),
        ]
    );

    // The workload is killed: the package falls into error, and the ActionController, which
    // refuses FAILED as a current status, is asked in a way it relaunches on.
    client
        .send_changed_container_list(list(KILLED))
        .await
        .expect("list");
    assert_eq!(
        etcd.value("/package/helloworld/state").await.as_deref(),
        Some("PACKAGE_STATE_ERROR")
    );
    let calls = ac.wait_for("Reconcile", 1, Duration::from_secs(10)).await;
    assert_eq!(calls[0]["scenario"], "helloworld");
    assert_eq!(calls[0]["current"], "DONE");
    assert_eq!(calls[0]["desired"], "RUNNING");
    assert_eq!(calls[0]["relaunched"], true, "{:?}", calls[0]);
    episode_recorded(&etcd, "helloworld", "delivered", Duration::from_secs(15)).await;

    // Timpani: a deadline miss of the model's workload, recorded and passed on.
    let mut timpani = FaultServiceClient::connect(format!("http://{faults}"))
        .await
        .expect("FaultService");
    let answer = timpani
        .notify_fault(FaultInfo {
            workload_id: "helloworld".into(),
            node_id: "HPC".into(),
            task_name: "helloworld-task".into(),
            r#type: FaultType::Dmiss as i32,
            cumulative_dmiss: 0,
        })
        .await
        .expect("fault answered")
        .into_inner();
    assert_eq!(answer.status, 0);
    let reported = pm.wait_for("ReportFault", 1, Duration::from_secs(5)).await;
    assert_eq!(reported[0]["type"], "FAULT_DEADLINE_MISS");
    assert_eq!(reported[0]["task"], "helloworld-task");
    let model = history(&mut client, "model", "helloworld").await;
    let fault = model.last().expect("a record");
    assert_eq!(fault.source, "Timpani");
    assert_eq!(fault.from_state, fault.to_state, "not a transition");
    assert!(fault.why.contains("deadline miss"), "{:?}", fault.why);

    // Only one Reconcile in all that.
    assert_eq!(ac.calls("Reconcile").len(), 1);
}

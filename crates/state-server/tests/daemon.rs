//! The daemon against a real etcd: spec §4, §6 and §7 end to end over gRPC.

mod common;

use std::{collections::BTreeMap, time::Duration};

use common::{ActionController, Daemon, Etcd, etcd_config, eventually};
use state_server::pb::{
    actioncontroller::PodStatus,
    monitoringserver::{ContainerInfo, ContainerList},
    statemanager::{
        ApplyArtifactsRequest, ErrorCode, GetResourceStateRequest, ListResourceStatesRequest,
        OffloadingRequest, ResourceType, StateChange, StateChangeResponse,
        state_manager_connection_client::StateManagerConnectionClient,
    },
};
use tonic::transport::Channel;

type Client = StateManagerConnectionClient<Channel>;

const HELLOWORLD: &str = include_str!("../../../examples/helloworld.yaml");

fn container(name: &str, state: &[(&str, &str)]) -> ContainerInfo {
    ContainerInfo {
        id: format!("id-{}", name.trim_start_matches('/')),
        names: vec![name.to_owned()],
        image: "quay.io/podman/hello:latest".into(),
        state: state
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        config: BTreeMap::new(),
        annotation: BTreeMap::new(),
        stats: BTreeMap::new(),
    }
}

fn running(name: &str) -> ContainerInfo {
    container(name, &[("Status", "running"), ("Running", "true")])
}

fn dead(name: &str) -> ContainerInfo {
    container(name, &[("Status", "exited"), ("ExitCode", "137")])
}

fn list(node: &str, containers: Vec<ContainerInfo>) -> ContainerList {
    ContainerList {
        node_name: node.into(),
        containers,
    }
}

async fn report(client: &mut Client, node: &str, containers: Vec<ContainerInfo>) -> String {
    client
        .send_changed_container_list(list(node, containers))
        .await
        .expect("report accepted")
        .into_inner()
        .resp
}

/// Sends one report per node in `nodes` at once; returns the answers in node order.
async fn report_concurrently(
    client: &Client,
    nodes: std::ops::Range<usize>,
    containers: fn(usize) -> Vec<ContainerInfo>,
) -> Vec<String> {
    let tasks: Vec<_> = nodes
        .map(|n| {
            let mut client = client.clone();
            tokio::spawn(async move { report(&mut client, &format!("n{n}"), containers(n)).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.expect("task"));
    }
    answers
}

async fn change(
    client: &mut Client,
    kind: ResourceType,
    name: &str,
    from: &str,
    to: &str,
    source: &str,
) -> StateChangeResponse {
    client
        .send_state_change(StateChange {
            resource_type: kind as i32,
            resource_name: name.into(),
            current_state: from.into(),
            target_state: to.into(),
            transition_id: format!("t-{name}-{to}"),
            timestamp_ns: 1,
            source: source.into(),
        })
        .await
        .expect("state change answered")
        .into_inner()
}

fn code(resp: &StateChangeResponse) -> ErrorCode {
    ErrorCode::try_from(resp.error_code).expect("known error code")
}

async fn apply(client: &mut Client, yaml: &str) {
    let resp = client
        .apply_artifacts(ApplyArtifactsRequest { yaml: yaml.into() })
        .await
        .expect("apply")
        .into_inner();
    assert!(resp.errors.is_empty(), "{:?}", resp.errors);
}

async fn start(etcd: &Etcd, ac: &ActionController) -> (Daemon, Client) {
    let daemon = Daemon::start(etcd_config(etcd, ac)).await;
    let client = daemon.client().await;
    (daemon, client)
}

#[tokio::test]
async fn cascade_dead_container_marks_package_error_and_reconciles() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let (daemon, mut client) = start(&etcd, &ac).await;
    apply(&mut client, HELLOWORLD).await;
    assert_eq!(
        etcd.value("/package/helloworld/state").await.as_deref(),
        Some("PACKAGE_STATE_IDLE")
    );
    assert_eq!(
        etcd.value("/model/helloworld/state").await.as_deref(),
        Some("MODEL_STATE_CREATED")
    );

    // NodeAgent naming: `{model}_{container}` with a leading slash.
    let resp = report(&mut client, "HPC", vec![running("/helloworld_app")]).await;
    assert!(resp.contains("1 containers stored"), "{resp}");
    assert_eq!(
        etcd.value("/container/helloworld_app/state")
            .await
            .as_deref(),
        Some("running")
    );
    assert_eq!(
        etcd.value("/model/helloworld/state").await.as_deref(),
        Some("MODEL_STATE_RUNNING")
    );
    assert_eq!(
        etcd.value("/package/helloworld/state").await.as_deref(),
        Some("PACKAGE_STATE_RUNNING")
    );

    // Exited with a non-zero code is dead (the seed design's table); every model dead: Error.
    report(&mut client, "HPC", vec![dead("/helloworld_app")]).await;
    assert_eq!(
        etcd.value("/container/helloworld_app/state")
            .await
            .as_deref(),
        Some("dead")
    );
    assert_eq!(
        etcd.value("/model/helloworld/state").await.as_deref(),
        Some("MODEL_STATE_DEAD")
    );
    assert_eq!(
        etcd.value("/package/helloworld/state").await.as_deref(),
        Some("PACKAGE_STATE_ERROR")
    );
    let calls = ac.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].scenario_name, "helloworld");
    assert_eq!(calls[0].current, PodStatus::Failed as i32);
    assert_eq!(calls[0].desired, PodStatus::Running as i32);

    // Staying in error sends nothing more once the call succeeded.
    report(
        &mut client,
        "HPC",
        vec![container("helloworld_app", &[("Dead", "true")])],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ac.calls().len(), 1);
    daemon.stop().await;
}

#[tokio::test]
async fn membership_by_annotation_and_package_annotation() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let (daemon, mut client) = start(&etcd, &ac).await;
    let mut c = running("radio-main");
    c.annotation
        .insert("io.pullpiri.annotations.model".into(), "radio".into());
    c.annotation.insert(
        "io.pullpiri.annotations.package".into(),
        "infotainment".into(),
    );
    report(&mut client, "node-a", vec![c]).await;
    assert_eq!(
        etcd.value("/model/radio/state").await.as_deref(),
        Some("MODEL_STATE_RUNNING")
    );
    assert_eq!(
        etcd.value("/package/infotainment/state").await.as_deref(),
        Some("PACKAGE_STATE_RUNNING")
    );
    daemon.stop().await;
}

#[tokio::test]
async fn invalid_entries_are_skipped_and_named_valid_ones_stored() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let (daemon, mut client) = start(&etcd, &ac).await;
    let mut bad_model = running("ok_c");
    bad_model
        .annotation
        .insert("model".into(), "../package/p".into());
    let resp = report(
        &mut client,
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
    assert_eq!(
        etcd.value("/container/m1_good/state").await.as_deref(),
        Some("running")
    );
    // No key outside the four state slots and the node membership slot was written.
    for (key, _, _) in etcd.dump().await {
        assert!(
            state_core::key::StateKey::parse(&key).is_some()
                || state_core::members::parse_node_key(&key).is_some(),
            "unexpected key {key:?}"
        );
    }
    daemon.stop().await;
}

#[tokio::test]
async fn bad_node_name_and_oversize_lists_are_refused_with_reasons() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let mut cfg = etcd_config(&etcd, &ac);
    cfg.limits.max_containers = 5;
    cfg.max_message_bytes = 64 * 1024;
    let daemon = Daemon::start(cfg).await;
    let mut client = daemon.client().await;
    let e = client
        .send_changed_container_list(list("node/../x", vec![running("m_c")]))
        .await
        .expect_err("bad node refused");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("node_name"), "{}", e.message());

    let many = (0..6).map(|i| running(&format!("m_c{i}"))).collect();
    let e = client
        .send_changed_container_list(list("n1", many))
        .await
        .expect_err("too many containers refused");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("limit is 5"), "{}", e.message());

    let mut huge = running("m_big");
    huge.stats.insert("blob".into(), "x".repeat(100 * 1024));
    let e = client
        .send_changed_container_list(list("n1", vec![huge]))
        .await
        .expect_err("oversize message refused");
    assert_eq!(e.code(), tonic::Code::OutOfRange, "{e:?}");

    let mut wide = running("m_wide");
    for i in 0..300 {
        wide.config.insert(format!("k{i}"), "v".into());
    }
    let resp = report(&mut client, "n1", vec![wide, running("m_fine")]).await;
    assert!(resp.contains("config has 300 entries"), "{resp}");
    assert_eq!(
        etcd.value("/container/m_fine/state").await.as_deref(),
        Some("running")
    );
    daemon.stop().await;
}

#[tokio::test]
async fn state_change_outcomes_follow_the_spec_order() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let (daemon, mut client) = start(&etcd, &ac).await;
    let s = ResourceType::Scenario;

    let r = change(&mut client, s, "sc", "", "idle", "ApiServer").await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    assert_eq!(r.transition_id, "t-sc-idle");
    assert_eq!(
        etcd.value("/scenario/sc/state").await.as_deref(),
        Some("SCENARIO_STATE_IDLE")
    );

    let r = change(&mut client, s, "sc", "", "waiting", "FilterGateway").await;
    assert_eq!(code(&r), ErrorCode::PreconditionFailed, "{r:?}");
    assert!(
        r.error_details.contains("SCENARIO_STATE_IDLE"),
        "{}",
        r.error_details
    );

    let r = change(
        &mut client,
        s,
        "sc",
        "idle",
        "completed",
        "ActionController",
    )
    .await;
    assert_eq!(code(&r), ErrorCode::InvalidStateTransition, "{r:?}");
    assert!(
        r.error_details.contains("SCENARIO_STATE_WAITING"),
        "{}",
        r.error_details
    );

    let r = change(
        &mut client,
        s,
        "sc",
        "IDLE",
        "SCENARIO_STATE_WAITING",
        "FilterGateway",
    )
    .await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");

    let r = change(&mut client, s, "sc", "waiting", "waiting", "FilterGateway").await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    assert!(r.message.contains("nothing written"), "{}", r.message);

    let r = change(&mut client, s, "sc", "waiting", "bogus", "FilterGateway").await;
    assert_eq!(code(&r), ErrorCode::InvalidRequest, "{r:?}");
    assert!(
        r.error_details.contains("expected one of"),
        "{}",
        r.error_details
    );

    let r = change(
        &mut client,
        ResourceType::Volume,
        "v",
        "",
        "idle",
        "ApiServer",
    )
    .await;
    assert_eq!(code(&r), ErrorCode::InvalidRequest, "{r:?}");

    let mut raw = StateChange {
        resource_type: 99,
        resource_name: "x".into(),
        target_state: "idle".into(),
        ..StateChange::default()
    };
    let r = client
        .send_state_change(raw.clone())
        .await
        .expect("answered")
        .into_inner();
    assert_eq!(code(&r), ErrorCode::InvalidRequest, "{r:?}");
    raw.resource_type = ResourceType::Model as i32;
    raw.resource_name = "../../scenario/sc".into();
    raw.target_state = "running".into();
    let r = client
        .send_state_change(raw)
        .await
        .expect("answered")
        .into_inner();
    assert_eq!(code(&r), ErrorCode::InvalidRequest, "{r:?}");

    // A non-owner is accepted (with a warning) by default.
    let r = change(
        &mut client,
        s,
        "sc",
        "waiting",
        "satisfied",
        "PolicyManager",
    )
    .await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    daemon.stop().await;
}

#[tokio::test]
async fn strict_sources_refuse_non_owners() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let mut cfg = etcd_config(&etcd, &ac);
    cfg.engine.strict_sources = true;
    let daemon = Daemon::start(cfg).await;
    let mut client = daemon.client().await;
    let s = ResourceType::Scenario;
    let r = change(&mut client, s, "sc", "", "idle", "FilterGateway").await;
    assert_eq!(code(&r), ErrorCode::PermissionDenied, "{r:?}");
    assert!(r.error_details.contains("ApiServer"), "{}", r.error_details);
    assert_eq!(etcd.value("/scenario/sc/state").await, None);
    let r = change(&mut client, s, "sc", "", "idle", "api-server").await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    daemon.stop().await;
}

#[tokio::test]
async fn direct_model_update_cascades_to_package() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let (daemon, mut client) = start(&etcd, &ac).await;
    apply(&mut client, HELLOWORLD).await;
    let r = change(
        &mut client,
        ResourceType::Model,
        "helloworld",
        "MODEL_STATE_CREATED",
        "dead",
        "ActionController",
    )
    .await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    assert_eq!(
        etcd.value("/package/helloworld/state").await.as_deref(),
        Some("PACKAGE_STATE_ERROR")
    );
    assert_eq!(ac.wait_for(1, Duration::from_secs(5)).await.len(), 1);
    let r = change(
        &mut client,
        ResourceType::Package,
        "helloworld",
        "running",
        "idle",
        "x",
    )
    .await;
    assert_eq!(code(&r), ErrorCode::PreconditionFailed, "{r:?}");
    daemon.stop().await;
}

#[tokio::test]
async fn external_write_makes_compare_and_set_fail() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let (daemon, mut client) = start(&etcd, &ac).await;
    let s = ResourceType::Scenario;
    let r = change(&mut client, s, "sc", "", "idle", "ApiServer").await;
    assert_eq!(code(&r), ErrorCode::Success);
    // Another writer moves the scenario behind the daemon's back.
    let mut other = etcd.client().await;
    other
        .put("/scenario/sc/state", "SCENARIO_STATE_WAITING", None)
        .await
        .expect("put");
    let r = change(&mut client, s, "sc", "idle", "waiting", "FilterGateway").await;
    assert_eq!(code(&r), ErrorCode::PreconditionFailed, "{r:?}");
    assert!(
        r.error_details.contains("SCENARIO_STATE_WAITING"),
        "{}",
        r.error_details
    );
    let r = change(
        &mut client,
        s,
        "sc",
        "waiting",
        "satisfied",
        "FilterGateway",
    )
    .await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    daemon.stop().await;
}

#[tokio::test]
async fn package_learnt_after_start_is_evaluated() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let (daemon, mut client) = start(&etcd, &ac).await;
    report(&mut client, "n1", vec![running("nav_a"), dead("nav_b")]).await;
    assert_eq!(
        etcd.value("/model/nav/state").await.as_deref(),
        Some("MODEL_STATE_DEAD")
    );
    assert_eq!(etcd.value("/package/navigation/state").await, None);
    // Another tool (the ApiServer) stores the artifacts directly in etcd.
    let mut other = etcd.client().await;
    other
        .put(
            "Package/navigation",
            "kind: Package\nmetadata:\n  name: navigation\nspec:\n  models:\n    - name: nav\n      node: n1\n",
            None,
        )
        .await
        .expect("put");
    other
        .put(
            "Scenario/navigation",
            "kind: Scenario\nmetadata:\n  name: navigation\nspec:\n  target: navigation\n",
            None,
        )
        .await
        .expect("put");
    eventually(Duration::from_secs(10), "package state written", || async {
        (etcd.value("/package/navigation/state").await.as_deref() == Some("PACKAGE_STATE_ERROR"))
            .then_some(())
    })
    .await;
    let calls = ac.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    daemon.stop().await;
}

#[tokio::test]
async fn restart_loads_state_and_rewrites_nothing() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let (daemon, mut client) = start(&etcd, &ac).await;
    apply(&mut client, HELLOWORLD).await;
    let containers = || vec![running("helloworld_a"), running("helloworld_b")];
    report(&mut client, "HPC", containers()).await;
    let r = change(
        &mut client,
        ResourceType::Scenario,
        "helloworld",
        "",
        "idle",
        "ApiServer",
    )
    .await;
    assert_eq!(code(&r), ErrorCode::Success);
    daemon.stop().await;
    let before = etcd.dump().await;

    let (daemon, mut client) = start(&etcd, &ac).await;
    let resp = report(&mut client, "HPC", containers()).await;
    assert!(resp.contains("0 written"), "{resp}");
    assert_eq!(
        etcd.dump().await,
        before,
        "the first report after a restart rewrote keys"
    );
    // The scenario state was loaded: compare-and-set works against it.
    let r = change(
        &mut client,
        ResourceType::Scenario,
        "helloworld",
        "idle",
        "waiting",
        "FilterGateway",
    )
    .await;
    assert_eq!(code(&r), ErrorCode::Success, "{r:?}");
    daemon.stop().await;
}

#[tokio::test]
async fn large_report_is_split_at_the_transaction_limit() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let mut cfg = etcd_config(&etcd, &ac);
    cfg.engine.max_txn_ops = 4;
    let daemon = Daemon::start(cfg).await;
    let mut client = daemon.client().await;
    let containers: Vec<_> = (0..30)
        .map(|i| running(&format!("m{}_c{i}", i % 3)))
        .collect();
    let resp = report(&mut client, "n1", containers).await;
    assert!(resp.contains("30 written"), "{resp}");
    let keys = etcd.dump().await;
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
    let resp = report(&mut client, "n1", vec![running("m0_c0")]).await;
    assert!(resp.contains("29 removed"), "{resp}");
    let keys = etcd.dump().await;
    assert_eq!(
        keys.iter()
            .filter(|(k, _, _)| k.starts_with("/container/"))
            .count(),
        1
    );
    assert_eq!(
        etcd.value("/model/m1/state").await.as_deref(),
        Some("MODEL_STATE_CREATED")
    );
    daemon.stop().await;
    // Above etcd's real limit (128 operations), with the default split size.
    let daemon2 = Daemon::start(etcd_config(&etcd, &ac)).await;
    let mut client2 = daemon2.client().await;
    let big: Vec<_> = (0..200).map(|i| running(&format!("big_c{i}"))).collect();
    let resp = report(&mut client2, "n2", big).await;
    assert!(resp.contains("200 written"), "{resp}");
    assert_eq!(
        etcd.value("/model/big/state").await.as_deref(),
        Some("MODEL_STATE_RUNNING")
    );
    daemon2.stop().await;
}

#[tokio::test]
async fn etcd_outage_refuses_requests_then_recovers_without_losing_acknowledged_writes() {
    let mut etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let (daemon, mut client) = start(&etcd, &ac).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(
        tonic::transport::Endpoint::from_shared(daemon.url())
            .expect("url")
            .connect()
            .await
            .expect("connect"),
    );
    let check = tonic_health::pb::HealthCheckRequest {
        service: "statemanager.StateManagerConnection".into(),
    };
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    let not_serving = tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;
    eventually(Duration::from_secs(5), "health serving after start", || {
        let mut health = health.clone();
        let check = check.clone();
        async move { (health.check(check).await.ok()?.into_inner().status == serving).then_some(()) }
    })
    .await;

    report(&mut client, "n1", vec![running("m_a")]).await;
    let r = change(
        &mut client,
        ResourceType::Scenario,
        "s",
        "",
        "idle",
        "ApiServer",
    )
    .await;
    assert_eq!(code(&r), ErrorCode::Success);

    etcd.kill();
    let e = client
        .send_changed_container_list(list("n1", vec![dead("m_a")]))
        .await
        .expect_err("refused while etcd is down");
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    let r = change(
        &mut client,
        ResourceType::Scenario,
        "s",
        "idle",
        "waiting",
        "FilterGateway",
    )
    .await;
    assert_eq!(code(&r), ErrorCode::ResourceUnavailable, "{r:?}");
    assert!(!r.error_details.is_empty());
    assert_eq!(
        health
            .check(check.clone())
            .await
            .expect("health")
            .into_inner()
            .status,
        not_serving
    );

    etcd.restart().await;
    eventually(
        Duration::from_secs(15),
        "daemon accepts reports again",
        || {
            let mut client = client.clone();
            async move {
                client
                    .send_changed_container_list(list("n1", vec![dead("m_a")]))
                    .await
                    .ok()
            }
        },
    )
    .await;
    assert_eq!(
        etcd.value("/container/m_a/state").await.as_deref(),
        Some("dead")
    );
    assert_eq!(
        etcd.value("/model/m/state").await.as_deref(),
        Some("MODEL_STATE_DEAD")
    );
    assert_eq!(
        etcd.value("/scenario/s/state").await.as_deref(),
        Some("SCENARIO_STATE_IDLE")
    );
    eventually(Duration::from_secs(5), "health back to serving", || {
        let mut health = health.clone();
        let check = check.clone();
        async move { (health.check(check).await.ok()?.into_inner().status == serving).then_some(()) }
    })
    .await;
    daemon.stop().await;
}

#[tokio::test]
async fn reconcile_retries_while_in_error_and_stops_when_it_leaves() {
    let etcd = Etcd::start().await;
    let mut ac = ActionController::unstarted();
    let (daemon, mut client) = start(&etcd, &ac).await;
    apply(&mut client, HELLOWORLD).await;
    // ActionController down: requests are still answered at once.
    report(&mut client, "HPC", vec![dead("helloworld_a")]).await;
    assert_eq!(
        etcd.value("/package/helloworld/state").await.as_deref(),
        Some("PACKAGE_STATE_ERROR")
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    ac.run().await;
    let calls = ac.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(calls.len(), 1, "retried until delivered once: {calls:?}");

    // A package that leaves error before the ActionController is back gets nothing.
    let etcd2 = Etcd::start().await;
    let mut ac2 = ActionController::unstarted();
    let (daemon2, mut client2) = start(&etcd2, &ac2).await;
    apply(&mut client2, HELLOWORLD).await;
    report(&mut client2, "HPC", vec![dead("helloworld_a")]).await;
    report(&mut client2, "HPC", vec![running("helloworld_a")]).await;
    assert_eq!(
        etcd2.value("/package/helloworld/state").await.as_deref(),
        Some("PACKAGE_STATE_RUNNING")
    );
    ac2.run().await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(ac2.calls().is_empty(), "{:?}", ac2.calls());
    daemon.stop().await;
    daemon2.stop().await;
}

#[tokio::test]
async fn queries_and_offloading() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let (daemon, mut client) = start(&etcd, &ac).await;
    apply(&mut client, HELLOWORLD).await;
    report(
        &mut client,
        "HPC",
        vec![running("helloworld_a"), running("other_b")],
    )
    .await;
    let got = client
        .get_resource_state(GetResourceStateRequest {
            resource_type: ResourceType::Model as i32,
            resource_name: "helloworld".into(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got.state, "MODEL_STATE_RUNNING");
    let e = client
        .get_resource_state(GetResourceStateRequest {
            resource_type: ResourceType::Package as i32,
            resource_name: "nope".into(),
        })
        .await
        .expect_err("absent");
    assert_eq!(e.code(), tonic::Code::NotFound);
    let listed = client
        .list_resource_states(ListResourceStatesRequest {
            resource_type: ResourceType::Model as i32,
            state: "running".into(),
        })
        .await
        .expect("list")
        .into_inner();
    let names: Vec<_> = listed
        .entries
        .iter()
        .map(|e| e.resource_name.as_str())
        .collect();
    assert_eq!(names, ["helloworld", "other"]);
    let off = client
        .trigger_offloading(OffloadingRequest {
            scenario_name: "helloworld".into(),
            package_name: "helloworld".into(),
            model_name: "helloworld".into(),
            source_node: "HPC".into(),
            target_node: "ZONE".into(),
            policy_name: "p".into(),
            reason: "test".into(),
        })
        .await
        .expect("offload")
        .into_inner();
    assert!(off.accepted, "{off:?}");
    daemon.stop().await;
}

/// Passes raw bytes through gRPC, to send messages no generated client would.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        let bytes = src.chunk().to_vec();
        src.advance(bytes.len());
        Ok(Some(bytes))
    }
}

#[tokio::test]
async fn malformed_protobuf_is_refused_and_the_daemon_carries_on() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let (daemon, mut client) = start(&etcd, &ac).await;
    let channel = tonic::transport::Endpoint::from_shared(daemon.url())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    for (method, garbage) in [
        (
            "SendChangedContainerList",
            vec![0x12, 0xff, 0xff, 0xff, 0x0f, 0x01],
        ),
        ("SendStateChange", vec![0x0a, 0x05, b'a']),
        ("SendChangedContainerList", vec![0xff; 16]),
    ] {
        grpc.ready().await.expect("ready");
        let path = tonic::codegen::http::uri::PathAndQuery::try_from(format!(
            "/statemanager.StateManagerConnection/{method}"
        ))
        .expect("path");
        let e = grpc
            .unary(tonic::Request::new(garbage), path, RawCodec)
            .await
            .expect_err("malformed message refused");
        assert!(
            matches!(
                e.code(),
                tonic::Code::Internal | tonic::Code::InvalidArgument
            ),
            "{method}: {e:?}"
        );
        assert!(e.message().contains("decode"), "{method}: {}", e.message());
    }
    // Still serving, and nothing was written.
    assert!(etcd.dump().await.is_empty());
    report(&mut client, "n1", vec![running("m_a")]).await;
    assert_eq!(
        etcd.value("/container/m_a/state").await.as_deref(),
        Some("running")
    );
    daemon.stop().await;
}

#[tokio::test]
async fn reflection_lists_the_services() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let (daemon, _client) = start(&etcd, &ac).await;
    let channel = tonic::transport::Endpoint::from_shared(daemon.url())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let resp = stream
        .message()
        .await
        .expect("answer")
        .expect("one message");
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("unexpected reflection answer {resp:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"statemanager.StateManagerConnection"),
        "{names:?}"
    );
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    daemon.stop().await;
}

#[tokio::test]
async fn concurrent_reports_are_all_stored_in_at_most_one_write_each() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let (daemon, client) = start(&etcd, &ac).await;
    let txn = "grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Txn\"";
    let before = etcd.metric(txn).await;
    let nodes = 32;
    let mut tasks = Vec::new();
    for n in 0..nodes {
        let mut client = client.clone();
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
    let txns = etcd.metric(txn).await - before;
    assert!(
        txns >= 1.0 && txns <= f64::from(nodes),
        "{txns} transactions for {nodes} reports"
    );
    let keys = etcd.dump().await;
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
            etcd.value(&format!("/model/m{n}/state")).await.as_deref(),
            Some(want),
            "m{n}"
        );
    }
    daemon.stop().await;
}

#[tokio::test]
async fn restart_knows_each_nodes_containers() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let (daemon, mut client) = start(&etcd, &ac).await;
    // Model `nav` runs on two nodes; its dead container is on n2.
    report(
        &mut client,
        "n1",
        vec![running("nav_a"), running("radio_a")],
    )
    .await;
    report(&mut client, "n2", vec![dead("nav_b")]).await;
    assert_eq!(
        etcd.value("/model/nav/state").await.as_deref(),
        Some("MODEL_STATE_DEAD")
    );
    assert_eq!(
        etcd.value("/node/n1/containers").await.as_deref(),
        Some("nav_a\tnav\t\nradio_a\tradio\t\n")
    );
    daemon.stop().await;
    let before = etcd.dump().await;

    let (daemon, mut client) = start(&etcd, &ac).await;
    assert_eq!(etcd.dump().await, before, "start-up rewrote keys");
    // n1 reports first after the restart, and radio_a vanished while the daemon was down: its
    // key goes, and nav stays dead because the daemon still counts n2's container.
    let resp = report(&mut client, "n1", vec![running("nav_a")]).await;
    assert!(resp.contains("0 written, 1 removed"), "{resp}");
    assert_eq!(etcd.value("/container/radio_a/state").await, None);
    assert_eq!(
        etcd.value("/model/nav/state").await.as_deref(),
        Some("MODEL_STATE_DEAD")
    );
    assert_eq!(
        etcd.value("/model/radio/state").await.as_deref(),
        Some("MODEL_STATE_CREATED")
    );
    report(&mut client, "n2", vec![running("nav_b")]).await;
    assert_eq!(
        etcd.value("/model/nav/state").await.as_deref(),
        Some("MODEL_STATE_RUNNING")
    );
    // A node that reports no containers loses its membership key.
    report(&mut client, "n2", vec![]).await;
    assert_eq!(etcd.value("/node/n2/containers").await, None);
    daemon.stop().await;
}

#[tokio::test]
async fn concurrent_reports_survive_a_conflicting_writer() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let (daemon, client) = start(&etcd, &ac).await;
    let nodes = 8;
    for n in 0..nodes {
        report(
            &mut client.clone(),
            &format!("n{n}"),
            vec![running(&format!("m{n}_a"))],
        )
        .await;
    }
    // Another writer changes a model behind the daemon's back: the daemon's next write of it
    // (alone or grouped with the others) must fail its compare, re-read and plan again.
    let mut other = etcd.client().await;
    other
        .put("/model/m0/state", "MODEL_STATE_PAUSED", None)
        .await
        .expect("put");
    let dead_a = |n: usize| vec![dead(&format!("m{n}_a"))];
    for resp in report_concurrently(&client, 0..nodes, dead_a).await {
        assert!(resp.contains("1 containers stored"), "{resp}");
    }
    for n in 0..nodes {
        assert_eq!(
            etcd.value(&format!("/model/m{n}/state")).await.as_deref(),
            Some("MODEL_STATE_DEAD"),
            "m{n}"
        );
        assert_eq!(
            etcd.value(&format!("/container/m{n}_a/state"))
                .await
                .as_deref(),
            Some("dead")
        );
    }
    daemon.stop().await;
}

#[tokio::test]
async fn concurrent_reports_during_an_outage_are_refused_then_accepted() {
    let mut etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let (daemon, client) = start(&etcd, &ac).await;
    let nodes = 6;
    for n in 0..nodes {
        report(
            &mut client.clone(),
            &format!("n{n}"),
            vec![running(&format!("m{n}_a"))],
        )
        .await;
    }
    etcd.kill();
    let mut tasks = Vec::new();
    for n in 0..nodes {
        let mut client = client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .send_changed_container_list(list(&format!("n{n}"), vec![dead(&format!("m{n}_a"))]))
                .await
        }));
    }
    for t in tasks {
        let e = t
            .await
            .expect("task")
            .expect_err("refused while etcd is down");
        assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    }
    etcd.restart().await;
    // The refused reports changed nothing: the same lists are stored in full once etcd is back.
    eventually(Duration::from_secs(15), "reports accepted again", || {
        let mut client = client.clone();
        async move {
            client
                .send_changed_container_list(list("n0", vec![dead("m0_a")]))
                .await
                .ok()
        }
    })
    .await;
    let dead_a = |n: usize| vec![dead(&format!("m{n}_a"))];
    for resp in report_concurrently(&client, 1..nodes, dead_a).await {
        assert!(resp.contains("1 written"), "{resp}");
    }
    for n in 0..nodes {
        assert_eq!(
            etcd.value(&format!("/model/m{n}/state")).await.as_deref(),
            Some("MODEL_STATE_DEAD"),
            "m{n}"
        );
    }
    daemon.stop().await;
}

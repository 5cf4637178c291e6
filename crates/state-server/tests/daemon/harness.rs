//! What every test sets up, in one place: a real etcd, an ActionController that records the
//! `Reconcile` calls it gets, the daemon on both and a client connected to it ([`Harness`]);
//! and the container lists and requests the tests send.

use std::{collections::BTreeMap, ops::Range};

use state_server::{
    pb::{
        monitoringserver::{ContainerInfo, ContainerList},
        statemanager::{
            ApplyArtifactsRequest, ErrorCode, GetResourceStateRequest, ListResourceStatesRequest,
            ResourceStateEntry, ResourceType, StateChange, StateChangeResponse,
            state_manager_connection_client::StateManagerConnectionClient,
        },
    },
    server::Config,
};
use tonic::transport::Channel;

use crate::common::{ActionController, Daemon, Etcd, etcd_config};

/// The client the tests drive the daemon with.
pub type Client = StateManagerConnectionClient<Channel>;

/// The example deployment: scenario, package and model `helloworld`, the model on node `HPC`.
pub const HELLOWORLD: &str = include_str!("../../../../examples/helloworld.yaml");

/// A daemon on its own etcd, reconciling to its own ActionController, and a client on it.
pub struct Harness {
    /// The daemon's store: tests read it, write behind the daemon's back, kill and restart it.
    pub etcd: Etcd,
    /// The ActionController the daemon reconciles to.
    pub ac: ActionController,
    /// The daemon, in this process.
    pub daemon: Daemon,
    /// A client connected to the daemon.
    pub client: Client,
}

impl Harness {
    /// A fresh etcd, a started ActionController, and the daemon with the test configuration.
    pub async fn start() -> Harness {
        Harness::start_with(|_| {}).await
    }

    /// As [`Harness::start`], with `tweak` applied to the test configuration first.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Harness {
        let etcd = Etcd::start().await;
        let ac = ActionController::start().await;
        Harness::on_with(etcd, ac, tweak).await
    }

    /// The daemon with the test configuration on an etcd and an ActionController that already
    /// exist: after [`Harness::stop_daemon`] (a restart), with an ActionController not started
    /// yet, or with an etcd that is down.
    pub async fn on(etcd: Etcd, ac: ActionController) -> Harness {
        Harness::on_with(etcd, ac, |_| {}).await
    }

    pub async fn on_with(
        etcd: Etcd,
        ac: ActionController,
        tweak: impl FnOnce(&mut Config),
    ) -> Harness {
        let mut cfg = etcd_config(&etcd, &ac);
        tweak(&mut cfg);
        let daemon = Daemon::start(cfg).await;
        let client = daemon.client().await;
        Harness {
            etcd,
            ac,
            daemon,
            client,
        }
    }

    /// Sends `node`'s full container list; returns the daemon's answer (`resp`).
    pub async fn report(&mut self, node: &str, containers: Vec<ContainerInfo>) -> String {
        report(&mut self.client, node, containers).await
    }

    /// Sends `node`'s list until it is accepted (the daemon is still loading, or etcd is coming
    /// back), for at most `within`.
    pub async fn report_when_serving(
        &self,
        within: std::time::Duration,
        node: &str,
        containers: Vec<ContainerInfo>,
    ) {
        crate::common::eventually(within, &format!("{node}'s list accepted"), || {
            let mut client = self.client.clone();
            let list = list(node, containers.clone());
            async move { client.send_changed_container_list(list).await.ok() }
        })
        .await;
    }

    /// Sends one `StateChange` (`transition_id` `t-{name}-{to}`) and returns the answer.
    pub async fn change(
        &mut self,
        kind: ResourceType,
        name: &str,
        from: &str,
        to: &str,
        source: &str,
    ) -> StateChangeResponse {
        self.client
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

    /// Applies artifacts; every document must be accepted.
    pub async fn apply(&mut self, yaml: &str) {
        apply(&mut self.client, yaml).await;
    }

    /// `GetResourceState` of one resource.
    pub async fn get(
        &mut self,
        kind: ResourceType,
        name: &str,
    ) -> Result<ResourceStateEntry, tonic::Status> {
        get(&mut self.client, kind, name).await
    }

    /// `ListResourceStates` of a kind (`state` empty: every state), as names.
    pub async fn list(
        &mut self,
        kind: ResourceType,
        state: &str,
    ) -> Result<Vec<String>, tonic::Status> {
        let listed = self
            .client
            .list_resource_states(ListResourceStatesRequest {
                resource_type: kind as i32,
                state: state.into(),
            })
            .await?
            .into_inner();
        Ok(listed
            .entries
            .into_iter()
            .map(|e| e.resource_name)
            .collect())
    }

    /// Asserts that etcd holds `value` at `key`; a failure names the test line that asked.
    #[track_caller]
    pub fn assert_stored<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
    ) -> impl std::future::Future<Output = ()> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let stored = self.etcd.value(key).await;
            assert_eq!(
                stored.as_deref(),
                Some(value),
                "{key} (checked at {caller})"
            );
        }
    }

    /// Stops the daemon and waits for it; etcd goes when the harness is dropped.
    pub async fn stop(self) {
        self.daemon.stop().await;
    }

    /// Stops the daemon and hands back its etcd and ActionController, to start another daemon
    /// on them with [`Harness::on`].
    pub async fn stop_daemon(self) -> (Etcd, ActionController) {
        self.daemon.stop().await;
        (self.etcd, self.ac)
    }
}

/// Applies artifacts through `client`; every document must be accepted.
pub async fn apply(client: &mut Client, yaml: &str) {
    let resp = client
        .apply_artifacts(ApplyArtifactsRequest { yaml: yaml.into() })
        .await
        .expect("apply")
        .into_inner();
    assert!(resp.errors.is_empty(), "{:?}", resp.errors);
}

/// A container as a NodeAgent reports it, with these `state` fields.
pub fn container(name: &str, state: &[(&str, &str)]) -> ContainerInfo {
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

/// A running container.
pub fn running(name: &str) -> ContainerInfo {
    container(name, &[("Status", "running"), ("Running", "true")])
}

/// A dead container: exited with a non-zero code.
pub fn dead(name: &str) -> ContainerInfo {
    container(name, &[("Status", "exited"), ("ExitCode", "137")])
}

/// `node`'s container list.
pub fn list(node: &str, containers: Vec<ContainerInfo>) -> ContainerList {
    ContainerList {
        node_name: node.into(),
        containers,
    }
}

/// Sends `node`'s container list through `client` (a clone, for concurrent reports).
pub async fn report(client: &mut Client, node: &str, containers: Vec<ContainerInfo>) -> String {
    client
        .send_changed_container_list(list(node, containers))
        .await
        .expect("report accepted")
        .into_inner()
        .resp
}

/// Sends one report per node in `nodes` (named `n{n}`) at once; returns the answers in node
/// order.
pub async fn report_concurrently(
    client: &Client,
    nodes: Range<usize>,
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

/// The answer's error code.
pub fn code(resp: &StateChangeResponse) -> ErrorCode {
    ErrorCode::try_from(resp.error_code).expect("known error code")
}

/// `GetResourceState` of one resource, on any client.
pub async fn get(
    client: &mut Client,
    kind: ResourceType,
    name: &str,
) -> Result<ResourceStateEntry, tonic::Status> {
    let request = GetResourceStateRequest {
        resource_type: kind as i32,
        resource_name: name.into(),
    };
    Ok(client.get_resource_state(request).await?.into_inner())
}

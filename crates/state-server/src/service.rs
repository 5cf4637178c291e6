//! The gRPC service. Handlers stay thin: decode, validate, hand a typed command to the engine,
//! await its answer, encode.

use std::{sync::Arc, time::Duration};

use state_core::{
    ResourceType,
    change::{ChangeError, validate},
    container::Limits,
    kind::{Kind, Resource, State},
};
use tonic::{Request, Response, Status};

use tokio_stream::StreamExt as _;

use crate::{
    convert::{self, error_code},
    engine::{ChangeFailure, Command, EngineError, EngineHandle},
    forward::{self, Forwarder, engine_status},
    history,
    leader::Leadership,
    lists::{self, Lists, now_ns},
    metrics::Metrics,
    pb::{
        actioncontroller::action_controller_connection_client::ActionControllerConnectionClient,
        monitoringserver::{ContainerList, SendContainerListResponse},
        statemanager::{
            Action, AppliedArtifact, ApplyArtifactsRequest, ApplyArtifactsResponse, ErrorCode,
            ForgetNodeRequest, ForgetNodeResponse, GetHistoryRequest, GetHistoryResponse,
            GetResourceStateRequest, ListResourceStatesRequest, ListResourceStatesResponse,
            OffloadingRequest, OffloadingResponse, ResourceStateEntry, Response as ActionResponse,
            StateChange, StateChangeResponse, StateEvent, WatchStatesRequest,
            state_manager_connection_server::StateManagerConnection,
        },
    },
    store::AnyStore,
    tls::{Callers, TlsConfig},
    watch,
};

/// Largest `ApplyArtifacts` text: many documents, each within [`state_artifact::Budget`].
const MAX_APPLY_BYTES: usize = 4 * 1024 * 1024;

/// What the service reads besides the engine: the store (watches and history read it
/// directly) and the daemon's metrics.
#[derive(Debug, Clone)]
pub struct Backing {
    pub store: Arc<AnyStore>,
    pub metrics: Arc<Metrics>,
    /// The daemon's shared watch, which every WatchStates stream follows.
    pub hub: Arc<watch::hub::Hub>,
    /// Where artifacts come from instead of `ApplyArtifacts` (Pullpiri's RocksDB service).
    pub artifacts_from: Option<String>,
    /// Pullpiri mode: an OffloadModel still running at its deadline is answered as taken.
    pub pullpiri: bool,
}

/// The `StateManagerConnection` service.
#[derive(Debug, Clone)]
pub struct Service {
    engine: EngineHandle,
    /// How long a handler waits for the engine.
    wait: Duration,
    action_controller: tonic::transport::Channel,
    /// Writes this daemon does not lead go to the leader.
    forwarder: Arc<Forwarder>,
    lists: Arc<Lists>,
    /// Caller identities (mTLS).
    callers: Callers,
    /// Watches and history read the store directly.
    store: Arc<AnyStore>,
    metrics: Arc<Metrics>,
    hub: Arc<watch::hub::Hub>,
    artifacts_from: Option<String>,
    offloads: Arc<crate::offload::InFlight>,
}

impl Service {
    /// A service answering from `engine`, forwarding writes to the leader `leadership` names
    /// while this daemon does not lead.
    pub fn new(
        engine: EngineHandle,
        limits: Limits,
        store_deadline: Duration,
        action_controller: tonic::transport::Channel,
        leadership: Leadership,
        tls: &TlsConfig,
        Backing {
            store,
            metrics,
            hub,
            artifacts_from,
            pullpiri,
        }: Backing,
    ) -> Self {
        let wait = crate::waits::handler_wait(store_deadline);
        let forwarder = Arc::new(Forwarder::new(leadership.leader_url, tls.to_peer()));
        let lists = Lists::start(
            engine.clone(),
            forwarder.clone(),
            limits,
            wait,
            metrics.clone(),
        );
        Service {
            engine,
            wait,
            action_controller,
            forwarder,
            lists,
            callers: Callers::new(tls),
            store,
            metrics,
            hub,
            artifacts_from,
            offloads: Arc::new(crate::offload::InFlight::new(pullpiri)),
        }
    }
}

impl Service {
    /// How long a handler waits for the engine (`waits::handler_wait`).
    pub fn wait(&self) -> Duration {
        self.wait
    }
}

/// The stateful kind a wire resource type names.
fn kind(n: i32) -> Result<Kind, Status> {
    ResourceType::from_wire(n)
        .and_then(Kind::from_resource_type)
        .ok_or_else(|| {
            Status::invalid_argument(format!(
                "resource_type {n} is not scenario (1), package (2) or model (3)"
            ))
        })
}

fn entry(resource: &Resource, state: State) -> ResourceStateEntry {
    ResourceStateEntry {
        resource_type: resource.kind().resource_type().wire(),
        resource_name: resource.name().to_owned(),
        state: state.stored().into(),
    }
}

#[tonic::async_trait]
impl StateManagerConnection for Service {
    type WatchStatesStream =
        std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<StateEvent, Status>> + Send>>;

    async fn watch_states(
        &self,
        request: Request<WatchStatesRequest>,
    ) -> Result<Response<Self::WatchStatesStream>, Status> {
        let r = request.into_inner();
        let filter =
            watch::Filter::new(&r.kinds, &r.name_prefix).map_err(Status::invalid_argument)?;
        if r.from_revision < 0 {
            return Err(Status::invalid_argument("from_revision is negative"));
        }
        let events = watch::start(
            self.store.clone(),
            self.hub.clone(),
            filter,
            r.from_revision,
            self.metrics.clone(),
        );
        let stream = tokio_stream::wrappers::ReceiverStream::new(events).map(|e| {
            e.map(convert::state_event)
                .map_err(|e| Status::unavailable(e.to_string()))
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_history(
        &self,
        request: Request<GetHistoryRequest>,
    ) -> Result<Response<GetHistoryResponse>, Status> {
        let r = request.into_inner();
        let limit = usize::try_from(r.limit).unwrap_or(usize::MAX);
        let entries = history::read(self.store.as_ref(), &r.kind, &r.name, limit)
            .await
            .map_err(|e| match e {
                history::HistoryError::Invalid(m) => Status::invalid_argument(m),
                history::HistoryError::Store(e) => Status::unavailable(e.to_string()),
            })?;
        Ok(Response::new(GetHistoryResponse {
            entries: entries.into_iter().map(convert::history_entry).collect(),
        }))
    }

    async fn send_action(
        &self,
        request: Request<Action>,
    ) -> Result<Response<ActionResponse>, Status> {
        let action = request.into_inner().action;
        tracing::info!(action = %action, "legacy action received");
        Ok(Response::new(ActionResponse {
            resp: format!("action {action:?} received"),
        }))
    }

    async fn send_changed_container_list(
        &self,
        request: Request<ContainerList>,
    ) -> Result<Response<SendContainerListResponse>, Status> {
        let forwarded = lists::forwarded_at(request.metadata());
        let identity = self.callers.identify(&request)?;
        let resp = self
            .lists
            .receive(request.into_inner(), forwarded, identity)
            .await?;
        Ok(Response::new(SendContainerListResponse { resp }))
    }

    async fn send_state_change(
        &self,
        request: Request<StateChange>,
    ) -> Result<Response<StateChangeResponse>, Status> {
        let forwarded = forward::forwarded(request.metadata());
        let identity = self.callers.identify(&request)?;
        let mut sc = request.into_inner();
        // With mTLS the caller is who its certificate says, whatever `source` claims: that is
        // what `--strict-sources` checks the scenario owner against.
        if let Some(id) = &identity {
            sc.source.clone_from(id);
        }
        let answer = |code: ErrorCode, message: String, details: String| {
            Response::new(StateChangeResponse {
                message,
                transition_id: sc.transition_id.clone(),
                timestamp_ns: now_ns(),
                error_code: code as i32,
                error_details: details,
            })
        };
        let refused = |e: &ChangeError| {
            answer(
                error_code(e.kind()),
                "state change refused".into(),
                e.to_string(),
            )
        };
        let change = match validate(&convert::change_request(&sc)) {
            Ok(c) => c,
            Err(e) => return Ok(refused(&e)),
        };
        let resource = change.resource();
        let result = self
            .engine
            .call(self.wait, |reply| Command::Change {
                change,
                source: sc.source.clone(),
                transition_id: sc.transition_id.clone(),
                reply,
            })
            .await
            .map_err(ChangeFailure::from)
            .and_then(|r| r);
        Ok(match result {
            Ok(summary) => answer(
                ErrorCode::Success,
                crate::answer::changed(&resource, &summary),
                String::new(),
            ),
            Err(ChangeFailure::Rejected(e)) => refused(&e),
            Err(ChangeFailure::Engine(EngineError::NotLeader)) if forwarded => {
                return Err(forward::not_leader());
            }
            Err(ChangeFailure::Engine(EngineError::NotLeader)) => {
                let resp = self
                    .forwarder
                    .call(
                        self.wait,
                        sc.clone(),
                        identity.as_deref(),
                        |mut c, r| async move { c.send_state_change(r).await },
                    )
                    .await;
                match resp {
                    Ok(resp) => Response::new(resp),
                    Err(status) => answer(
                        ErrorCode::ResourceUnavailable,
                        "state change not stored".into(),
                        status.message().to_owned(),
                    ),
                }
            }
            Err(ChangeFailure::Engine(e)) => {
                let code = match e {
                    EngineError::Contention(_) => ErrorCode::PreconditionFailed,
                    _ => ErrorCode::ResourceUnavailable,
                };
                answer(code, "state change not stored".into(), e.to_string())
            }
        })
    }

    async fn trigger_offloading(
        &self,
        request: Request<OffloadingRequest>,
    ) -> Result<Response<OffloadingResponse>, Status> {
        let r = request.into_inner();
        for (field, value) in [
            ("package_name", &r.package_name),
            ("model_name", &r.model_name),
            ("source_node", &r.source_node),
            ("target_node", &r.target_node),
        ] {
            if let Err(e) = state_core::name::validate_name(field, value) {
                return Err(Status::invalid_argument(format!("{field}: {e}")));
            }
        }
        let client = ActionControllerConnectionClient::new(self.action_controller.clone());
        Ok(Response::new(self.offloads.offload(client, r).await))
    }

    async fn get_resource_state(
        &self,
        request: Request<GetResourceStateRequest>,
    ) -> Result<Response<ResourceStateEntry>, Status> {
        let r = request.into_inner();
        let resource = Resource::new(kind(r.resource_type)?, r.resource_name.trim())
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let state = self
            .engine
            .call(self.wait, |reply| Command::Get {
                resource: resource.clone(),
                reply,
            })
            .await
            .and_then(|r| r)
            .map_err(|e| engine_status(&e))?;
        match state {
            Some(state) => Ok(Response::new(entry(&resource, state))),
            None => Err(Status::not_found(format!(
                "{} {:?} has no stored state",
                resource.kind(),
                resource.name()
            ))),
        }
    }

    async fn list_resource_states(
        &self,
        request: Request<ListResourceStatesRequest>,
    ) -> Result<Response<ListResourceStatesResponse>, Status> {
        let r = request.into_inner();
        let kind = kind(r.resource_type)?;
        let filter = match r.state.trim() {
            "" => None,
            s => Some(
                kind.parse_state(s)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?,
            ),
        };
        let list = self
            .engine
            .call(self.wait, |reply| Command::List { kind, reply })
            .await
            .and_then(|r| r)
            .map_err(|e| engine_status(&e))?;
        let entries = list
            .iter()
            .filter(|(_, s)| filter.is_none_or(|f| f == *s))
            .map(|(resource, state)| entry(resource, *state))
            .collect();
        Ok(Response::new(ListResourceStatesResponse { entries }))
    }

    async fn forget_node(
        &self,
        request: Request<ForgetNodeRequest>,
    ) -> Result<Response<ForgetNodeResponse>, Status> {
        // Forgetting a node is its empty list: the same path, order and keeping as a report.
        let forwarded = lists::forwarded_at(request.metadata());
        let identity = self.callers.identify(&request)?;
        let node_name = request.into_inner().node_name;
        let list = ContainerList {
            node_name,
            containers: Vec::new(),
        };
        let resp = self.lists.receive(list, forwarded, identity).await?;
        Ok(Response::new(ForgetNodeResponse { resp }))
    }

    async fn apply_artifacts(
        &self,
        request: Request<ApplyArtifactsRequest>,
    ) -> Result<Response<ApplyArtifactsResponse>, Status> {
        let forwarded = forward::forwarded(request.metadata());
        let identity = self.callers.identify(&request)?;
        if let Some(url) = &self.artifacts_from {
            return Err(Status::failed_precondition(format!(
                "artifacts come from Pullpiri's RocksDB service at {url} (--artifacts-from); apply them through Pullpiri's ApiServer"
            )));
        }
        let request = request.into_inner();
        let yaml = request.yaml.clone();
        if yaml.len() > MAX_APPLY_BYTES {
            return Err(Status::invalid_argument(format!(
                "the artifacts take {} bytes; the limit is {MAX_APPLY_BYTES}",
                yaml.len()
            )));
        }
        // Parsed off the thread that serves every other request: even within its budget, a
        // large file takes milliseconds.
        let parsed = tokio::task::spawn_blocking(move || state_artifact::parse(&yaml))
            .await
            .map_err(|e| Status::internal(format!("artifact parser failed: {e}")))?;
        let mut docs = Vec::new();
        let mut errors = Vec::new();
        for result in parsed {
            match result {
                Ok(d) => docs.push(d),
                // A document over budget is hostile or broken: nothing of the request is applied.
                Err(e @ state_artifact::ArtifactError::OverBudget { .. }) => {
                    return Err(Status::invalid_argument(e.to_string()));
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        if docs.is_empty() && errors.is_empty() {
            return Err(Status::invalid_argument("the YAML holds no documents"));
        }
        let applied = if docs.is_empty() {
            Vec::new()
        } else {
            let result = self
                .engine
                .call(self.wait, |reply| Command::Apply { docs, reply })
                .await
                .and_then(|r| r);
            match result {
                Ok(applied) => applied,
                Err(EngineError::NotLeader) if !forwarded => {
                    let resp = self
                        .forwarder
                        .call(
                            self.wait,
                            request,
                            identity.as_deref(),
                            |mut c, r| async move { c.apply_artifacts(r).await },
                        )
                        .await?;
                    return Ok(Response::new(resp));
                }
                Err(e) => return Err(engine_status(&e)),
            }
        };
        Ok(Response::new(ApplyArtifactsResponse {
            applied: applied
                .into_iter()
                .map(|a| AppliedArtifact {
                    kind: a.kind.into(),
                    name: a.name,
                    key: a.key,
                })
                .collect(),
            errors,
        }))
    }
}

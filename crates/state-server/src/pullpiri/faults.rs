//! Timpani's faults (`schedinfo.v1.FaultService/NotifyFault`), which Timpani sends to the
//! StateManager on its own host (127.0.0.1:50053, as Pullpiri's StateManager serves it).
//! Every fault is answered `status: 0`, logged and counted; it is recorded (not as a
//! transition) in the history of the model its workload or task names, when the fleet holds
//! one; and forwarded to the PolicyManager's `ReportFault` when `--policy-manager` is given,
//! as Pullpiri's StateManager does on its Timpani line.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use state_core::{kind::Resource, name::ModelName};
use tonic::{
    Request, Response, Status,
    transport::{Channel, Endpoint, Server},
};

use crate::{
    engine::{Command, EngineError, EngineHandle},
    metrics::Metrics,
    pb::{
        policymanager::{
            FaultType as ReportedType, ReportFaultRequest,
            policy_manager_connection_client::PolicyManagerConnectionClient,
        },
        schedinfo::{
            FaultInfo, FaultType, Response as FaultResponse,
            fault_service_server::{FaultService, FaultServiceServer},
        },
    },
};

/// The source of a fault's history record.
pub const SOURCE: &str = "Timpani";

/// How long a fault waits for the PolicyManager: it answers from memory.
const POLICY_MANAGER_TIMEOUT: Duration = Duration::from_secs(2);

/// The fault service.
#[derive(Clone, Debug)]
pub struct Faults {
    engine: EngineHandle,
    policy_manager: Option<PolicyManagerConnectionClient<Channel>>,
    metrics: Arc<Metrics>,
    /// How long recording a fault waits for the engine.
    wait: Duration,
}

impl Faults {
    /// Records into `engine`, forwarding to the PolicyManager at `policy_manager` if given.
    pub fn new(
        engine: EngineHandle,
        policy_manager: Option<&str>,
        metrics: Arc<Metrics>,
        wait: Duration,
    ) -> Result<Faults, tonic::transport::Error> {
        let policy_manager = policy_manager
            .map(|url| {
                Ok::<_, tonic::transport::Error>(PolicyManagerConnectionClient::new(
                    Endpoint::from_shared(url.to_owned())?
                        .connect_timeout(POLICY_MANAGER_TIMEOUT)
                        .timeout(POLICY_MANAGER_TIMEOUT)
                        .connect_lazy(),
                ))
            })
            .transpose()?;
        Ok(Faults {
            engine,
            policy_manager,
            metrics,
            wait,
        })
    }

    /// Serves on `addr` until `shutdown` completes.
    pub async fn serve(
        self,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), tonic::transport::Error> {
        Server::builder()
            .add_service(FaultServiceServer::new(self))
            .serve_with_shutdown(addr, shutdown)
            .await
    }

    /// The models a fault may be about: one named as its workload, else as its task.
    fn candidates(fault: &FaultInfo) -> Vec<Resource> {
        [&fault.workload_id, &fault.task_name]
            .into_iter()
            .filter_map(|name| ModelName::new(name.trim()).ok())
            .map(Resource::Model)
            .collect()
    }

    async fn forward(&self, fault: &FaultInfo) {
        let Some(mut client) = self.policy_manager.clone() else {
            return;
        };
        let fault_type = match FaultType::try_from(fault.r#type) {
            Ok(FaultType::Dmiss) => ReportedType::FaultDeadlineMiss,
            _ => ReportedType::FaultUnknown,
        };
        let report = ReportFaultRequest {
            workload_id: fault.workload_id.clone(),
            node_id: fault.node_id.clone(),
            task_name: fault.task_name.clone(),
            fault_type: fault_type as i32,
        };
        match client.report_fault(report).await {
            Ok(answer) => {
                let answer = answer.into_inner();
                tracing::info!(processed = answer.processed, message = %answer.message, "fault forwarded to the PolicyManager");
            }
            Err(status) => {
                self.count("forward_failed");
                tracing::warn!(error = %status.message(), "the PolicyManager did not take the fault");
            }
        }
    }

    fn count(&self, outcome: &'static str) {
        self.metrics
            .faults
            .get_or_create(&crate::metrics::Outcome { outcome })
            .inc();
    }
}

#[tonic::async_trait]
impl FaultService for Faults {
    async fn notify_fault(
        &self,
        request: Request<FaultInfo>,
    ) -> Result<Response<FaultResponse>, Status> {
        let fault = request.into_inner();
        let kind = match FaultType::try_from(fault.r#type) {
            Ok(FaultType::Dmiss) => "deadline miss",
            _ => "fault of unknown type",
        };
        tracing::warn!(
            workload = %fault.workload_id,
            node = %fault.node_id,
            task = %fault.task_name,
            kind,
            cumulative_misses = fault.cumulative_dmiss,
            "fault reported by Timpani"
        );
        let why = format!(
            "Timpani reported a {kind} of task {:?} on node {:?} (workload {:?})",
            fault.task_name, fault.node_id, fault.workload_id
        );
        let noted = self
            .engine
            .call(self.wait, |reply| Command::Note {
                candidates: Self::candidates(&fault),
                why,
                source: SOURCE.to_owned(),
                reply,
            })
            .await
            .and_then(|r| r);
        match noted {
            Ok(Some(resource)) => {
                self.count("recorded");
                tracing::info!(resource = %resource.name(), "fault recorded in the model's history");
            }
            Ok(None) => self.count("unmatched"),
            // Another daemon leads: it is the one that writes history. Said, and counted.
            Err(EngineError::NotLeader) => {
                self.count("not_recorded");
                tracing::info!(
                    "fault not recorded: this daemon does not lead (history is the leader's to write)"
                );
            }
            Err(e) => {
                self.count("not_recorded");
                tracing::warn!(error = %e, "fault not recorded in history");
            }
        }
        self.forward(&fault).await;
        // Every fault is answered as taken, as Pullpiri's StateManager answers it.
        Ok(Response::new(FaultResponse { status: 0 }))
    }
}

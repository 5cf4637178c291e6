//! An ActionController that decides a `Reconcile` on its statuses as Pullpiri's
//! `reconcile_do` does (`src/player/actioncontroller/src/manager.rs` at a831c66): equal
//! statuses answer at once; a current or desired status of NONE, FAILED or UNKNOWN is refused
//! with INTERNAL "Invalid … status"; any other pair with RUNNING desired relaunches the
//! scenario's models (here: printed). With `--keys-not-found` that relaunch fails as it does
//! in a Pullpiri installation today.

use std::time::Duration;

use state_server::pb::actioncontroller::{
    OffloadModelRequest, OffloadModelResponse, PodStatus, ReconcileRequest, ReconcileResponse,
    action_controller_connection_server::{
        ActionControllerConnection, ActionControllerConnectionServer,
    },
};
use tonic::{Request, Response, Status, transport::server::TcpIncoming};

use crate::said;

struct Ac {
    keys_not_found: bool,
    delay: Duration,
}

fn status(n: i32) -> PodStatus {
    PodStatus::try_from(n).unwrap_or(PodStatus::Unknown)
}

#[tonic::async_trait]
impl ActionControllerConnection for Ac {
    async fn reconcile(
        &self,
        r: Request<ReconcileRequest>,
    ) -> Result<Response<ReconcileResponse>, Status> {
        let r = r.into_inner();
        let (current, desired) = (status(r.current), status(r.desired));
        let answer = if current == desired {
            Ok("Current and desired states are equal".to_owned())
        } else if matches!(
            current,
            PodStatus::None | PodStatus::Failed | PodStatus::Unknown
        ) {
            Err(format!(
                "Failed to reconcile: Invalid current status: {current:?}. Cannot reconcile from this state"
            ))
        } else if matches!(
            desired,
            PodStatus::None | PodStatus::Failed | PodStatus::Unknown
        ) {
            Err(format!(
                "Failed to reconcile: Invalid desired status: {desired:?}. Cannot set this as target state"
            ))
        } else if self.keys_not_found {
            Err("Failed to reconcile: Key not found".to_owned())
        } else {
            Ok("Reconciliation completed successfully".to_owned())
        };
        let relaunched = answer.is_ok() && desired == PodStatus::Running && current != desired;
        said(serde_json::json!({
            "rpc": "Reconcile",
            "scenario": r.scenario_name,
            "current": current.as_str_name(),
            "desired": desired.as_str_name(),
            "relaunched": relaunched,
            "answer": match &answer { Ok(d) => d.clone(), Err(e) => e.clone() },
        }));
        // Printed on arrival, answered after the relaunch's time.
        tokio::time::sleep(self.delay).await;
        match answer {
            Ok(desc) => Ok(Response::new(ReconcileResponse { status: 0, desc })),
            Err(e) => Err(Status::internal(e)),
        }
    }

    async fn offload_model(
        &self,
        r: Request<OffloadModelRequest>,
    ) -> Result<Response<OffloadModelResponse>, Status> {
        let r = r.into_inner();
        said(
            serde_json::json!({"rpc": "OffloadModel", "model": r.model_name, "to": r.target_node}),
        );
        tokio::time::sleep(self.delay).await;
        Ok(Response::new(OffloadModelResponse {
            success: true,
            message: format!("model {} moved to {}", r.model_name, r.target_node),
            transition_id: format!("offload-{}", r.model_name),
        }))
    }
}

pub async fn serve(
    mut server: tonic::transport::Server,
    incoming: TcpIncoming,
    keys_not_found: bool,
    delay: Duration,
) -> Result<(), tonic::transport::Error> {
    server
        .add_service(ActionControllerConnectionServer::new(Ac {
            keys_not_found,
            delay,
        }))
        .serve_with_incoming(incoming)
        .await
}

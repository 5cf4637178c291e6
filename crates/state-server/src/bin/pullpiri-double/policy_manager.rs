//! A PolicyManager that takes Timpani's faults (`ReportFault`) and prints each.

use state_server::pb::policymanager::{
    FaultType, ReportFaultRequest, ReportFaultResponse,
    policy_manager_connection_server::{PolicyManagerConnection, PolicyManagerConnectionServer},
};
use tonic::{Request, Response, Status, transport::server::TcpIncoming};

use crate::said;

struct Pm;

#[tonic::async_trait]
impl PolicyManagerConnection for Pm {
    async fn report_fault(
        &self,
        r: Request<ReportFaultRequest>,
    ) -> Result<Response<ReportFaultResponse>, Status> {
        let r = r.into_inner();
        let kind = FaultType::try_from(r.fault_type).unwrap_or(FaultType::FaultUnknown);
        said(serde_json::json!({
            "rpc": "ReportFault",
            "workload": r.workload_id,
            "node": r.node_id,
            "task": r.task_name,
            "type": kind.as_str_name(),
        }));
        Ok(Response::new(ReportFaultResponse {
            processed: true,
            message: "fault recorded".into(),
        }))
    }
}

pub async fn serve(
    mut server: tonic::transport::Server,
    incoming: TcpIncoming,
) -> Result<(), tonic::transport::Error> {
    server
        .add_service(PolicyManagerConnectionServer::new(Pm))
        .serve_with_incoming(incoming)
        .await
}

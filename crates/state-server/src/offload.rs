//! `TriggerOffloading`: the PolicyManager's request to move a model to another node, passed
//! to the ActionController's `OffloadModel` and answered with its answer
//! (`docs/contract.md#triggeroffloading-and-sendaction`).
//!
//! Today's ActionController answers only once the model is stopped on one node and started
//! on the other, and the PolicyManager triggers the move again at its next metrics report
//! unless it was accepted. So in Pullpiri mode a move still running at the deadline is
//! answered as accepted (the ActionController has it and may still finish it), and a second
//! request for a model already being moved is answered without sending it again. Outside
//! the mode, any failure is `accepted: false`, as the contract states.

use std::{collections::HashSet, sync::Mutex};

use tonic::{Code, transport::Channel};

use crate::pb::{
    actioncontroller::{
        OffloadModelRequest, action_controller_connection_client::ActionControllerConnectionClient,
    },
    statemanager::{OffloadingRequest, OffloadingResponse},
};

/// The moves under way, by package and model.
#[derive(Debug)]
pub struct InFlight {
    pullpiri: bool,
    moving: Mutex<HashSet<(String, String)>>,
}

impl InFlight {
    /// Tracks moves in Pullpiri mode; outside it every request is passed on as it comes.
    pub fn new(pullpiri: bool) -> Self {
        InFlight {
            pullpiri,
            moving: Mutex::new(HashSet::new()),
        }
    }

    /// Passes `r` to the ActionController on `client` and answers as the rule above says.
    pub async fn offload(
        &self,
        mut client: ActionControllerConnectionClient<Channel>,
        r: OffloadingRequest,
    ) -> OffloadingResponse {
        let key = (r.package_name.clone(), r.model_name.clone());
        if self.pullpiri && !self.start(&key) {
            return OffloadingResponse {
                accepted: true,
                message: format!(
                    "model {:?} of package {:?} is already being moved; not sent again",
                    r.model_name, r.package_name
                ),
                transition_id: String::new(),
            };
        }
        let answer = client
            .offload_model(OffloadModelRequest {
                scenario_name: r.scenario_name,
                package_name: r.package_name,
                model_name: r.model_name,
                source_node: r.source_node,
                target_node: r.target_node,
                policy_name: r.policy_name,
                reason: r.reason,
            })
            .await;
        if self.pullpiri {
            self.finish(&key);
        }
        match answer {
            Ok(resp) => {
                let resp = resp.into_inner();
                OffloadingResponse {
                    accepted: resp.success,
                    message: resp.message,
                    transition_id: resp.transition_id,
                }
            }
            Err(status)
                if self.pullpiri
                    && matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled) =>
            {
                tracing::warn!(error = %status.message(), "OffloadModel still running at its deadline; answered as accepted");
                OffloadingResponse {
                    accepted: true,
                    message: format!(
                        "sent to the ActionController, which had not finished by the deadline and may still be moving the model ({})",
                        status.message()
                    ),
                    transition_id: String::new(),
                }
            }
            Err(status) => OffloadingResponse {
                accepted: false,
                message: format!(
                    "ActionController did not take the offloading: {}",
                    status.message()
                ),
                transition_id: String::new(),
            },
        }
    }

    /// Marks a move started; `false` when it already is.
    fn start(&self, key: &(String, String)) -> bool {
        self.moving
            .lock()
            .map(|mut m| m.insert(key.clone()))
            .unwrap_or(true)
    }

    fn finish(&self, key: &(String, String)) {
        if let Ok(mut m) = self.moving.lock() {
            m.remove(key);
        }
    }
}

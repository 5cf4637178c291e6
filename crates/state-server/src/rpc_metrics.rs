//! A layer around the gRPC services that counts every call by rpc and outcome (the gRPC status)
//! and times it. Paths that are not one of the StateManager's rpcs count as `other`, so a
//! caller cannot grow the label set.

use std::{sync::Arc, time::Instant};

use tonic::codegen::{Context, Future, Pin, Poll, Service, http};
use tower_layer::Layer;

use crate::metrics::{Metrics, snake};

/// The rpcs counted by name.
const RPCS: [&str; 11] = [
    "SendChangedContainerList",
    "SendStateChange",
    "TriggerOffloading",
    "SendAction",
    "GetResourceState",
    "ListResourceStates",
    "ApplyArtifacts",
    "ForgetNode",
    "WatchStates",
    "GetHistory",
    "Check",
];

fn rpc_of(path: &str) -> &'static str {
    let method = path.rsplit('/').next().unwrap_or_default();
    RPCS.iter()
        .find(|r| **r == method)
        .copied()
        .unwrap_or("other")
}

/// Wraps services in [`RpcMetricsService`].
#[derive(Clone, Debug)]
pub struct RpcMetrics(pub Arc<Metrics>);

impl<S> Layer<S> for RpcMetrics {
    type Service = RpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetricsService {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// Counts and times every call to `inner`.
#[derive(Clone, Debug)]
pub struct RpcMetricsService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B, RB> Service<http::Request<B>> for RpcMetricsService<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let rpc = rpc_of(request.uri().path());
        let started = Instant::now();
        let metrics = self.metrics.clone();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await;
            if let Ok(r) = &response {
                // A refusal comes with its status in the headers; a success sends it later,
                // in the trailers.
                let outcome = r
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .filter(|code| *code != 0)
                    .map_or_else(
                        || "ok".to_owned(),
                        |code| snake(&format!("{:?}", tonic::Code::from(code))),
                    );
                metrics.answered(rpc, started.elapsed(), outcome);
            }
            response
        })
    }
}

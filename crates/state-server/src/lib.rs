//! The Pullpiri StateManager daemon: gRPC service, store, reconcile sender.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod answer;
pub mod convert;
pub mod engine;
pub mod forward;
pub mod history;
pub mod http_api;
pub mod leader;
pub mod lists;
pub mod metrics;
pub mod offload;
pub mod pb;
pub mod probes;
pub mod pullpiri;
pub mod reconcile;
pub mod rpc_metrics;
pub mod server;
pub mod service;
pub mod store;
pub mod tls;
pub mod waits;
pub mod watch;

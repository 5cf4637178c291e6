//! The daemon end to end: each test runs it in this process against a real etcd, with an
//! ActionController that records what it is sent, and talks to it over gRPC as Pullpiri's
//! components do. Together they check the contract's container reports and membership
//! (`docs/contract.md#sendchangedcontainerlist`, `docs/contract.md#membership`), state changes
//! (`docs/contract.md#state-change-checks`, `docs/contract.md#scenario-table`), reconcile
//! (`docs/contract.md#reconcile`), queries (`docs/contract.md#queries`), limits
//! (`docs/contract.md#limits`), promises across restarts (`docs/contract.md#promises`) and
//! outages (`docs/contract.md#outages`).
//!
//! [`harness::Harness`] sets up what every test needs; tests that restart the daemon, run two
//! daemons or take etcd down use the pieces in `tests/common` too.

#[path = "../common/mod.rs"]
mod common;
mod harness;

mod hostile;
mod http;
mod http_mtls;

mod changes;
mod etcd_access;
mod limits;
mod metrics;
mod outage;
mod outside;
mod readiness;
mod reconcile;
mod repair;
mod reports;
mod restart;
mod service;
mod tls;
mod watch;

//! Pullpiri mode (`docs/pullpiri.md`): the daemon with Pullpiri's components as their code
//! runs today. The peers are `pullpiri-double` processes that answer as Pullpiri's own do
//! (its RocksDB service, an ActionController deciding on statuses as Pullpiri's, a
//! PolicyManager); etcd is real; the end-to-end test runs the daemon binary, the focused ones
//! the daemon in this process where they need to reach into its configuration.

#[path = "../common/mod.rs"]
mod common;
#[path = "../daemon/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "../replicas/replica.rs"]
#[allow(dead_code)]
mod replica;

mod peers;

mod artifacts;
mod e2e;
mod lifecycle;
mod reconcile;

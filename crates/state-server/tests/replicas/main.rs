//! Several daemon processes on one etcd (`docs/contract.md#replicas`): one leader elected
//! through etcd, writes forwarded to it by followers, reads from every daemon's watched cache;
//! a leader killed with SIGKILL replaced within its lease; a 3-member etcd cluster losing its
//! raft leader; SIGKILL at random points of a report stream. Every test ends with the
//! consistency checker on what etcd holds.

#[path = "../common/mod.rs"]
mod common;
#[path = "../daemon/harness.rs"]
#[allow(dead_code)]
mod harness;

mod alternating;
mod cluster;
mod failover;
mod replica;

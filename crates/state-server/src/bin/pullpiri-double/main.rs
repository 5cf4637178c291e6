//! `pullpiri-double`: stand-ins for the Pullpiri peers the daemon talks to in Pullpiri mode,
//! each answering as the peer's own source does at Pullpiri's main (a831c66): its RocksDB
//! service, an ActionController, a PolicyManager. For the tests (they start these as
//! processes) and for trying Pullpiri mode on a machine without Pullpiri
//! (`docs/pullpiri.md`).
//!
//! Each prints `listening on ADDR` first, then one JSON line per call it answers: standard
//! output is how it reports.
#![allow(clippy::print_stdout)]

mod action_controller;
mod policy_manager;
mod rocksdb;

use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Stand-ins for Pullpiri's RocksDB service, ActionController and PolicyManager"
)]
struct Args {
    /// Address to serve on (port 0: any free port, printed).
    #[arg(long, default_value = "127.0.0.1:0", global = true)]
    listen: SocketAddr,
    #[command(subcommand)]
    peer: Peer,
}

#[derive(Subcommand, Debug)]
enum Peer {
    /// Pullpiri's RocksDB service (`rocksdbservice.RocksDbService`), in memory.
    Rocksdb,
    /// An ActionController: `Reconcile` decided on its statuses as Pullpiri's is, then
    /// "relaunched" (printed), and `OffloadModel` answered as a success.
    ActionController {
        /// Answer every Reconcile that passes the status checks with INTERNAL "Key not
        /// found", as Pullpiri's does in an installation (it reads `scenario/{name}`, which
        /// its ApiServer never writes).
        #[arg(long)]
        keys_not_found: bool,
        /// Wait this long before answering any call, as a relaunch through podman does.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
    },
    /// A PolicyManager: `ReportFault` printed and answered as processed.
    PolicyManager,
}

/// Prints one JSON line (the calls a test reads back).
fn said(line: serde_json::Value) {
    println!("{line}");
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(args.listen).await?;
    println!("listening on {}", listener.local_addr()?);
    let incoming = TcpIncoming::from(listener);
    let server = tonic::transport::Server::builder();
    match args.peer {
        Peer::Rocksdb => rocksdb::serve(server, incoming).await?,
        Peer::ActionController {
            keys_not_found,
            delay_ms,
        } => {
            action_controller::serve(
                server,
                incoming,
                keys_not_found,
                std::time::Duration::from_millis(delay_ms),
            )
            .await?
        }
        Peer::PolicyManager => policy_manager::serve(server, incoming).await?,
    }
    Ok(())
}

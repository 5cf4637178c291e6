//! `statectl`: a command-line client for the StateManager, in the manner of etcdctl and kubectl.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod live;

use std::{collections::BTreeMap, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use serde::Deserialize;
use state_core::kind::Kind;
use state_server::pb::{
    monitoringserver::{ContainerInfo, ContainerList},
    statemanager::{
        ApplyArtifactsRequest, ErrorCode, ForgetNodeRequest, GetResourceStateRequest,
        ListResourceStatesRequest, StateChange,
        state_manager_connection_client::StateManagerConnectionClient,
    },
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// The daemon on this host, on its default port (Pullpiri's StateManager port).
const DEFAULT_SERVER: &str = "http://127.0.0.1:47006";

/// Talk to a StateManager.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// StateManager address.
    #[arg(
        long,
        global = true,
        env = "STATECTL_SERVER",
        default_value = DEFAULT_SERVER
    )]
    server: String,
    /// PEM CA the server's certificate chains to (an `https://` server).
    #[arg(long, global = true, env = "STATECTL_CA")]
    ca: Option<PathBuf>,
    /// PEM client certificate, for a server with mTLS (with --key).
    #[arg(long, global = true, env = "STATECTL_CERT", requires = "key")]
    cert: Option<PathBuf>,
    /// PEM private key of --cert.
    #[arg(long, global = true, env = "STATECTL_KEY", requires = "cert")]
    key: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Store orchestrator artifacts (multi-document YAML: Scenario, Package, Model).
    Apply {
        /// The YAML file (`-` for standard input).
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
    },
    /// Print one resource's state.
    Get {
        /// scenario, package or model.
        #[arg(value_parser = Kind::parse)]
        kind: Kind,
        /// Its name.
        name: String,
    },
    /// List resources of a kind with their states.
    List {
        /// scenario, package or model.
        #[arg(value_parser = Kind::parse)]
        kind: Kind,
        /// Only resources in this state.
        #[arg(long)]
        state: Option<String>,
    },
    /// Send a container list as a NodeAgent would.
    Report {
        /// The node.
        #[arg(long)]
        node: String,
        /// YAML list of containers: name, optional id, state (podman fields), annotation, config.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
    },
    /// Nodes: `statectl node forget NAME` removes a node that will not report again.
    Node {
        #[command(subcommand)]
        action: NodeCmd,
    },
    /// Request a state change.
    Change {
        /// scenario, package or model.
        #[arg(value_parser = Kind::parse)]
        kind: Kind,
        /// Its name.
        name: String,
        /// The state you believe is stored; the change is refused if it is not (empty: no
        /// precondition).
        #[arg(long, default_value = "")]
        from: String,
        /// The state to move to.
        #[arg(long)]
        to: String,
        /// Who asks (ApiServer, FilterGateway, PolicyManager, ActionController).
        #[arg(long, default_value = "statectl")]
        source: String,
        /// Transition id echoed in the answer.
        #[arg(long, default_value = "")]
        transition_id: String,
    },

    /// Recorded transitions: `statectl history package web` (one resource), `statectl history
    /// package` (every package), `statectl history` (the whole fleet), oldest first.
    History {
        /// model, package or scenario (empty: all three).
        #[arg(default_value = "")]
        kind: String,
        /// The resource (empty: every resource of the kind).
        #[arg(default_value = "")]
        name: String,
        /// Newest entries shown.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: live::Output,
    },
    /// Follow state changes: a snapshot, then one line per change, until interrupted.
    Watch {
        /// container, model, package or scenario (none: all four).
        kinds: Vec<String>,
        /// Only resources whose name starts with this.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Resume after this revision instead of starting with a snapshot (a fresh snapshot
        /// comes when the store no longer holds it).
        #[arg(long, default_value_t = 0)]
        from: i64,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: live::Output,
    },
}

#[derive(Subcommand, Debug)]
enum NodeCmd {
    /// Remove the node's membership and container keys, with the cascade that follows (as if
    /// it had reported an empty list). Nothing expires by itself: a quiet node is not a dead
    /// one.
    Forget {
        /// The node.
        name: String,
    },
}

#[derive(Deserialize)]
struct FileContainer {
    name: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    state: BTreeMap<String, String>,
    #[serde(default)]
    annotation: BTreeMap<String, String>,
    #[serde(default)]
    config: BTreeMap<String, String>,
}

fn read(file: &PathBuf) -> Result<String> {
    if file.as_os_str() == "-" {
        return std::io::read_to_string(std::io::stdin()).context("reading standard input");
    }
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
}

async fn connect(cli: &Cli) -> Result<StateManagerConnectionClient<Channel>> {
    let server = &cli.server;
    let mut endpoint = tonic::transport::Endpoint::from_shared(server.to_owned())
        .with_context(|| format!("invalid server address {server:?}"))?;
    if server.starts_with("https:") || cli.ca.is_some() {
        let mut tls = ClientTlsConfig::new().with_enabled_roots();
        if let Some(ca) = &cli.ca {
            tls = tls.ca_certificate(Certificate::from_pem(read(ca)?));
        }
        if let (Some(cert), Some(key)) = (&cli.cert, &cli.key) {
            tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        endpoint = endpoint
            .tls_config(tls)
            .context("TLS settings for the server")?;
    }
    let channel = endpoint
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(15))
        .connect()
        .await
        .with_context(|| format!("cannot reach the StateManager at {server}"))?;
    Ok(StateManagerConnectionClient::new(channel))
}

pub(crate) fn status(e: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", e.code(), e.message())
}

async fn run(cli: Cli) -> Result<()> {
    let mut client = connect(&cli).await?;
    match cli.command {
        Cmd::History {
            kind,
            name,
            limit,
            output,
        } => live::history(&mut client, kind, name, limit, output).await?,
        Cmd::Watch {
            kinds,
            prefix,
            from,
            output,
        } => live::watch(&mut client, kinds, prefix, from, output).await?,
        Cmd::Apply { file } => {
            let yaml = read(&file)?;
            let resp = client
                .apply_artifacts(ApplyArtifactsRequest { yaml })
                .await
                .map_err(status)?
                .into_inner();
            for a in &resp.applied {
                println!("{}/{} applied", a.kind, a.name);
            }
            for e in &resp.errors {
                eprintln!("error: {e}");
            }
            if !resp.errors.is_empty() {
                bail!("{} document(s) not applied", resp.errors.len());
            }
        }
        Cmd::Get { kind: k, name } => {
            let resp = client
                .get_resource_state(GetResourceStateRequest {
                    resource_type: k.resource_type().wire(),
                    resource_name: name,
                })
                .await
                .map_err(status)?
                .into_inner();
            println!("{}", resp.state);
        }
        Cmd::List { kind: k, state } => {
            let resp = client
                .list_resource_states(ListResourceStatesRequest {
                    resource_type: k.resource_type().wire(),
                    state: state.unwrap_or_default(),
                })
                .await
                .map_err(status)?
                .into_inner();
            print!(
                "{}",
                table(
                    resp.entries
                        .iter()
                        .map(|e| (e.resource_name.as_str(), e.state.as_str()))
                )
            );
        }
        Cmd::Report { node, file } => {
            let text = read(&file)?;
            let containers: Vec<FileContainer> =
                serde_norway::from_str(&text).with_context(|| {
                    format!("{}: expected a YAML list of containers", file.display())
                })?;
            let list = ContainerList {
                node_name: node,
                containers: containers
                    .into_iter()
                    .map(|c| ContainerInfo {
                        id: c.id,
                        names: vec![c.name],
                        image: c.image,
                        state: c.state,
                        config: c.config,
                        annotation: c.annotation,
                        stats: BTreeMap::new(),
                    })
                    .collect(),
            };
            let resp = client
                .send_changed_container_list(list)
                .await
                .map_err(status)?
                .into_inner();
            println!("{}", resp.resp);
        }
        Cmd::Node {
            action: NodeCmd::Forget { name },
        } => {
            let resp = client
                .forget_node(ForgetNodeRequest { node_name: name })
                .await
                .map_err(status)?
                .into_inner();
            println!("{}", resp.resp);
        }
        Cmd::Change {
            kind: k,
            name,
            from,
            to,
            source,
            transition_id,
        } => {
            let resp = client
                .send_state_change(StateChange {
                    resource_type: k.resource_type().wire(),
                    resource_name: name,
                    current_state: from,
                    target_state: to,
                    transition_id,
                    timestamp_ns: 0,
                    source,
                })
                .await
                .map_err(status)?
                .into_inner();
            let code = ErrorCode::try_from(resp.error_code).unwrap_or(ErrorCode::Unspecified);
            if code != ErrorCode::Success {
                bail!("{}: {}", code.as_str_name(), resp.error_details);
            }
            println!("{}", resp.message);
        }
    }
    Ok(())
}

/// `list`'s output: a NAME and STATE column, names padded to the longest.
fn table<'a>(rows: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> String {
    let width = rows.clone().map(|(n, _)| n.len()).max().unwrap_or(4).max(4);
    let mut out = format!("{:width$}  STATE\n", "NAME");
    for (name, state) in rows {
        out.push_str(&format!("{name:width$}  {state}\n"));
    }
    out
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("statectl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use expect_test::expect;

    use super::*;

    #[test]
    fn list_prints_an_aligned_table() {
        let rows = [
            ("helloworld", "PACKAGE_STATE_RUNNING"),
            ("p", "PACKAGE_STATE_ERROR"),
        ];
        expect![[r#"
            NAME        STATE
            helloworld  PACKAGE_STATE_RUNNING
            p           PACKAGE_STATE_ERROR
        "#]]
        .assert_eq(&table(rows.into_iter()));
        expect![[r#"
            NAME  STATE
        "#]]
        .assert_eq(&table(std::iter::empty()));
    }

    #[test]
    fn an_unknown_kind_is_refused_with_the_accepted_ones() {
        let e = Cli::try_parse_from(["statectl", "get", "volume", "v1"]).unwrap_err();
        expect![[r#"
            error: invalid value 'volume' for '<KIND>': unknown resource kind "volume": expected one of scenario, package, model

            For more information, try '--help'.
        "#]]
        .assert_eq(&e.to_string());
    }
}

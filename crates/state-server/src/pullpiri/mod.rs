//! Pullpiri mode (`docs/pullpiri.md`): what the daemon does to drop into Pullpiri as its
//! components run today, where their running code and their documents disagree. It is on
//! with `--pullpiri`, in the image and the systemd unit, and whenever Pullpiri's settings
//! file is found; off, the contract stands as written.
//!
//! In the mode: artifacts come from Pullpiri's RocksDB service ([`rocksdb`]); a completion
//! takes the lifecycle steps nobody sent (`state_core::lifecycle`); a Reconcile reports DONE
//! and a refusal is final for its episode ([`crate::reconcile::Policy::pullpiri`]); the
//! ActionController is found through Pullpiri's settings ([`settings`]) and given a deadline
//! that fits its synchronous relaunch; Timpani's faults are served ([`faults`]).

pub mod faults;
pub mod rocksdb;
pub mod settings;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use state_core::lifecycle::Lifecycle;

use crate::reconcile::Policy;
use settings::{ACTION_CONTROLLER_PORT, Settings, SettingsError};

/// The ActionController outside the mode: Pullpiri's port, on the same host.
pub const DEFAULT_ACTION_CONTROLLER: &str = "http://127.0.0.1:47001";
/// Where Timpani sends faults, as Pullpiri's StateManager serves them.
pub const DEFAULT_FAULT_LISTEN: &str = "127.0.0.1:50053";
/// Where Pullpiri's own clients find the RocksDB service without `ROCKSDB_SERVICE_URL`.
pub const DEFAULT_ROCKSDB_SERVICE: &str = "http://localhost:47007";
/// The ActionController's deadline outside the mode: it only queues the request.
pub const ACTION_CONTROLLER_TIMEOUT: Duration = Duration::from_secs(2);
/// The ActionController's deadline in the mode: today's ActionController answers a Reconcile
/// or an OffloadModel only once the NodeAgent has stopped and started the workload through
/// podman, pulling a missing image first. Half a minute covers starting a few containers
/// from local images on a loaded vehicle computer with room to spare; a longer pull is cut,
/// answered as not finished, and not asked again before its backoff.
pub const PULLPIRI_ACTION_CONTROLLER_TIMEOUT: Duration = Duration::from_secs(30);

/// A peer's address and where it came from, for the start-up log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub url: String,
    /// `--action-controller`, `host.ip in /etc/pullpiri/settings.yaml`, `default`, …
    pub from: String,
}

impl Peer {
    fn new(url: impl Into<String>, from: impl Into<String>) -> Peer {
        Peer {
            url: url.into(),
            from: from.into(),
        }
    }
}

/// What the command line and the environment ask for, before the mode is resolved.
#[derive(Clone, Debug, Default)]
pub struct Asked {
    /// `--pullpiri` (`Some(false)`: `--pullpiri=false`).
    pub pullpiri: Option<bool>,
    /// `--pullpiri-settings`.
    pub settings: Option<PathBuf>,
    pub action_controller: Option<String>,
    pub action_controller_timeout: Option<Duration>,
    pub artifacts_from: Option<String>,
    /// `ROCKSDB_SERVICE_URL`, as Pullpiri's components read it.
    pub rocksdb_service_url: Option<String>,
    /// `--fault-listen`: an address, or `off`.
    pub fault_listen: Option<String>,
    pub policy_manager: Option<String>,
    pub strict_lifecycle: bool,
}

/// The mode, resolved: every peer with where its address came from.
#[derive(Clone, Debug)]
pub struct Mode {
    pub on: bool,
    /// Why it is on or off.
    pub why: String,
    pub action_controller: Peer,
    pub action_controller_timeout: Duration,
    pub artifacts_from: Option<Peer>,
    pub fault_listen: Option<(SocketAddr, String)>,
    pub policy_manager: Option<Peer>,
    pub lifecycle: Lifecycle,
    pub reconcile: Policy,
}

/// Why the mode cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ModeError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("--fault-listen {0:?} is neither an address (127.0.0.1:50053) nor \"off\"")]
    FaultListen(String),
}

/// Resolves the mode from what is asked and Pullpiri's settings: those named by
/// `--pullpiri-settings`, else those at `default_settings` when the file exists.
pub fn resolve(asked: &Asked, default_settings: &Path) -> Result<Mode, ModeError> {
    let settings = match &asked.settings {
        Some(path) => Some(Settings::read(path)?),
        None if default_settings.exists() => Some(Settings::read(default_settings)?),
        None => None,
    };
    let (on, why) = match (asked.pullpiri, &settings) {
        (Some(true), _) => (true, "--pullpiri".to_owned()),
        (Some(false), _) => (false, "--pullpiri=false".to_owned()),
        (None, Some(s)) => (
            true,
            format!("Pullpiri's settings found at {}", s.path.display()),
        ),
        (None, None) => (
            false,
            format!(
                "no --pullpiri, and no Pullpiri settings at {}",
                default_settings.display()
            ),
        ),
    };
    let action_controller = match (&asked.action_controller, &settings) {
        (Some(url), _) => Peer::new(url, "--action-controller"),
        (None, Some(s)) if on => Peer::new(
            s.peer_url(ACTION_CONTROLLER_PORT),
            match &s.host_ip {
                Some(_) => format!("host.ip in {}", s.path.display()),
                None => format!(
                    "{} names no host.ip: loopback, as Pullpiri's components do",
                    s.path.display()
                ),
            },
        ),
        _ => Peer::new(DEFAULT_ACTION_CONTROLLER, "default"),
    };
    let action_controller_timeout = asked.action_controller_timeout.unwrap_or(if on {
        PULLPIRI_ACTION_CONTROLLER_TIMEOUT
    } else {
        ACTION_CONTROLLER_TIMEOUT
    });
    let artifacts_from = match (&asked.artifacts_from, &asked.rocksdb_service_url) {
        (Some(url), _) => Some(Peer::new(url, "--artifacts-from")),
        (None, Some(url)) if on => Some(Peer::new(url, "ROCKSDB_SERVICE_URL")),
        (None, None) if on => Some(Peer::new(
            DEFAULT_ROCKSDB_SERVICE,
            "Pullpiri's default (no ROCKSDB_SERVICE_URL)",
        )),
        _ => None,
    };
    let fault_listen = match asked.fault_listen.as_deref().map(str::trim) {
        Some("off") => None,
        Some(addr) => Some((
            addr.parse()
                .map_err(|_| ModeError::FaultListen(addr.to_owned()))?,
            "--fault-listen".to_owned(),
        )),
        None if on => Some((
            DEFAULT_FAULT_LISTEN
                .parse()
                .map_err(|_| ModeError::FaultListen(DEFAULT_FAULT_LISTEN.to_owned()))?,
            "Pullpiri's StateManager default".to_owned(),
        )),
        None => None,
    };
    let policy_manager = asked
        .policy_manager
        .as_ref()
        .map(|url| Peer::new(url, "--policy-manager"));
    let lifecycle = match (on, asked.strict_lifecycle) {
        (false, _) => Lifecycle::Table,
        (true, false) => Lifecycle::FillIn,
        (true, true) => Lifecycle::Strict,
    };
    Ok(Mode {
        on,
        why,
        action_controller,
        action_controller_timeout,
        artifacts_from,
        fault_listen,
        policy_manager,
        lifecycle,
        reconcile: if on {
            Policy::pullpiri()
        } else {
            Policy::default()
        },
    })
}

impl Mode {
    /// One log line per peer, saying where its address came from.
    pub fn log(&self) {
        tracing::info!(on = self.on, why = %self.why, "Pullpiri mode");
        let peer = |what: &str, p: &Peer| tracing::info!(peer = what, url = %p.url, from = %p.from, "peer address");
        peer("ActionController", &self.action_controller);
        if let Some(p) = &self.artifacts_from {
            peer("artifacts (Pullpiri's RocksDB service)", p);
        }
        if let Some(p) = &self.policy_manager {
            peer("PolicyManager (Timpani faults)", p);
        }
        if let Some((addr, from)) = &self.fault_listen {
            tracing::info!(address = %addr, from = %from, "Timpani's FaultService served here");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        std::io::Write::write_all(&mut f, text.as_bytes()).expect("write");
        f
    }

    #[test]
    fn off_without_flag_or_settings_leaves_the_contract_as_written() {
        let m = resolve(&Asked::default(), Path::new("/nonexistent/settings.yaml")).expect("mode");
        assert!(!m.on);
        assert_eq!(m.action_controller.url, "http://127.0.0.1:47001");
        assert_eq!(m.action_controller_timeout, ACTION_CONTROLLER_TIMEOUT);
        assert_eq!(m.artifacts_from, None);
        assert!(m.fault_listen.is_none());
        assert_eq!(m.lifecycle, Lifecycle::Table);
        assert!(!m.reconcile.refusals_final);
    }

    #[test]
    fn found_settings_turn_it_on_and_place_the_action_controller() {
        let f =
            settings_file("host:\n  name: v\n  ip: 10.1.2.3\n  type: vehicle\n  role: master\n");
        let asked = Asked {
            rocksdb_service_url: Some("http://10.1.2.3:47007".into()),
            ..Asked::default()
        };
        let m = resolve(&asked, f.path()).expect("mode");
        assert!(m.on, "{}", m.why);
        assert_eq!(m.action_controller.url, "http://10.1.2.3:47001");
        assert!(m.action_controller.from.contains("host.ip"));
        assert_eq!(
            m.artifacts_from.map(|p| (p.url, p.from)),
            Some(("http://10.1.2.3:47007".into(), "ROCKSDB_SERVICE_URL".into()))
        );
        assert_eq!(
            m.fault_listen.map(|(a, _)| a.to_string()).as_deref(),
            Some(DEFAULT_FAULT_LISTEN)
        );
        assert_eq!(m.lifecycle, Lifecycle::FillIn);
        assert_eq!(
            m.action_controller_timeout,
            PULLPIRI_ACTION_CONTROLLER_TIMEOUT
        );
    }

    #[test]
    fn flags_win_over_settings_and_the_mode_can_be_refused() {
        let f = settings_file("host:\n  ip: 10.1.2.3\n");
        let asked = Asked {
            pullpiri: Some(false),
            ..Asked::default()
        };
        assert!(!resolve(&asked, f.path()).expect("mode").on);
        let asked = Asked {
            action_controller: Some("http://ac:47001".into()),
            fault_listen: Some("off".into()),
            strict_lifecycle: true,
            ..Asked::default()
        };
        let m = resolve(&asked, f.path()).expect("mode");
        assert_eq!(m.action_controller.from, "--action-controller");
        assert!(m.fault_listen.is_none());
        assert_eq!(m.lifecycle, Lifecycle::Strict);
        let bad = Asked {
            fault_listen: Some("nowhere".into()),
            ..Asked::default()
        };
        assert!(resolve(&bad, f.path()).is_err());
    }
}

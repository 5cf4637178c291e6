//! Pullpiri's own settings file (`/etc/pullpiri/settings.yaml`), which every Pullpiri
//! component reads for the host's address: its servers bind `{host.ip}:{port}` and its
//! clients dial `http://{host.ip}:{port}` (127.0.0.1 when the address is 0.0.0.0). The
//! daemon reads the same field to find the ActionController (`{host.ip}:47001`).
//!
//! Pullpiri itself falls back to every default (address 0.0.0.0) when any field is missing
//! or the file cannot be parsed, without a word. Here a file that cannot be read or parsed
//! stops the start with its path and the reason; a missing `host.ip` is said in the log.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where Pullpiri's components look for their settings.
pub const DEFAULT_PATH: &str = "/etc/pullpiri/settings.yaml";

/// Pullpiri's ActionController port.
pub const ACTION_CONTROLLER_PORT: u16 = 47001;
/// Pullpiri's PolicyManager port.
pub const POLICY_MANAGER_PORT: u16 = 47005;

/// What the daemon takes from the settings file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The file it was read from.
    pub path: PathBuf,
    /// `host.ip`, when the file names one.
    pub host_ip: Option<String>,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    host: Option<Host>,
}

#[derive(Deserialize)]
struct Host {
    #[serde(default)]
    ip: Option<String>,
}

/// Why the settings could not be taken in.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read Pullpiri's settings {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Pullpiri's settings {path} are not the YAML Pullpiri writes (host: ip: …): {reason}")]
    Parse { path: PathBuf, reason: String },
}

impl Settings {
    /// Reads `path`.
    pub fn read(path: &Path) -> Result<Settings, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.to_owned(),
            source,
        })?;
        Settings::parse(path, &text)
    }

    /// Parses the text of the file at `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Settings, SettingsError> {
        let file: File = serde_norway::from_str(text).map_err(|e| SettingsError::Parse {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let host_ip = file
            .host
            .and_then(|h| h.ip)
            .map(|ip| ip.trim().to_owned())
            .filter(|ip| !ip.is_empty());
        Ok(Settings {
            path: path.to_owned(),
            host_ip,
        })
    }

    /// The address Pullpiri's clients dial for a peer on this host at `port`, as its own
    /// components compute it: `host.ip`, or loopback when that is 0.0.0.0 or absent.
    pub fn peer_url(&self, port: u16) -> String {
        let ip = match self.host_ip.as_deref() {
            None | Some("0.0.0.0") => "127.0.0.1",
            Some(ip) => ip,
        };
        if ip.contains(':') && !ip.starts_with('[') {
            format!("http://[{ip}]:{port}")
        } else {
            format!("http://{ip}:{port}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, SettingsError> {
        Settings::parse(Path::new("/etc/pullpiri/settings.yaml"), text)
    }

    #[test]
    fn the_file_pullpiris_installer_writes_gives_the_host_address() {
        let s = parse(
            "host:\n  name: vehicle1\n  ip: 10.0.0.7\n  type: vehicle\n  role: master\ndds:\n  idl_path: src/vehicle/dds/idl\n  domain_id: 100\n",
        )
        .expect("settings");
        assert_eq!(s.host_ip.as_deref(), Some("10.0.0.7"));
        assert_eq!(s.peer_url(ACTION_CONTROLLER_PORT), "http://10.0.0.7:47001");
    }

    #[test]
    fn an_unspecified_or_missing_address_dials_loopback_as_pullpiri_does() {
        assert_eq!(
            parse("host:\n  ip: 0.0.0.0\n")
                .expect("settings")
                .peer_url(47001),
            "http://127.0.0.1:47001"
        );
        let none = parse("host:\n  name: x\n").expect("settings");
        assert_eq!(none.host_ip, None);
        assert_eq!(none.peer_url(47005), "http://127.0.0.1:47005");
        assert_eq!(
            parse("host:\n  ip: fd00::7\n")
                .expect("settings")
                .peer_url(47001),
            "http://[fd00::7]:47001"
        );
    }

    #[test]
    fn a_file_that_is_not_yaml_is_refused_with_its_path() {
        let e = parse("host: [unclosed").expect_err("not YAML");
        assert!(e.to_string().contains("/etc/pullpiri/settings.yaml"), "{e}");
    }
}

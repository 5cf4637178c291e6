//! TLS on the gRPC listener and on the connections the daemon makes (to the leader, to the
//! ActionController), and caller identities from client certificates (mTLS).
//!
//! A caller's identity is the first URI subject-alternative name with the `pullpiri:` scheme
//! (`pullpiri:FilterGateway`, `pullpiri:NodeAgent/HPC`), or else its certificate's subject
//! common name (`CN=FilterGateway`). `NodeAgent/{node}` is a NodeAgent of that node; the
//! scenario owners are `ApiServer`, `FilterGateway`, `PolicyManager` and `ActionController`.

use tonic::{
    Request, Status,
    transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig},
};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::forward;

/// The URI scheme of identities in a subject-alternative name.
pub const URI_SCHEME: &str = "pullpiri:";
/// The identity prefix of a NodeAgent: `NodeAgent/{node}`.
pub const NODE_AGENT: &str = "NodeAgent/";

/// The daemon's certificate and key, PEM.
#[derive(Clone, Debug)]
pub struct Pem {
    pub cert: String,
    pub key: String,
}

/// TLS settings, read from files at start.
#[derive(Clone, Debug, Default)]
pub struct TlsConfig {
    /// The daemon's own certificate: served on the listener, and shown as a client when it
    /// dials another daemon or the ActionController.
    pub identity: Option<Pem>,
    /// The CA client certificates must chain to (mTLS), PEM. Also the CA the daemon checks
    /// other daemons against when it forwards to the leader.
    pub client_ca: Option<String>,
    /// Identities of daemons whose forwarded requests may name the original caller.
    pub peer_identities: Vec<String>,
    /// The CA the ActionController's certificate chains to (`https` ActionController).
    pub action_controller_ca: Option<String>,
}

impl TlsConfig {
    /// The listener's TLS, when a certificate is configured.
    pub fn server(&self) -> Option<ServerTlsConfig> {
        let pem = self.identity.as_ref()?;
        let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(&pem.cert, &pem.key));
        if let Some(ca) = &self.client_ca {
            tls = tls.client_ca_root(Certificate::from_pem(ca));
        }
        Some(tls)
    }

    /// Whether callers must show a certificate, and identities come from it.
    pub fn mtls(&self) -> bool {
        self.identity.is_some() && self.client_ca.is_some()
    }

    /// How the daemon dials another daemon (the leader): checked against the client CA, and
    /// showing its own certificate.
    pub fn to_peer(&self) -> Option<ClientTlsConfig> {
        Some(self.dialing(self.client_ca.as_ref()?))
    }

    /// How the daemon dials the ActionController, when it is `https`.
    pub fn to_action_controller(&self) -> Option<ClientTlsConfig> {
        Some(self.dialing(self.action_controller_ca.as_ref()?))
    }

    /// A connection checked against `ca`, showing the daemon's own certificate if it has one.
    fn dialing(&self, ca: &str) -> ClientTlsConfig {
        let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
        match &self.identity {
            Some(pem) => tls.identity(Identity::from_pem(&pem.cert, &pem.key)),
            None => tls,
        }
    }
}

/// The identity a certificate (DER) names; `None` when it names none or cannot be read.
pub fn identity_of(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::URI(uri) = name
                && let Some(id) = uri.strip_prefix(URI_SCHEME)
                && !id.is_empty()
            {
                return Some(id.to_owned());
            }
        }
    }
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

/// Who calls: with mTLS, the identity its certificate names, or, for a request forwarded by a
/// daemon named in `--peer-identity`, the identity that daemon verified. `None` without mTLS.
#[derive(Clone, Debug)]
pub struct Callers {
    mtls: bool,
    peers: Vec<String>,
}

impl Callers {
    pub fn new(tls: &TlsConfig) -> Self {
        Callers {
            mtls: tls.mtls(),
            peers: tls.peer_identities.clone(),
        }
    }

    /// The caller's identity (`None`: no mTLS, so none is known).
    pub fn identify<T>(&self, request: &Request<T>) -> Result<Option<String>, Status> {
        if !self.mtls {
            return Ok(None);
        }
        let own = request
            .peer_certs()
            .and_then(|certs| certs.first().and_then(|c| identity_of(c.as_ref())))
            .ok_or_else(|| {
                Status::unauthenticated(format!(
                    "the client certificate names no identity (a URI SAN {URI_SCHEME}… or a subject CN)"
                ))
            })?;
        if forward::forwarded(request.metadata())
            && self.peers.contains(&own)
            && let Some(id) = request
                .metadata()
                .get(forward::IDENTITY)
                .and_then(|v| v.to_str().ok())
        {
            return Ok(Some(id.to_owned()));
        }
        Ok(Some(own))
    }
}

/// Refuses a NodeAgent identity that reports for (or forgets) another node than its own.
pub fn check_node(identity: Option<&str>, node: &str) -> Result<(), Status> {
    match identity.and_then(|id| id.strip_prefix(NODE_AGENT)) {
        Some(own) if own != node.trim() => Err(Status::permission_denied(format!(
            "the certificate of {NODE_AGENT}{own} may report only for node {own:?}, not {:?}",
            node.trim()
        ))),
        _ => Ok(()),
    }
}

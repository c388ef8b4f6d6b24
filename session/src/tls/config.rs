//! TLS configurations: a server's certificate chain and key, a client's
//! trust anchors, server name and ALPN list, loaded and checked once (at
//! listen or connect time), then shared by every connection through an `Arc`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use crate::error::SessionError;

/// What a TLS server is given (a builtin app's or a config's `cert`, `key`, `alpn`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsServerOptions {
    /// PEM file with the certificate chain, leaf first.
    pub cert: String,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
    /// ALPN protocols offered, in preference order (empty: no ALPN).
    pub alpn: Vec<String>,
}

/// What a TLS client is given (`ca`, `server_name`, `insecure`, `alpn`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsClientOptions {
    /// PEM file with the CA certificates to trust (none: the built-in web roots).
    pub ca: Option<String>,
    /// Name to send (SNI) and verify the certificate against.
    pub server_name: String,
    /// Accept any certificate (tests only).
    pub insecure: bool,
    /// ALPN protocols offered, in preference order.
    pub alpn: Vec<String>,
}

/// A loaded server configuration, shared by a listener's connections.
#[derive(Clone)]
pub struct TlsServer(pub Arc<ServerConfig>);

/// A loaded client configuration with the name to connect to.
#[derive(Clone)]
pub struct TlsClient {
    /// The engine's configuration.
    pub config: Arc<ClientConfig>,
    /// SNI and the name verified.
    pub server_name: ServerName<'static>,
}

impl fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsServer")
    }
}

impl PartialEq for TlsServer {
    /// The same loaded configuration.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TlsServer {}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TlsClient({:?})", self.server_name)
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn bad(key: &'static str, file: &str, why: impl fmt::Display) -> SessionError {
    SessionError::invalid(key, format!("{file}: {why}"))
}

fn load_certs(key: &'static str, file: &str) -> Result<Vec<CertificateDer<'static>>, SessionError> {
    let data = std::fs::read(file).map_err(|e| bad(key, file, e))?;
    let certs: Vec<_> =
        CertificateDer::pem_slice_iter(&data).collect::<Result<_, _>>().map_err(|e| bad(key, file, e))?;
    if certs.is_empty() {
        return Err(bad(key, file, "no PEM certificate in it"));
    }
    Ok(certs)
}

fn alpn_list(alpn: &[String]) -> Vec<Vec<u8>> {
    alpn.iter().map(|a| a.as_bytes().to_vec()).collect()
}

/// Checks an ALPN list: 1..=255 bytes each (RFC 7301 §3.1).
pub fn check_alpn(alpn: &[String]) -> Result<(), SessionError> {
    match alpn.iter().find(|a| a.is_empty() || a.len() > 255) {
        Some(a) => Err(SessionError::invalid("alpn", format!("{a:?}: a protocol name is 1 to 255 bytes"))),
        None => Ok(()),
    }
}

impl TlsServer {
    /// Loads and checks a server's certificate and key: an unreadable or
    /// unparsable file, or a key that does not match the certificate, is an
    /// error naming the file.
    pub fn load(o: &TlsServerOptions) -> Result<TlsServer, SessionError> {
        check_alpn(&o.alpn)?;
        let certs = load_certs("cert", &o.cert)?;
        let data = std::fs::read(&o.key).map_err(|e| bad("key", &o.key, e))?;
        let key = PrivateKeyDer::from_pem_slice(&data).map_err(|e| bad("key", &o.key, e))?;
        let p = provider();
        let signing = p.key_provider.load_private_key(key.clone_key()).map_err(|e| bad("key", &o.key, e))?;
        let ck = rustls::sign::CertifiedKey::new(certs.clone(), signing);
        match ck.keys_match() {
            Ok(()) => {}
            // The engine cannot tell for some key types: the handshake will.
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(_) => return Err(bad("key", &o.key, format!("does not match the certificate in {}", o.cert))),
        }
        let mut cfg = ServerConfig::builder_with_provider(p)
            .with_safe_default_protocol_versions()
            .map_err(|e| SessionError::UnsupportedConfig(format!("tls: {e}")))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| bad("cert", &o.cert, e))?;
        cfg.alpn_protocols = alpn_list(&o.alpn);
        // Stateless resumption tickets (RFC 8446 §4.6.1, RFC 5077), keys rotated by the engine.
        cfg.ticketer = ring::Ticketer::new().map_err(|e| SessionError::UnsupportedConfig(format!("tls: {e}")))?;
        Ok(TlsServer(Arc::new(cfg)))
    }
}

impl TlsClient {
    /// Builds a client's configuration: trust the CA file (or the built-in
    /// web roots), or nothing is verified with `insecure`. Clients with the
    /// same trust and ALPN share one configuration, and so its resumption
    /// tickets.
    pub fn load(o: &TlsClientOptions) -> Result<TlsClient, SessionError> {
        check_alpn(&o.alpn)?;
        let server_name = ServerName::try_from(o.server_name.clone()).map_err(|_| {
            SessionError::invalid("server_name", format!("{:?} is not a DNS name or address", o.server_name))
        })?;
        let ca_bytes = match (&o.ca, o.insecure) {
            (Some(file), false) => Some(std::fs::read(file).map_err(|e| bad("ca", file, e))?),
            _ => None,
        };
        let key = (o.ca.clone().filter(|_| !o.insecure), ca_bytes, o.insecure, o.alpn.clone());
        let config = client_config_for(key, || {
            let p = provider();
            let b = ClientConfig::builder_with_provider(p.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| SessionError::UnsupportedConfig(format!("tls: {e}")))?;
            let mut cfg = if o.insecure {
                b.dangerous()
                    .with_custom_certificate_verifier(Arc::new(NoVerify(p.signature_verification_algorithms)))
                    .with_no_client_auth()
            } else {
                let mut roots = RootCertStore::empty();
                match &o.ca {
                    Some(file) => {
                        for c in load_certs("ca", file)? {
                            roots.add(c).map_err(|e| bad("ca", file, e))?;
                        }
                    }
                    None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
                }
                b.with_root_certificates(roots).with_no_client_auth()
            };
            cfg.alpn_protocols = alpn_list(&o.alpn);
            cfg.resumption = Resumption::in_memory_sessions(RESUMPTION_SESSIONS);
            Ok(cfg)
        })?;
        Ok(TlsClient { config, server_name })
    }
}

/// Sessions a client configuration keeps for resumption (the engine's default).
const RESUMPTION_SESSIONS: usize = 256;

/// What a client configuration is made from: the trust anchors (CA file
/// path and contents, or `insecure`) and the ALPN list.
type ConfigKey = (Option<String>, Option<Vec<u8>>, bool, Vec<String>);

/// Client configurations kept for resumption at most (past it, the oldest set is dropped).
const KEPT_CLIENT_CONFIGS: usize = 64;

/// The client configuration for `key`, made by `make` the first time: one
/// per trust setting for the whole node, so a second run of a client
/// resumes the tickets the first was given (the engine resumes only with
/// the configuration, the verifier, that verified the first handshake, so
/// an `insecure` client's tickets never spare a verifying one its check).
fn client_config_for(
    key: ConfigKey,
    make: impl FnOnce() -> Result<ClientConfig, SessionError>,
) -> Result<Arc<ClientConfig>, SessionError> {
    static KEPT: OnceLock<Mutex<HashMap<ConfigKey, Arc<ClientConfig>>>> = OnceLock::new();
    let mut kept = KEPT.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = kept.get(&key) {
        return Ok(c.clone());
    }
    if kept.len() >= KEPT_CLIENT_CONFIGS {
        kept.clear();
    }
    let c = Arc::new(make()?);
    kept.insert(key, c.clone());
    Ok(c)
}

/// `insecure`: accepts any certificate, still checks the handshake's signatures.
#[derive(Debug)]
struct NoVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

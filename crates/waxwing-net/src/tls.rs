//! TLS for every stream: certificates per virtual host chosen by SNI, reload
//! without dropping sessions, a self-signed certificate for `localhost`, and
//! the channel-binding data SCRAM-PLUS needs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::Digest;

/// Where one virtual host's certificate comes from.
#[derive(Debug, Clone)]
pub enum CertSource {
    /// PEM files given by the operator (the certificate file may hold the chain).
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed certificate kept at these paths, generated if missing.
    /// Only sensible for `localhost` and tests: no client can verify it.
    SelfSigned { cert: PathBuf, key: PathBuf },
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("host {host}: {reason}")]
    Key { host: String, reason: String },
}

/// The certificates of all served hosts, swappable as a whole on reload.
///
/// rustls asks the resolver on every handshake, so replacing the map changes
/// what new connections get while established sessions keep their keys.
#[derive(Debug)]
pub struct CertStore {
    sources: Vec<(String, CertSource)>,
    keys: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    provider: Arc<CryptoProvider>,
}

impl CertStore {
    /// Loads (or generates) every host's certificate. `sources` pairs a
    /// lowercase domain with where its certificate lives.
    pub fn load(sources: Vec<(String, CertSource)>) -> Result<Arc<CertStore>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let keys = load_all(&sources, &provider)?;
        Ok(Arc::new(CertStore { sources, keys: RwLock::new(keys), provider }))
    }

    /// Re-reads every certificate from disk (SIGHUP). On any error the old
    /// certificates stay in service and the error is returned for the log.
    pub fn reload(&self) -> Result<(), TlsError> {
        let keys = load_all(&self.sources, &self.provider)?;
        *self.keys.write().expect("cert map lock poisoned") = keys;
        Ok(())
    }

    pub fn certified_key(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        self.keys.read().expect("cert map lock poisoned").get(host).cloned()
    }

    /// The certificate when exactly one host is served (clients without SNI).
    pub fn only_key(&self) -> Option<Arc<CertifiedKey>> {
        let keys = self.keys.read().expect("cert map lock poisoned");
        if keys.len() == 1 { keys.values().next().cloned() } else { None }
    }

    /// A rustls server configuration resolving through this store. `alpn` is
    /// offered for direct TLS (XEP-0368 names `xmpp-client` / `xmpp-server`).
    pub fn server_config(self: &Arc<Self>, alpn: &[&[u8]]) -> Arc<ServerConfig> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SniResolver { store: self.clone() }));
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        // Stateless tickets are not needed: XMPP connections are long-lived.
        config.send_tls13_tickets = 0;
        Arc::new(config)
    }
}

fn load_all(
    sources: &[(String, CertSource)],
    provider: &CryptoProvider,
) -> Result<HashMap<String, Arc<CertifiedKey>>, TlsError> {
    let mut keys = HashMap::new();
    for (host, source) in sources {
        let (cert_path, key_path) = match source {
            CertSource::Files { cert, key } => (cert, key),
            CertSource::SelfSigned { cert, key } => {
                if !cert.exists() || !key.exists() {
                    generate_self_signed(host, cert, key)?;
                    tracing::warn!(
                        host = %host,
                        cert = %cert.display(),
                        "generated a self-signed certificate; clients must accept it explicitly"
                    );
                }
                (cert, key)
            }
        };
        let chain = read_chain(cert_path)?;
        let key = PrivateKeyDer::from_pem_file(key_path)
            .map_err(|e| TlsError::File { path: key_path.clone(), reason: e.to_string() })?;
        let certified = CertifiedKey::from_der(chain, key, provider)
            .map_err(|e| TlsError::Key { host: host.clone(), reason: e.to_string() })?;
        keys.insert(host.clone(), Arc::new(certified));
    }
    Ok(keys)
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_err = |reason: String| TlsError::File { path: path.to_path_buf(), reason };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(file_err("no CERTIFICATE block".into()));
    }
    Ok(chain)
}

fn generate_self_signed(host: &str, cert_path: &Path, key_path: &Path) -> Result<(), TlsError> {
    let file_err = |path: &Path, reason: String| TlsError::File { path: path.to_path_buf(), reason };
    let key_err = |e: rcgen::Error| TlsError::Key { host: host.to_string(), reason: e.to_string() };
    let mut params = rcgen::CertificateParams::new(vec![host.to_string()]).map_err(key_err)?;
    // Clients show the subject to people deciding whether to trust it.
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, host);
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "Waxwing self-signed");
    let signing_key = rcgen::KeyPair::generate().map_err(key_err)?;
    let cert = params.self_signed(&signing_key).map_err(key_err)?;
    if let Some(dir) = cert_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e.to_string()))?;
    }
    std::fs::write(cert_path, cert.pem()).map_err(|e| file_err(cert_path, e.to_string()))?;
    write_private(key_path, signing_key.serialize_pem().as_bytes()).map_err(|e| file_err(key_path, e.to_string()))?;
    Ok(())
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

#[derive(Debug)]
struct SniResolver {
    store: Arc<CertStore>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match hello.server_name() {
            Some(name) => self.store.certified_key(&name.to_ascii_lowercase()),
            // Without SNI (some old clients) serve the only host, if there is one.
            None => self.store.only_key(),
        }
    }
}

/// RFC 9266 `tls-exporter` channel binding: 32 bytes of exported keying
/// material with the label `EXPORTER-Channel-Binding` and no context.
pub fn tls_exporter(conn: &rustls::ServerConnection) -> Option<Vec<u8>> {
    let mut out = vec![0u8; 32];
    conn.export_keying_material(&mut out, b"EXPORTER-Channel-Binding", None).ok()?;
    Some(out)
}

/// RFC 5929 §4.1 `tls-server-end-point`: the hash of our certificate, using the
/// certificate signature's hash function, with MD5 and SHA-1 upgraded to SHA-256.
pub fn tls_server_end_point(cert: &CertificateDer<'_>) -> Vec<u8> {
    match signature_hash(cert.as_ref()) {
        SignatureHash::Sha384 => sha2::Sha384::digest(cert.as_ref()).to_vec(),
        SignatureHash::Sha512 => sha2::Sha512::digest(cert.as_ref()).to_vec(),
        SignatureHash::Sha256OrUpgraded => sha2::Sha256::digest(cert.as_ref()).to_vec(),
    }
}

enum SignatureHash {
    Sha256OrUpgraded,
    Sha384,
    Sha512,
}

/// Reads the outer `signatureAlgorithm` OID of an X.509 certificate:
/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }`.
/// A few lines of DER walking instead of a full X.509 parser dependency.
fn signature_hash(der: &[u8]) -> SignatureHash {
    fn header(input: &[u8]) -> Option<(u8, usize, &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        if first < 0x80 {
            return Some((tag, first as usize, rest));
        }
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        Some((tag, len, &rest[n..]))
    }
    let walk = || -> Option<Vec<u8>> {
        let (_, len, body) = header(der)?;
        let body = body.get(..len)?;
        let (_, tbs_len, after_tbs_header) = header(body)?;
        let rest = after_tbs_header.get(tbs_len..)?;
        let (_, _, alg) = header(rest)?;
        let (tag, oid_len, oid) = header(alg)?;
        (tag == 0x06).then(|| oid.get(..oid_len).map(|o| o.to_vec()))?
    };
    // OIDs: sha384WithRSAEncryption 1.2.840.113549.1.1.12, ecdsa-with-SHA384 1.2.840.10045.4.3.3,
    // sha512WithRSAEncryption 1.2.840.113549.1.1.13, ecdsa-with-SHA512 1.2.840.10045.4.3.4.
    match walk().as_deref() {
        Some([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c])
        | Some([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03]) => SignatureHash::Sha384,
        Some([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d])
        | Some([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04]) => SignatureHash::Sha512,
        _ => SignatureHash::Sha256OrUpgraded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_and_reloads_self_signed() {
        let dir = std::env::temp_dir().join(format!("wx-tls-{}", std::process::id()));
        let cert = dir.join("localhost.crt");
        let key = dir.join("localhost.key");
        let store = CertStore::load(vec![(
            "localhost".into(),
            CertSource::SelfSigned { cert: cert.clone(), key: key.clone() },
        )])
        .unwrap();
        let first = store.certified_key("localhost").unwrap();
        // Reload with the same files keeps the same certificate...
        store.reload().unwrap();
        assert_eq!(store.certified_key("localhost").unwrap().cert, first.cert);
        // ...and picks up a replaced one.
        std::fs::remove_file(&cert).unwrap();
        std::fs::remove_file(&key).unwrap();
        store.reload().unwrap();
        assert_ne!(store.certified_key("localhost").unwrap().cert, first.cert);
        // rcgen signs with ECDSA P-256 SHA-256: the end-point hash is SHA-256.
        assert_eq!(tls_server_end_point(&first.cert[0]).len(), 32);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = CertStore::load(vec![(
            "example.org".into(),
            CertSource::Files { cert: "/nonexistent/cert.pem".into(), key: "/nonexistent/key.pem".into() },
        )])
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
    }
}

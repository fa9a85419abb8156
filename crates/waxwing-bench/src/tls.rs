//! TLS client configuration: `--insecure` or `--cafile`.
//!
//! Benchmark servers mostly run with self-signed certificates, which the
//! web PKI rules reject even when given as a trust anchor (an end-entity
//! certificate cannot be its own issuer). So `--cafile` first accepts a
//! server certificate that is byte-for-byte one of the file's certificates
//! (pinning), and otherwise verifies the chain with the file's certificates
//! as roots, which covers a private CA.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::cli::TlsMode;

/// Whom to trust.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Any certificate (`--insecure`): benchmarking only.
    Anyone,
    /// The certificates of a PEM file, pinned or as roots.
    Certificates(Vec<CertificateDer<'static>>),
}

impl Trust {
    /// Reads `--cafile`.
    pub fn from_pem_file(path: &Path) -> Result<Trust, String> {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("--cafile {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("--cafile {}: no certificate in the file", path.display()));
        }
        Ok(Trust::Certificates(certs))
    }
}

/// The client configuration for `mode`: TLS 1.3 preferred (rustls' default
/// order) with 1.2 allowed, and for direct TLS the ALPN protocol
/// `xmpp-client` (XEP-0368).
pub fn client_config(trust: &Trust, mode: TlsMode) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let pinned = match trust {
        Trust::Anyone => None,
        Trust::Certificates(certs) => {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(certs.iter().cloned());
            // A file holding only certificates unusable as roots still works
            // for pinning; then chains are simply never trusted.
            let chain = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().ok();
            Some(Pinned { certs: certs.clone(), chain })
        }
    };
    let verifier = Arc::new(Verifier { pinned, algorithms: provider.signature_verification_algorithms });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    if mode == TlsMode::Direct {
        config.alpn_protocols = vec![b"xmpp-client".to_vec()];
    }
    Ok(Arc::new(config))
}

/// The TLS server name for `domain` (SNI and certificate name).
pub fn server_name(domain: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(domain.to_owned()).map_err(|_| format!("--domain {domain:?} is not a valid TLS server name"))
}

/// Checks the server's certificate as `Trust` says, and always the
/// handshake signatures, so the TLS session itself is sound.
#[derive(Debug)]
struct Verifier {
    /// `None` (`--insecure`): every certificate is accepted.
    pinned: Option<Pinned>,
    algorithms: WebPkiSupportedAlgorithms,
}

/// `--cafile`: pinned certificates, else a chain to one of them.
#[derive(Debug)]
struct Pinned {
    certs: Vec<CertificateDer<'static>>,
    chain: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(pinned) = &self.pinned else { return Ok(ServerCertVerified::assertion()) };
        if pinned.certs.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
            return Ok(ServerCertVerified::assertion());
        }
        match &pinned.chain {
            Some(chain) => chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now),
            None => Err(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

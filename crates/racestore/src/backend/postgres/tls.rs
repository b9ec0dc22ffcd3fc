//! TLS for connections to the server: rustls with the ring provider (no libssl), verifying the
//! server against the system's root certificates when the URL says `sslmode=require`.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::config::TlsMode;

/// The connector every connection of a store uses. With `sslmode=disable` the driver never
/// calls it; with `prefer` it encrypts without checking the certificate (as libpq); with
/// `require` it checks the certificate chain and host name against the system's roots.
pub(super) fn connector(mode: TlsMode) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    let config = match mode {
        TlsMode::Require => builder
            .with_root_certificates(system_roots()?)
            .with_no_client_auth(),
        TlsMode::Disable | TlsMode::Prefer => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// The system's root certificates (the `ca-certificates` store on Debian; `SSL_CERT_FILE` or
/// `SSL_CERT_DIR` name others).
fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "skipped part of the system's certificate store");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::debug!(ignored, "ignored unparsable root certificates");
    }
    if added == 0 {
        return Err(
            "sslmode=require needs the system's root certificates, and none were found; install them \
             (Debian: apt-get install ca-certificates) or name a bundle with SSL_CERT_FILE"
                .to_owned(),
        );
    }
    Ok(roots)
}

/// `sslmode=prefer`: encrypts, accepting whatever certificate the server shows (what libpq does
/// for `prefer` and `require`). Handshake signatures are still checked, so the session key is
/// the certificate's holder's.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
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
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

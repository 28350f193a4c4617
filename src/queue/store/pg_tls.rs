//! TLS to the shared queue's database, with libpq's `sslmode` meanings, so a store URL that
//! works with `psql` works here: `disable`; `prefer` (the default: encrypted when the server
//! offers it); `require` (encrypted or nothing); `verify-ca` (and the server's certificate is
//! signed by a trusted CA); `verify-full` (and it is issued for the host in the URL). As in
//! libpq, naming a CA with `sslrootcert=/path/ca.pem` makes `prefer` and `require` check the
//! certificate too. The CAs trusted without `sslrootcert` are the public ones (Mozilla's list,
//! the same the uploader trusts for the Layers API). The handshake is rustls, which the HTTP
//! client already brings: no new TLS stack.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use postgres::config::SslMode;
use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use postgres::Socket;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How a store URL asks for TLS (`sslmode`), as libpq names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Never encrypted.
    Disable,
    /// Encrypted when the server offers it (libpq's default).
    Prefer,
    /// Encrypted, or no connection.
    Require,
    /// Encrypted, and the certificate signed by a trusted CA.
    VerifyCa,
    /// Encrypted, signed by a trusted CA, and issued for the host connected to.
    VerifyFull,
}

/// The TLS part of a store URL, which tokio-postgres does not parse itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsOptions {
    /// `sslmode`.
    pub mode: Mode,
    /// `sslrootcert`: the CA certificates (PEM) to trust instead of the public ones.
    pub root_cert: Option<PathBuf>,
}

/// Takes `sslmode` and `sslrootcert` out of a store URL (tokio-postgres knows neither
/// `verify-ca`/`verify-full` nor `sslrootcert`) and returns the rest of the URL with them.
pub fn split_url(url: &str) -> Result<(String, TlsOptions), String> {
    let mut opts = TlsOptions {
        mode: Mode::Prefer,
        root_cert: None,
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), opts));
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => {
                opts.mode = match percent_decode(value).as_str() {
                    "disable" => Mode::Disable,
                    "allow" | "prefer" => Mode::Prefer,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    other => {
                        return Err(format!(
                            "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
                        ))
                    }
                }
            }
            "sslrootcert" => opts.root_cert = Some(PathBuf::from(percent_decode(value))),
            "sslcert" | "sslkey" | "sslpassword" => {
                return Err(format!(
                    "{key}: client certificates are not supported; log in with a password (or ask for them)"
                ))
            }
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, opts))
}

/// `%XX` escapes (a path with a space, say) as URL query values carry them.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(v as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl TlsOptions {
    /// tokio-postgres's own mode: whether to ask the server for TLS, and whether to insist.
    pub fn ssl_mode(&self) -> SslMode {
        match self.mode {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        }
    }

    /// The connector: which CAs are trusted and what of the certificate is checked.
    pub fn connector(&self) -> Result<Connector, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // libpq: a named root certificate makes `prefer`/`require` behave as `verify-ca`.
        let check = match (self.mode, &self.root_cert) {
            (Mode::Disable, _) | (Mode::Prefer | Mode::Require, None) => Check::Nothing,
            (Mode::Prefer | Mode::Require | Mode::VerifyCa, Some(_)) | (Mode::VerifyCa, None) => {
                Check::Issuer
            }
            (Mode::VerifyFull, _) => Check::IssuerAndName,
        };
        let webpki = match check {
            Check::Nothing => None,
            Check::Issuer | Check::IssuerAndName => {
                let roots = self.roots()?;
                let v =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| format!("the CA certificates cannot be used: {e}"))?;
                Some(v)
            }
        };
        let verifier = Verifier {
            webpki,
            names: check == Check::IssuerAndName,
            provider: provider.clone(),
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS cannot be set up: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(Connector {
            config: Arc::new(config),
            check,
        })
    }

    fn roots(&self) -> Result<RootCertStore, String> {
        let mut roots = RootCertStore::empty();
        match &self.root_cert {
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Some(path) if path.as_os_str() == "system" => {
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned())
            }
            Some(path) => {
                let shown = path.display();
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("cannot read sslrootcert {shown}: {}", pem_error(&e)))?;
                for cert in certs {
                    let cert = cert.map_err(|e| {
                        format!(
                            "sslrootcert {shown} is not a PEM certificate file: {}",
                            pem_error(&e)
                        )
                    })?;
                    roots.add(cert).map_err(|e| {
                        format!("sslrootcert {shown} holds a certificate that cannot be a CA: {e}")
                    })?;
                }
                if roots.is_empty() {
                    return Err(format!("sslrootcert {shown} holds no certificate"));
                }
            }
        }
        Ok(roots)
    }
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        other => format!("{other:?}"),
    }
}

/// What of the server's certificate is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    Nothing,
    Issuer,
    IssuerAndName,
}

/// The certificate check for each mode; the handshake's own signatures are always checked.
#[derive(Debug)]
struct Verifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    names: bool,
    provider: Arc<CryptoProvider>,
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
        let Some(webpki) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            // The name is checked after the chain: a name error means the issuer is trusted.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.names => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Makes the TLS session for each connection of the store's worker thread.
#[derive(Clone)]
pub struct Connector {
    config: Arc<ClientConfig>,
    check: Check,
}

impl MakeTlsConnect<Socket> for Connector {
    type Stream = Stream;
    type TlsConnect = Handshake;
    type Error = TlsError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Handshake, TlsError> {
        Ok(Handshake {
            config: self.config.clone(),
            check: self.check,
            host: domain.to_string(),
        })
    }
}

/// One connection's handshake, to `host`.
pub struct Handshake {
    config: Arc<ClientConfig>,
    check: Check,
    host: String,
}

impl TlsConnect<Socket> for Handshake {
    type Stream = Stream;
    type Error = TlsError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, TlsError>> + Send>>;

    fn connect(self, socket: Socket) -> Self::Future {
        Box::pin(async move {
            let name = ServerName::try_from(self.host.clone()).map_err(|_| {
                TlsError::Refused(format!("{:?} is not a host name TLS can check", self.host))
            })?;
            tokio_rustls::TlsConnector::from(self.config)
                .connect(name, socket)
                .await
                .map(Stream)
                .map_err(|e| TlsError::from_io(e, &self.host, self.check))
        })
    }
}

/// Why a TLS connection to the shared queue's database failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate or the handshake was refused: waiting does not help.
    #[error("{0}")]
    Refused(String),
    /// The connection broke during the handshake (a server restarting): worth waiting for.
    #[error("the connection broke during the TLS handshake")]
    Broken(#[source] io::Error),
}

impl TlsError {
    fn from_io(e: io::Error, host: &str, check: Check) -> TlsError {
        let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
            return TlsError::Broken(e);
        };
        use CertificateError as C;
        let why = match tls {
            rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
                let fix = if check == Check::Nothing {
                    ""
                } else {
                    "; name the CA's certificate with sslrootcert=/path/to/ca.pem in the store URL"
                };
                format!("the database's certificate is not signed by a CA trusted here{fix}")
            }
            rustls::Error::InvalidCertificate(
                C::NotValidForName | C::NotValidForNameContext { .. },
            ) => {
                format!(
                    "the database's certificate is not issued for {host}: connect by a name the \
                     certificate holds, or use sslmode=verify-ca to check only who signed it"
                )
            }
            rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
                "the database's certificate has expired".to_string()
            }
            rustls::Error::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
                "the database's certificate is not valid yet (is this machine's clock right?)"
                    .to_string()
            }
            other => format!("the TLS handshake with the database failed: {other}"),
        };
        TlsError::Refused(why)
    }

    /// Whether the failure is the connection's (a retry may succeed), not the certificate's.
    pub fn is_transient(&self) -> bool {
        matches!(self, TlsError::Broken(_))
    }
}

/// An encrypted connection to the database.
pub struct Stream(tokio_rustls::client::TlsStream<Socket>);

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl TlsStream for Stream {
    /// No channel binding: logins use SCRAM-SHA-256 without `-PLUS`, which every server
    /// accepts; the certificate check above is what ties the session to the server.
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_and_the_rest_kept() {
        let (rest, o) = split_url(
            "postgres://u:p@db:5432/q?connect_timeout=5&sslmode=verify-full&sslrootcert=/etc/my%20ca.pem",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u:p@db:5432/q?connect_timeout=5");
        assert_eq!(o.mode, Mode::VerifyFull);
        assert_eq!(o.root_cert, Some(PathBuf::from("/etc/my ca.pem")));
        let (rest, o) = split_url("postgres://u@db/q?sslmode=require").unwrap();
        assert_eq!(rest, "postgres://u@db/q");
        assert_eq!(o.mode, Mode::Require);
        let (rest, o) = split_url("postgres://u@db/q").unwrap();
        assert_eq!((rest.as_str(), o.mode), ("postgres://u@db/q", Mode::Prefer));
    }

    #[test]
    fn unknown_modes_and_client_certificates_are_refused_by_name() {
        let e = split_url("postgres://db/q?sslmode=strict").unwrap_err();
        assert!(e.contains("sslmode=strict"), "{e}");
        let e = split_url("postgres://db/q?sslcert=/c.pem").unwrap_err();
        assert!(e.contains("client certificates"), "{e}");
    }

    #[test]
    fn a_missing_root_certificate_file_is_named() {
        let o = TlsOptions {
            mode: Mode::VerifyFull,
            root_cert: Some(PathBuf::from("/nonexistent/ca.pem")),
        };
        let e = o.connector().err().unwrap();
        assert!(
            e.contains("cannot read sslrootcert /nonexistent/ca.pem"),
            "{e}"
        );
    }
}

//! Distribution over TLS, as `erl -proto_dist inet_tls` runs it (ssl's "Using TLS for Erlang
//! Distribution"): the TLS handshake first, then the usual distribution handshake inside it.
//! Certificates and verification come from options like `ssl_dist_optfile`'s, whose
//! `{server, [...]}` and `{client, [...]}` lists this module reads.
//!
//! ```
//! use rotp_net::dist::tls::parse_optfile;
//!
//! // The file `erl -proto_dist inet_tls -ssl_dist_optfile dist.conf` reads.
//! let (server, client) = parse_optfile(r#"
//!     [{server, [{certfile, "/etc/drip/node.pem"}, {keyfile, "/etc/drip/node.key"},
//!                {cacertfile, "/etc/drip/ca.pem"}, {verify, verify_peer},
//!                {fail_if_no_peer_cert, true}]},
//!      {client, [{cacertfile, "/etc/drip/ca.pem"}, {verify, verify_peer}]}].
//! "#)?;
//! assert_eq!(server.certfile.as_deref(), Some("/etc/drip/node.pem".as_ref()));
//! assert!(server.verify_peer && server.fail_if_no_peer_cert);
//! assert!(client.verify_peer && client.certfile.is_none());
//! // Then `DistTls::new(&server, &client)?` reads the files; a node's connections use it.
//! # Ok::<(), rotp_net::dist::tls::TlsError>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// One side's TLS options (the `ssl` options `ssl_dist_optfile` lists for `server` or
/// `client`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// `certfile`: this node's certificate chain (PEM).
    pub certfile: Option<PathBuf>,
    /// `keyfile`: its private key (PEM); the certificate file when absent, as ssl does.
    pub keyfile: Option<PathBuf>,
    /// `cacertfile`: the authorities peers' certificates must chain to.
    pub cacertfile: Option<PathBuf>,
    /// `{verify, verify_peer}`.
    pub verify_peer: bool,
    /// `{fail_if_no_peer_cert, true}`: a server refuses clients without a certificate.
    pub fail_if_no_peer_cert: bool,
}

/// Why TLS could not be set up.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A certificate or key file could not be read.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The options file is not a list of `{server | client, Options}`.
    #[error("TLS options file: {0}")]
    OptFile(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// `verify_peer` without `cacertfile`.
    #[error("verify_peer needs a cacertfile")]
    NoCa,
    /// A server needs a certificate.
    #[error("the TLS server side needs a certfile")]
    NoCert,
}

/// The TLS ends of a node's distribution.
#[derive(Clone)]
pub struct DistTls {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
}

impl std::fmt::Debug for DistTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DistTls")
    }
}

/// A TLS stream over TCP, either end.
pub type TlsStream = tokio_rustls::TlsStream<TcpStream>;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_err = |reason: String| TlsError::File {
        path: path.to_owned(),
        reason,
    };
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(file_err("no certificate in it".to_owned()));
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn roots(path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in certs(path)? {
        store.add(cert)?;
    }
    Ok(Arc::new(store))
}

impl DistTls {
    /// TLS for both ends of a node's connections.
    pub fn new(server: &TlsOptions, client: &TlsOptions) -> Result<DistTls, TlsError> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?;
        let builder = if server.verify_peer {
            let ca = server.cacertfile.as_deref().ok_or(TlsError::NoCa)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(roots(ca)?, provider());
            let verifier = if server.fail_if_no_peer_cert {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| TlsError::Config(rustls::Error::General(e.to_string())))?,
            )
        } else {
            builder.with_no_client_auth()
        };
        let certfile = server.certfile.as_deref().ok_or(TlsError::NoCert)?;
        let keyfile = server.keyfile.as_deref().unwrap_or(certfile);
        let server_config = builder.with_single_cert(certs(certfile)?, key(keyfile)?)?;

        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?;
        let builder = if client.verify_peer {
            let ca = client.cacertfile.as_deref().ok_or(TlsError::NoCa)?;
            builder.with_root_certificates(roots(ca)?)
        } else {
            // ssl's default for clients in OTP 25: `verify_none`.
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
        };
        let client_config = match &client.certfile {
            Some(certfile) => {
                let keyfile = client.keyfile.as_deref().unwrap_or(certfile);
                builder.with_client_auth_cert(certs(certfile)?, key(keyfile)?)?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(DistTls {
            acceptor: TlsAcceptor::from(Arc::new(server_config)),
            connector: TlsConnector::from(Arc::new(client_config)),
        })
    }

    /// Reads an `ssl_dist_optfile`: `[{server, [Opt]}, {client, [Opt]}].` with the options
    /// `certfile`, `keyfile`, `cacertfile`, `verify` and `fail_if_no_peer_cert` (others are
    /// ignored).
    pub fn from_optfile(path: &Path) -> Result<DistTls, TlsError> {
        let text = std::fs::read_to_string(path).map_err(|e| TlsError::File {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let (server, client) = parse_optfile(&text)?;
        DistTls::new(&server, &client)
    }

    /// The TLS handshake as the accepting side.
    pub async fn accept(&self, stream: TcpStream) -> std::io::Result<TlsStream> {
        Ok(self.acceptor.accept(stream).await?.into())
    }

    /// The TLS handshake as the connecting side, to `host`.
    pub async fn connect(&self, host: &str, stream: TcpStream) -> std::io::Result<TlsStream> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        Ok(self.connector.connect(name, stream).await?.into())
    }
}

/// Parses `ssl_dist_optfile` text into the server and client options.
pub fn parse_optfile(text: &str) -> Result<(TlsOptions, TlsOptions), TlsError> {
    let bad = |what: &str| TlsError::OptFile(what.to_owned());
    let text = text.trim().trim_end_matches('.');
    let term = etf::text::parse(text).map_err(|e| TlsError::OptFile(e.to_string()))?;
    let etf::Term::List(sides) = term else {
        return Err(bad(
            "expected a list of {server, Options} and {client, Options}",
        ));
    };
    let (mut server, mut client) = (TlsOptions::default(), TlsOptions::default());
    for side in sides {
        let etf::Term::Tuple(pair) = side else {
            return Err(bad("expected {server, Options} or {client, Options}"));
        };
        let [etf::Term::Atom(which), etf::Term::List(opts)] = pair.as_slice() else {
            return Err(bad("expected {server, Options} or {client, Options}"));
        };
        let target = match which.as_str() {
            "server" => &mut server,
            "client" => &mut client,
            _ => return Err(bad("only server and client sections exist")),
        };
        for opt in opts {
            let etf::Term::Tuple(kv) = opt else { continue };
            let [etf::Term::Atom(k), v] = kv.as_slice() else {
                continue;
            };
            let path = || text_of(v).map(PathBuf::from);
            match k.as_str() {
                "certfile" => target.certfile = path(),
                "keyfile" => target.keyfile = path(),
                "cacertfile" => target.cacertfile = path(),
                "verify" => target.verify_peer = v.as_atom() == Some("verify_peer"),
                "fail_if_no_peer_cert" => target.fail_if_no_peer_cert = v.as_atom() == Some("true"),
                _ => {}
            }
        }
    }
    Ok((server, client))
}

/// A string option: a charlist or a binary.
fn text_of(term: &etf::Term) -> Option<String> {
    match term {
        etf::Term::List(chars) => chars
            .iter()
            .map(|c| match c {
                etf::Term::Integer(i) => char::from_u32(*i as u32),
                _ => None,
            })
            .collect(),
        etf::Term::Binary(b) => String::from_utf8(b.to_vec()).ok(),
        _ => None,
    }
}

/// `{verify, verify_none}`: any server certificate is accepted (signatures are still checked).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_optfile_reads_like_ssl_dist_optfile() {
        let (server, client) = parse_optfile(
            r#"[{server, [{certfile, "/c/node.pem"}, {keyfile, "/c/node.key"},
                          {cacertfile, "/c/ca.pem"}, {verify, verify_peer},
                          {fail_if_no_peer_cert, true}, {secure_renegotiate, true}]},
                {client, [{certfile, "/c/node.pem"}, {verify, verify_none}]}]."#,
        )
        .unwrap();
        assert_eq!(server.certfile.as_deref(), Some(Path::new("/c/node.pem")));
        assert_eq!(server.keyfile.as_deref(), Some(Path::new("/c/node.key")));
        assert!(server.verify_peer && server.fail_if_no_peer_cert);
        assert!(!client.verify_peer);
        assert!(parse_optfile("{server, []}.").is_err());
    }
}

//! The connection pool: TLS as `store.sslmode` says, and every connection's I/O on the runtime
//! that opened the store.
//!
//! tokio-postgres splits a connection into a `Client` and a `Connection` future that does the
//! socket I/O and must be spawned. deadpool spawns it on whatever runtime asks for a new
//! connection; in `osprey serve` that can be one of pingora's per-service runtimes, which stop at
//! shutdown (and a socket is bound to the runtime it was opened on). Connecting and the I/O task
//! therefore run on the runtime captured at open — `serve`'s setup runtime, alive until the
//! process ends — whichever task asked.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::super::*;
use super::{pg_msg, PgStore};
use crate::config::{PgSslMode, PostgresConfig};

/// How long a call waits for a free pooled connection (SQLite's busy timeout is also 5 s).
pub const POOL_WAIT: Duration = Duration::from_secs(5);

struct SpawnOn {
    tls: MakeRustlsConnect,
    rt: tokio::runtime::Handle,
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

impl deadpool_postgres::Connect for SpawnOn {
    fn connect(
        &self,
        pg_config: &tokio_postgres::Config,
    ) -> BoxFuture<
        '_,
        std::result::Result<
            (tokio_postgres::Client, tokio::task::JoinHandle<()>),
            tokio_postgres::Error,
        >,
    > {
        let (cfg, tls) = (pg_config.clone(), self.tls.clone());
        let opened = self.rt.spawn(open(cfg.clone(), tls.clone()));
        Box::pin(async move {
            match opened.await {
                Ok(r) => r,
                // that runtime is shutting down (process exit): connect here instead
                Err(_) => open(cfg, tls).await,
            }
        })
    }
}

/// Connect and spawn the connection's I/O task on the current runtime.
async fn open(
    cfg: tokio_postgres::Config,
    tls: MakeRustlsConnect,
) -> std::result::Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>
{
    let (client, connection) = cfg.connect(tls).await?;
    let io = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %pg_msg(&e), "PostgreSQL connection closed");
        }
    });
    Ok((client, io))
}

pub(super) fn pool(cfg: &PostgresConfig) -> Result<Pool> {
    let rt = tokio::runtime::Handle::try_current().map_err(|_| {
        StoreError::Backend("the PostgreSQL store must be opened on a tokio runtime".into())
    })?;
    let connect = SpawnOn {
        tls: make_tls(cfg)?,
        rt,
    };
    let mgr = Manager::from_connect(
        cfg.connect.clone(),
        connect,
        ManagerConfig {
            // a connection whose server went away is closed by its I/O task, so `is_closed`
            // is enough; no query per checkout
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let hosts = cfg.connect.get_hosts().len().max(1) as u32;
    let per_host = cfg
        .connect
        .get_connect_timeout()
        .copied()
        .unwrap_or(crate::config::model::DEFAULT_STORE_CONNECT_TIMEOUT);
    Pool::builder(mgr)
        .max_size(cfg.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_WAIT))
        // every host tried in turn, then TLS and authentication
        .create_timeout(Some(per_host * hosts + Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()
        .map_err(|e| StoreError::Backend(format!("PostgreSQL pool: {e}")))
}

pub(super) fn pool_err(e: PoolError, s: &PgStore) -> StoreError {
    use deadpool_postgres::TimeoutType;
    StoreError::Backend(match e {
        PoolError::Backend(e) => format!("PostgreSQL {}: {}", s.target, pg_msg(&e)),
        PoolError::Timeout(TimeoutType::Wait) => format!(
            "PostgreSQL {}: no free connection within {} s (all {} of store.pool_size busy)",
            s.target,
            POOL_WAIT.as_secs(),
            s.pool_size
        ),
        PoolError::Timeout(TimeoutType::Create) => format!(
            "PostgreSQL {}: connecting timed out (server down or unreachable?)",
            s.target
        ),
        PoolError::Timeout(TimeoutType::Recycle) => {
            format!(
                "PostgreSQL {}: checking a pooled connection timed out",
                s.target
            )
        }
        other => format!("PostgreSQL {}: {other}", s.target),
    })
}

/// The TLS connector `store.sslmode` asks for (the pool's and the change feed's).
pub(super) fn make_tls(cfg: &PostgresConfig) -> Result<MakeRustlsConnect> {
    Ok(MakeRustlsConnect::new(tls_config(&cfg.sslmode)?))
}

/// rustls with the ring provider named explicitly (the tree also has aws-lc-rs, and rustls
/// refuses to guess between two).
fn tls_config(mode: &PgSslMode) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Backend(format!("TLS setup: {e}")))?;
    Ok(match mode {
        PgSslMode::VerifyFull { ca_file } => {
            let mut roots = rustls::RootCertStore::empty();
            match ca_file {
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
                Some(f) => {
                    let pem = std::fs::read(f).map_err(|e| {
                        StoreError::Backend(format!("store.ca_file {}: {e}", f.display()))
                    })?;
                    let certs = rustls_pemfile::certs(&mut &pem[..])
                        .collect::<std::result::Result<Vec<_>, _>>()
                        .map_err(|e| {
                            StoreError::Backend(format!(
                                "store.ca_file {}: not PEM: {e}",
                                f.display()
                            ))
                        })?;
                    let (added, _) = roots.add_parsable_certificates(certs);
                    if added == 0 {
                        return Err(StoreError::Backend(format!(
                            "store.ca_file {}: no usable PEM certificate (-----BEGIN CERTIFICATE-----) found",
                            f.display()
                        )));
                    }
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        // libpq's `prefer` and `require`: encrypted, the certificate not checked
        _ => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
    })
}

/// Accepts any server certificate (sslmode `prefer`/`require`, as libpq without a root
/// certificate) but still checks the handshake signatures against it.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

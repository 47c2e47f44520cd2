//! The embedded S3 store (the `local` backend kind's server): an in-process S3 server over a data
//! directory, so the quick-start configuration serves S3 without any other service. It imports
//! nothing of the rest of the crate (issue 12): `backend::local` drives it.
//!
//! The gateway authenticates clients itself, re-signs each request with the one service
//! credential given to [`LocalServer::start`] and forwards it over loopback TCP. s3s does the
//! protocol work (HTTP/XML, SigV4 and aws-chunked decoding); `s3impl` implements the S3
//! semantics and `store` the crash-safe on-disk layout (see there). Keys never become paths:
//! `names` maps each to one flat, reversible file name.
//!
//! One server per data directory: two processes on the same root would race on commits, and
//! each empties the shared scratch directory at start.

mod cond;
mod cors;
mod lifecycle;
mod listing;
mod meta;
mod names;
mod s3impl;
mod store;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hyper_util::rt::{TokioIo, TokioTimer};
use s3s::auth::SimpleAuth;
use s3s::config::{S3Config, StaticConfigProvider};
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use self::s3impl::LocalS3;
use self::store::Store;

/// Most simultaneous connections. Default 1024: the gateway pools its connections and needs far
/// fewer; the cap stops a runaway client from exhausting file descriptors (each request may also
/// hold an object file open). Further connections wait in the listen backlog.
const MAX_CONNECTIONS: usize = 1024;

/// Time a client has to send a complete request head. Default 30 s; stops slow or stalled
/// clients from holding a connection slot indefinitely.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`LocalServer::shutdown`] lets in-flight requests finish before cutting their
/// connections. Default 30 s; bounds shutdown when a client is mid-way through a huge transfer.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Largest XML request body s3s buffers (CompleteMultipartUpload, DeleteObjects). Default 8 MiB:
/// 10 000 parts or 1000 maximal keys fit comfortably; stops unbounded buffering in memory.
const MAX_XML_BODY: usize = 8 * 1024 * 1024;

/// Pause after a failed `accept` (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

pub use self::lifecycle::{DAY as LIFECYCLE_DAY, SWEEP_INTERVAL as LIFECYCLE_SWEEP_INTERVAL};

/// Settings of [`LocalServer::start_with`]; [`Default`] is what [`LocalServer::start`] uses.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// How often lifecycle rules are applied. Default [`LIFECYCLE_SWEEP_INTERVAL`].
    pub lifecycle_interval: Duration,
    /// The length of a lifecycle rule's "day". Default [`LIFECYCLE_DAY`] (tests shorten it).
    pub lifecycle_day: Duration,
}

impl Default for LocalOptions {
    fn default() -> Self {
        Self {
            lifecycle_interval: LIFECYCLE_SWEEP_INTERVAL,
            lifecycle_day: LIFECYCLE_DAY,
        }
    }
}

/// A running local S3 server. Dropping it also stops it (without waiting); prefer
/// [`LocalServer::shutdown`], which waits for in-flight requests.
pub struct LocalServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for LocalServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl LocalServer {
    /// Start serving on 127.0.0.1:0 (ephemeral) rooted at `root` (created 0700 if absent).
    /// `access_key`/`secret_key` is the one service credential the gateway re-signs with;
    /// requests signed by anything else get 403 from s3s's own SigV4 check. `region` is what
    /// GetBucketLocation and HeadBucket report.
    pub async fn start(
        root: &Path,
        access_key: &str,
        secret_key: &str,
        region: &str,
    ) -> io::Result<LocalServer> {
        Self::start_with(
            root,
            access_key,
            secret_key,
            region,
            LocalOptions::default(),
        )
        .await
    }

    /// [`LocalServer::start`] with explicit [`LocalOptions`] (no SSE-S3 store key).
    pub async fn start_with(
        root: &Path,
        access_key: &str,
        secret_key: &str,
        region: &str,
        options: LocalOptions,
    ) -> io::Result<LocalServer> {
        Self::start_with_key(root, access_key, secret_key, region, options, None).await
    }

    /// [`LocalServer::start_with`] and the SSE-S3 store key: object data written with
    /// `x-amz-server-side-encryption: AES256` or into a bucket whose default encryption is
    /// AES256 is encrypted at rest under per-object data keys wrapped by it (docs/embedded-store.md
    /// "Encryption at rest"). Without a key such writes are refused with `NotImplemented`. The
    /// key is a parameter rather than a [`LocalOptions`] field so that it never appears in the
    /// options' `Debug` output.
    pub async fn start_with_key(
        root: &Path,
        access_key: &str,
        secret_key: &str,
        region: &str,
        options: LocalOptions,
        encryption_key: Option<[u8; 32]>,
    ) -> io::Result<LocalServer> {
        if access_key.is_empty() || secret_key.is_empty() || region.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "local backend needs a key pair and a region",
            ));
        }
        let started = SystemTime::now();
        let root = root.to_owned();
        let store = tokio::task::spawn_blocking(move || {
            Store::open(&root).map(|s| s.with_sse_key(encryption_key.as_ref()))
        })
        .await
        .map_err(io::Error::other)??;
        let store = Arc::new(store);

        // Crash debris (blobs no sidecar references) is removed in the background: the sweep
        // only touches blobs older than this start, so it cannot race with new writes.
        let sweeper = store.clone();
        tokio::task::spawn_blocking(move || match sweeper.sweep_orphans(started) {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "local backend: removed unreferenced blobs"),
            Err(e) => tracing::warn!(error = %e, "local backend: orphan sweep failed"),
        });

        let store_for_sweep = store.clone();
        let mut builder = S3ServiceBuilder::new(LocalS3::new(store.clone(), region.to_owned()));
        builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
        let mut config = S3Config::default();
        config.xml_max_body_size = MAX_XML_BODY;
        builder.set_config(Arc::new(StaticConfigProvider::new(Arc::new(config))));
        let service = cors::Service {
            s3: builder.build(),
            store,
        };

        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(lifecycle_loop(store_for_sweep, options, stopped.clone()));
        let task = tokio::spawn(serve(listener, service, stopped));
        tracing::info!(%addr, "local backend: serving");
        Ok(LocalServer { addr, stop, task })
    }

    /// The loopback address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets in-flight requests finish (up to [`SHUTDOWN_GRACE`]), then returns.
    pub async fn shutdown(self) {
        // An error only means the serve loop is already gone.
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "local backend: serve task failed");
        }
    }
}

/// Applies lifecycle rules every `options.lifecycle_interval` until the server stops.
async fn lifecycle_loop(store: Arc<Store>, options: LocalOptions, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(options.lifecycle_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let (store, day) = (store.clone(), options.lifecycle_day);
        let run =
            tokio::task::spawn_blocking(move || lifecycle::sweep(&store, day, SystemTime::now()));
        match run.await {
            Ok(Ok(s)) if s != lifecycle::SweepStats::default() => {
                tracing::info!(?s, "local backend: lifecycle rules applied");
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "local backend: lifecycle sweep failed"),
            Err(e) => tracing::warn!(error = %e, "local backend: lifecycle sweep panicked"),
        }
    }
}

async fn serve(listener: TcpListener, service: cors::Service, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut conns = JoinSet::new();
    loop {
        // `changed()` also fires (with an error) when the `LocalServer` was dropped.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stop.changed() => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    // small responses must not wait for delayed ACKs (Nagle): ~40 ms per GET otherwise
                    let _ = stream.set_nodelay(true);
                    stream
                }
                Err(e) => {
                    tracing::warn!(error = %e, "local backend: accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        while conns.try_join_next().is_some() {}
        let service = service.clone();
        let mut stop = stop.clone();
        conns.spawn(async move {
            let _permit = permit;
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = stop.changed() => {
                    // Finish the request in flight (if any), then close.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "local backend: connection ended with an error");
            }
        });
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::warn!(
            "local backend: requests still running after the shutdown grace period; closing them"
        );
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
}

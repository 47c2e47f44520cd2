//! `osprey serve`: one process, both planes, one lifecycle.
//!
//! pingora's `Server` owns the process lifecycle (SIGTERM = graceful shutdown with the configured
//! grace period, SIGINT = fast shutdown); the OSIS API runs as a pingora background service and the
//! S3 proxy as a pingora HTTP service, so both stop together. Listeners are bound before pingora
//! starts, so a busy port is a clear start-up error rather than a log line from a thread.

pub mod explain;
pub mod follow;
pub mod guard;
pub mod license;
pub mod observe;
pub mod store_cmd;
pub mod support;
pub mod wiring;

use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use pingora::server::configuration::ServerConf;
use pingora::server::{Server, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService};

use crate::config::TlsConfig;
use crate::config::{Config, LogLevel};

pub struct ServeOptions {
    pub config: PathBuf,
    pub verbose: bool,
    pub accept_license: bool,
}

/// Start both planes and block until shutdown. Errors before serving are returned with a message
/// an operator can act on (docs/troubleshooting.md lists each).
pub fn run(opts: ServeOptions) -> anyhow::Result<()> {
    let (text, mut cfg) =
        crate::config::load_text(&opts.config, &crate::config::Env::from_process())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    if opts.verbose {
        cfg.log.level = LogLevel::Debug;
    }
    crate::telemetry::init(&cfg.log);
    let data_dir = cfg.server.data_dir.clone();
    create_private_dir(&data_dir)?;
    license::ensure_accepted(&data_dir, opts.accept_license)?;
    if let Some(tls) = &cfg.server.tls {
        check_tls_files(tls)?;
    }
    let run_dir = data_dir.join("run");
    create_private_dir(&run_dir)?;
    // held until the process exits: a second Osprey on this data directory is refused (issue 14)
    let _lock = lock_data_dir(&data_dir, &run_dir)?;

    // Wiring needs a runtime (store pool, local backend start-up); pingora brings its own per
    // service, and everything built here is runtime-agnostic afterwards.
    let setup = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("osprey-core")
        .build()?;
    let planes = setup.block_on(wiring::build(
        &cfg,
        &opts.config,
        crate::reload::digest(&text),
    ))?;

    let osis_listener = std::net::TcpListener::bind(cfg.server.osis_listen).map_err(|e| {
        anyhow::anyhow!(
            "cannot listen for OSIS on {}: {e} (is another Osprey running? change server.osis_listen)",
            cfg.server.osis_listen
        )
    })?;
    osis_listener.set_nonblocking(true)?;
    let metrics_listener = match cfg.server.metrics_listen {
        None => None,
        Some(addr) => {
            let l = std::net::TcpListener::bind(addr).map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen for metrics on {addr}: {e} (is another Osprey running? change server.metrics_listen)"
                )
            })?;
            l.set_nonblocking(true)?;
            Some(l)
        }
    };

    let conf = ServerConf {
        threads: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        // pingora writes its pid file only when it daemonizes; Osprey writes its own (lock_data_dir)
        pid_file: run_dir.join("pingora.pid").display().to_string(),
        upgrade_sock: run_dir.join("upgrade.sock").display().to_string(),
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(cfg.server.grace_period.as_secs().max(1)),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let mut osis = background_service(
        "osis",
        OsisService {
            listener: Mutex::new(Some(osis_listener)),
            router: planes.osis_router.clone(),
            tls: cfg.server.tls.clone(),
            grace: cfg.server.grace_period,
            limits: cfg.server.limits,
        },
    );
    osis.threads = Some(2);
    server.add_service(osis);
    if let Some(l) = metrics_listener {
        let mut m = background_service(
            "metrics",
            observe::MetricsService {
                listener: Mutex::new(Some(l)),
                router: observe::router(planes.store.clone(), Some(planes.config.clone())),
                grace: cfg.server.grace_period,
            },
        );
        m.threads = Some(1);
        server.add_service(m);
    }
    let mut probe = background_service(
        "backend-probe",
        observe::ProbeService {
            snapshot: planes.snapshot.clone(),
        },
    );
    probe.threads = Some(1);
    server.add_service(probe);
    let _watcher = planes.watcher;
    for svc in planes.services {
        svc(&mut server, &cfg)?;
    }
    tracing::info!(
        osis = %cfg.server.osis_listen,
        s3 = %cfg.server.s3_listen,
        metrics = %cfg.server.metrics_listen.map(|a| a.to_string()).unwrap_or_else(|| "off".into()),
        pid = std::process::id(),
        data_dir = %data_dir.display(),
        tls = cfg.server.tls.is_some(),
        "osprey serving"
    );
    // keep the setup runtime alive: the store and backends hold handles into it
    let _setup = setup;
    server.run(pingora::server::RunArgs::default());
    let _ = std::fs::remove_file(run_dir.join(PID_FILE));
    tracing::info!("osprey stopped");
    Ok(())
}

/// The process id of the serving Osprey, in `<data_dir>/run/`, removed at a clean stop.
pub const PID_FILE: &str = "osprey.pid";

/// The lock file in `<data_dir>/run/` (an advisory `flock`, released by the kernel when the
/// process ends however it ends, so a crash never leaves a stale lock).
pub const LOCK_FILE: &str = "osprey.lock";

/// Take the data directory's lock and write the pid file. Two processes on one data directory
/// would share one SQLite store file and one embedded store's blobs, each with caches the other
/// never invalidates; the second is refused with the first one's pid.
fn lock_data_dir(
    data_dir: &std::path::Path,
    run_dir: &std::path::Path,
) -> anyhow::Result<std::fs::File> {
    let Some(f) = try_lock_run_dir(run_dir)? else {
        anyhow::bail!(
            "data directory {} is in use by another Osprey (pid {}); stop it first, or give this one its own server.data_dir",
            data_dir.display(),
            lock_holder(run_dir)
        );
    };
    let pid_path = run_dir.join(PID_FILE);
    std::fs::write(&pid_path, format!("{}\n", std::process::id()))
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", pid_path.display()))?;
    Ok(f)
}

/// Take `<run_dir>/osprey.lock` without waiting; `None` while another process holds it (also
/// `osprey store migrate`, which must not copy a store a serving Osprey is changing).
pub(crate) fn try_lock_run_dir(run_dir: &std::path::Path) -> anyhow::Result<Option<std::fs::File>> {
    let path = run_dir.join(LOCK_FILE);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open the lock file {}: {e}", path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => {
            anyhow::bail!("cannot lock {}: {e}", path.display())
        }
    }
}

/// The pid in `<run_dir>/osprey.pid` (`unknown` without one).
pub(crate) fn lock_holder(run_dir: &std::path::Path) -> String {
    std::fs::read_to_string(run_dir.join(PID_FILE))
        .map(|p| p.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Read and parse the certificate chain and key before any listener starts, so a bad pair is a
/// clear start-up error instead of a panic inside pingora's TLS setup.
fn check_tls_files(tls: &TlsConfig) -> anyhow::Result<()> {
    let read = |p: &std::path::Path| {
        std::fs::read(p)
            .map_err(|e| anyhow::anyhow!("server.tls: cannot read {}: {e}", p.display()))
    };
    let cert = read(&tls.cert_file)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut &cert[..])
        .collect::<Result<_, _>>()
        .map_err(|e| {
            anyhow::anyhow!(
                "server.tls.cert_file {}: not PEM: {e}",
                tls.cert_file.display()
            )
        })?;
    if certs.is_empty() {
        anyhow::bail!(
            "server.tls.cert_file {}: no PEM certificate (-----BEGIN CERTIFICATE-----) found",
            tls.cert_file.display()
        );
    }
    let key = read(&tls.key_file)?;
    match rustls_pemfile::private_key(&mut &key[..]) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => anyhow::bail!(
            "server.tls.key_file {}: no PEM private key found",
            tls.key_file.display()
        ),
        Err(e) => anyhow::bail!(
            "server.tls.key_file {}: not PEM: {e}",
            tls.key_file.display()
        ),
    }
}

pub(crate) fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create data directory {}: {e}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // keys, the store and object data live here: owner only
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// A boxed step that adds a pingora service (the S3 proxy) to the server.
pub type AddService = Box<dyn FnOnce(&mut Server, &Config) -> anyhow::Result<()> + Send>;

struct OsisService {
    listener: Mutex<Option<std::net::TcpListener>>,
    router: axum::Router,
    tls: Option<TlsConfig>,
    grace: std::time::Duration,
    limits: crate::config::Limits,
}

#[async_trait]
impl BackgroundService for OsisService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let Some(listener) = self.listener.lock().ok().and_then(|mut l| l.take()) else {
            return;
        };
        let handle = axum_server::Handle::new();
        let h2 = handle.clone();
        let grace = self.grace;
        tokio::spawn(async move {
            let _ = shutdown.changed().await;
            h2.graceful_shutdown(Some(grace));
        });
        let app = self
            .router
            .clone()
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        let result = match &self.tls {
            None => {
                let mut srv = axum_server::from_tcp(listener).acceptor(guard::LimitAcceptor::new(
                    axum_server::accept::DefaultAcceptor,
                    &self.limits,
                ));
                guard::configure_hyper(srv.http_builder(), &self.limits);
                srv.handle(handle).serve(app).await
            }
            Some(tls) => {
                match axum_server::tls_rustls::RustlsConfig::from_pem_file(
                    &tls.cert_file,
                    &tls.key_file,
                )
                .await
                {
                    Ok(rc) => {
                        let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rc).acceptor(
                            guard::LimitAcceptor::new(
                                axum_server::accept::DefaultAcceptor,
                                &self.limits,
                            ),
                        );
                        let mut srv = axum_server::from_tcp(listener).acceptor(acceptor);
                        guard::configure_hyper(srv.http_builder(), &self.limits);
                        srv.handle(handle).serve(app).await
                    }
                    Err(e) => {
                        tracing::error!(cert = %tls.cert_file.display(), key = %tls.key_file.display(), error = %e, "cannot load OSIS TLS certificate/key; stopping");
                        crate::telemetry::flush();
                        std::process::exit(1);
                    }
                }
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "OSIS listener failed; stopping");
            crate::telemetry::flush();
            std::process::exit(1);
        }
    }
}

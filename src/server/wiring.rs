//! Builds the object graph both planes share: identity store, hooks, OSIS router, S3 proxy.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::backend::factory::build_backends;
use crate::config::{Config, StoreKind};
use crate::osis::hooks::ControlHooks;
use crate::osis::{auth::Authenticator, OsisState};
use crate::proxy::directory::{CachedDirectory, StoreDirectory};
use crate::proxy::{Gateway, SharedSnapshot, Snapshot};
use crate::routing::Routing;
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{MasterKey, Store};

pub struct Planes {
    pub store: Arc<dyn Store>,
    /// The serving snapshot (the backend probe reads it).
    pub snapshot: SharedSnapshot,
    /// Hot reload's state (readiness reads it).
    pub config: Arc<dyn crate::osis::hooks::ConfigControl>,
    pub osis_router: axum::Router,
    /// pingora services to add (the S3 data plane).
    pub services: Vec<super::AddService>,
    /// Keeps the config file watch alive for the life of the process.
    pub watcher: notify::RecommendedWatcher,
}

/// The configured store (created or migrated to this build's schema) and the master key.
pub async fn open_store(cfg: &Config) -> anyhow::Result<(Arc<dyn Store>, MasterKey)> {
    let env_key = std::env::var(crate::store::crypto::MASTER_KEY_ENV).ok();
    let key = MasterKey::load_or_create(&cfg.store.master_key_file, env_key.as_deref())?;
    let store: Arc<dyn Store> = match &cfg.store.kind {
        StoreKind::Sqlite { path } => Arc::new(SqliteStore::open(path, key.clone())?),
        StoreKind::Postgres(pg) => {
            let store = PgStore::open(pg, key.clone()).await?;
            tracing::info!(url = %pg.display, sslmode = pg.sslmode.as_str(), pool_size = pg.pool_size, "identity store: PostgreSQL");
            for b in &cfg.backends {
                if matches!(b.spec, crate::config::BackendSpec::Local) {
                    tracing::warn!(backend = %b.name, data_dir = %cfg.server.data_dir.display(), "a `local` backend keeps its objects in this replica's data directory: replicas sharing this PostgreSQL store do not share them (docs/operations.md#several-replicas)");
                }
            }
            Arc::new(store)
        }
    };
    Ok((store, key))
}

/// The store for inspection only (no migration, no master key created).
pub async fn open_store_read_only(cfg: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &cfg.store.kind {
        StoreKind::Sqlite { path } => Arc::new(SqliteStore::open_read_only(path)?),
        StoreKind::Postgres(pg) => Arc::new(PgStore::open_read_only(pg).await?),
    })
}

pub async fn build(
    cfg: &Config,
    config_path: &Path,
    config_digest: String,
) -> anyhow::Result<Planes> {
    let (store, key) = open_store(cfg).await?;
    let directory = Arc::new(CachedDirectory::new(Arc::new(StoreDirectory {
        store: store.clone(),
    })));
    let backends = build_backends(cfg).await?;
    let snapshot: SharedSnapshot = Arc::new(ArcSwap::from_pointee(Snapshot {
        config: Arc::new(cfg.clone()),
        routing: Routing::compile(&cfg.routing),
        backends,
        generation: 1,
    }));
    let access = Arc::new(crate::proxy::access::Access::new(directory.clone()));
    let provisioner = Arc::new(crate::provision::Provisioner::new(
        store.clone(),
        snapshot.clone(),
        directory.clone(),
    ));
    provisioner
        .clone()
        .spawn_reconciler(cfg.server.reconcile_interval);
    let reloader = Arc::new(crate::reload::Reloader::new(
        config_path.to_path_buf(),
        config_digest,
        snapshot.clone(),
        store.clone(),
        provisioner.clone(),
    ));
    let watcher = reloader.watch()?;
    reloader.on_sighup()?;
    crate::metrics::global().set_generation(1);
    let config: Arc<dyn crate::osis::hooks::ConfigControl> = reloader.clone();
    let hooks: Arc<dyn ControlHooks> = provisioner.clone();
    let capabilities = match &cfg.osis.capabilities_file {
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .map_err(|e| anyhow::anyhow!("osis.capabilities_file {}: {e}", f.display()))?;
            crate::osis::load_capabilities(&text, &f.display().to_string())
        }
        None => crate::osis::load_capabilities(
            crate::osis::DEFAULT_CAPABILITIES,
            "built-in s3capabilities.json",
        ),
    }?;
    let jwt = cfg.osis.bearer.then(|| {
        key.derive(&format!(
            "osis-jwt:{}:{}",
            cfg.osis.admin_access_key, cfg.osis.admin_secret_key
        ))
    });
    let token_generation = store
        .counter(crate::osis::auth::TOKEN_GENERATION)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let state = Arc::new(OsisState {
        store: store.clone(),
        hooks,
        auth: Authenticator::new(
            cfg.osis.admin_access_key.clone(),
            cfg.osis.admin_secret_key.clone(),
            jwt,
            token_generation,
        ),
        capabilities,
        public_s3_endpoint: cfg.server.public_s3_endpoint.clone(),
        regions: cfg.osis.regions.clone(),
        console_url: cfg.osis.console_url.clone(),
        tls: cfg.server.tls.is_some(),
        reloader: Some(reloader),
    });
    // replicas on a shared store hear each other's changes (issue 15); subscribed before the
    // first request is served, so no change after this point is missed
    if let Some(feed) = store.changes() {
        super::follow::spawn(
            feed,
            super::follow::Followers {
                directory: directory.clone(),
                access: access.clone(),
                osis: state.clone(),
                provisioner,
            },
        );
    }
    Ok(Planes {
        store,
        config,
        osis_router: crate::osis::router(state),
        services: vec![s3_service(snapshot.clone(), directory, access)],
        snapshot,
        watcher,
    })
}

/// The pingora S3 services on `server.s3_listen` (TLS when configured): one shard per
/// `server.s3_threads`, each a single-threaded runtime with its own listening socket
/// (`SO_REUSEPORT`: the kernel spreads new connections over the shards) and its own pool of
/// backend connections. A request is then served start to end on one thread, as nginx's
/// workers serve theirs: with one multi-threaded runtime, pingora's pool hands each released
/// backend connection to a task that another thread may run, and tokio wakes a sibling thread
/// for it (issue 13 measured 0.84 context switches per 4 KiB GET against 0.04 on one thread,
/// and a third more CPU per request; docs/performance.md, fifth session).
fn s3_service(
    snapshot: SharedSnapshot,
    directory: Arc<CachedDirectory>,
    access: Arc<crate::proxy::access::Access>,
) -> super::AddService {
    Box::new(move |server, cfg| {
        let addr = cfg.server.s3_listen;
        // bind once here so a busy port is a clear start-up error, not a panic in a service
        // thread; without SO_REUSEPORT, so a port another process holds with it fails here too
        drop(std::net::TcpListener::bind(addr).map_err(|e| {
            anyhow::anyhow!(
                "cannot listen for S3 on {addr}: {e} (is another Osprey running? change server.s3_listen)"
            )
        })?);
        let gateway = Gateway::new(snapshot, directory, access.clone(), cfg.server.limits);
        let slots = super::guard::connection_slots(cfg.server.limits);
        let shards = cfg.server.s3_threads;
        for shard in 0..shards {
            // the proxy behind Osprey's connection and header limits (server/guard.rs)
            let proxy = pingora::proxy::http_proxy(&server.configuration, gateway.clone());
            let app = super::guard::Guarded::new(proxy, cfg.server.limits, slots.clone());
            let name = if shards == 1 {
                "s3".to_string()
            } else {
                format!("s3-{shard}")
            };
            let mut svc = pingora::services::listening::Service::new(name, app);
            svc.threads = Some(1);
            let listen = shard_address(addr, shard);
            let mut sock = pingora::listeners::TcpSocketOptions::default();
            sock.so_reuseport = Some(shards > 1);
            match &cfg.server.tls {
                None => svc.add_tcp_with_settings(&listen, sock),
                Some(t) => {
                    let tls = pingora::listeners::tls::TlsSettings::intermediate(
                        &t.cert_file.display().to_string(),
                        &t.key_file.display().to_string(),
                    )
                    .map_err(|e| anyhow::anyhow!("S3 TLS certificate/key: {e}"))?;
                    svc.add_tls_with_settings(&listen, Some(sock), tls)
                }
            }
            server.add_service(svc);
        }
        Ok(())
    })
}

/// The listen address of shard `shard`, spelled so that every shard's differs: pingora keeps
/// its listening sockets in a table keyed by the address *as written* (pingora-core
/// `listeners/l4.rs`, `ListenerEndpointBuilder::listen`), and a second service on the same
/// spelling would be handed the first one's socket instead of binding its own. The port gets
/// `shard` leading zeros ("127.0.0.1:9000", "127.0.0.1:09000", …), which parses to the same
/// socket address; each shard's socket then also passes a graceful upgrade under its own key.
fn shard_address(addr: std::net::SocketAddr, shard: usize) -> String {
    let host = match addr {
        std::net::SocketAddr::V4(a) => a.ip().to_string(),
        std::net::SocketAddr::V6(a) => format!("[{}]", a.ip()),
    };
    format!("{host}:{}{}", "0".repeat(shard), addr.port())
}

#[cfg(test)]
mod tests {
    use super::shard_address;

    /// Every shard's spelling differs and all of them name the configured socket address.
    #[test]
    fn shard_addresses_differ_and_parse_to_the_listen_address() {
        for addr in ["127.0.0.1:9000", "[::1]:7480", "0.0.0.0:1"] {
            let a: std::net::SocketAddr = addr.parse().unwrap();
            let spelled: Vec<String> = (0..4).map(|k| shard_address(a, k)).collect();
            assert_eq!(spelled[0], addr);
            for (k, s) in spelled.iter().enumerate() {
                assert_eq!(s.parse::<std::net::SocketAddr>().unwrap(), a, "{s}");
                assert!(!spelled[..k].contains(s), "{s} repeats");
            }
        }
    }
}

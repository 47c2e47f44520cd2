//! Builds the object graph both planes share: identity store, hooks, OSIS router, S3 proxy.

use std::path::Path;
use std::sync::Arc;

use crate::config::internal::StoreKind;
use crate::config::Config;
use crate::osis::hooks::{ControlHooks, StoreHooks};
use crate::osis::{auth::Authenticator, OsisState};
use crate::store::sqlite::SqliteStore;
use crate::store::{MasterKey, Store};

pub struct Planes {
    pub store: Arc<dyn Store>,
    pub osis_router: axum::Router,
    /// pingora services to add (the S3 data plane).
    pub services: Vec<super::AddService>,
}

pub fn open_store(cfg: &Config) -> anyhow::Result<(Arc<SqliteStore>, MasterKey)> {
    let env_key = std::env::var(crate::store::crypto::MASTER_KEY_ENV).ok();
    let key = MasterKey::load_or_create(&cfg.store.master_key_file, env_key.as_deref())?;
    let store = match &cfg.store.kind {
        StoreKind::Sqlite { path } => SqliteStore::open(path, key.clone())?,
    };
    Ok((Arc::new(store), key))
}

pub async fn build(cfg: &Config, _config_path: &Path) -> anyhow::Result<Planes> {
    let (sqlite, key) = open_store(cfg)?;
    let store: Arc<dyn Store> = sqlite;
    let hooks: Arc<dyn ControlHooks> = Arc::new(StoreHooks {
        store: store.clone(),
    });
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
    }
    .map_err(|e| anyhow::anyhow!(e))?;
    let jwt = cfg.osis.bearer.then(|| {
        key.derive(&format!(
            "osis-jwt:{}:{}",
            cfg.osis.admin_access_key, cfg.osis.admin_secret_key
        ))
    });
    let state = Arc::new(OsisState {
        store: store.clone(),
        hooks,
        auth: Authenticator::new(
            cfg.osis.admin_access_key.clone(),
            cfg.osis.admin_secret_key.clone(),
            jwt,
        ),
        capabilities,
        public_s3_endpoint: cfg.server.public_s3_endpoint.clone(),
        regions: cfg.osis.regions.clone(),
        console_url: cfg.osis.console_url.clone(),
        tls: cfg.server.tls.is_some(),
    });
    Ok(Planes {
        store,
        osis_router: crate::osis::router(state),
        services: Vec::new(),
    })
}

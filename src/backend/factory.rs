//! The one place that maps a validated [`BackendSpec`] to its driver. `serve`
//! (`server::wiring`) and hot reload (`reload.rs`) both build backends here, so reload no longer
//! reaches up into `server` (issue 12: the `reload → server::wiring` edge of
//! architecture.md "Dependency direction").

use std::collections::HashMap;
use std::sync::Arc;

use super::ceph_rgw::CephRgwBackend;
use super::iam::IamBackend;
use super::local::LocalBackend;
use super::s3::S3Backend;
use super::{Backend, BackendError};
use crate::config::{BackendConfig, BackendSpec, Config};

/// Instantiate one configured backend (starting the embedded store for a `local` one). A remote
/// endpoint's host name is looked up once here, so a name that does not resolve is reported at
/// start (or rejects the reload that adds it) as before; later lookups follow the name's TTL
/// ([`super::address`]).
pub async fn build_backend(
    cfg: &Config,
    b: &Arc<BackendConfig>,
) -> Result<Arc<dyn Backend>, BackendError> {
    let backend: Arc<dyn Backend> = match &b.spec {
        BackendSpec::Local => {
            let root = cfg.server.data_dir.join("local").join(&b.name);
            Arc::new(LocalBackend::start(b.clone(), &root).await?)
        }
        BackendSpec::S3(spec) => Arc::new(S3Backend::new(b.clone(), spec)),
        BackendSpec::CephRgw(spec) => Arc::new(CephRgwBackend::new(b.clone(), spec)?),
        BackendSpec::Iam(spec) => Arc::new(IamBackend::new(b.clone(), spec)?),
    };
    if let Err(e) = backend.data_path().address.resolve().await {
        // the start-up message as it always read: `backend `{name}`: cannot resolve `{host}`: …`
        return Err(match e {
            BackendError::Unavailable { backend, message } => {
                BackendError::Internal { backend, message }
            }
            other => other,
        });
    }
    Ok(backend)
}

/// Instantiate every configured backend.
pub async fn build_backends(
    cfg: &Config,
) -> Result<HashMap<String, Arc<dyn Backend>>, BackendError> {
    let mut out: HashMap<String, Arc<dyn Backend>> = HashMap::new();
    for b in &cfg.backends {
        out.insert(b.name.clone(), build_backend(cfg, b).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Env, PayloadModes};

    /// issue 12: the `s3`, `ceph-rgw` and `iam` drivers hard-coded `shared_namespace` (true,
    /// false, true) whatever the profile said; now the data path carries the profile's facts.
    #[tokio::test]
    async fn data_path_follows_the_profile() {
        let remote = |name: &str, kind: &str| {
            format!("[[backends]]\nname = \"{name}\"\nkind = \"{kind}\"\nendpoint = \"http://127.0.0.1:1\"\naccess_key = \"AK\"\nsecret_key = \"SK\"\n")
        };
        let text = format!(
            "[osis]\nadmin_access_key = \"a\"\nadmin_secret_key = \"12345678\"\n{}{}{}[routing]\ndefault_table = \"t\"\n[routing.tables.t]\nrules = [ {{ buckets = \"*\", backend = \"gen\" }} ]\n",
            remote("gen", "s3"),
            remote("ceph", "ceph-rgw"),
            remote("vault", "iam"),
        );
        let cfg = Config::from_toml_str(&text, "t.toml", &Env::default()).unwrap();
        for b in &cfg.backends {
            // the built-in profile first, then the same backend with the profile's facts flipped
            let built = build_backend(&cfg, b).await.unwrap();
            assert_eq!(
                built.data_path().shared_namespace,
                b.profile.shared_namespace
            );
            assert_eq!(built.data_path().payload_modes, b.profile.payload_modes);
            let mut changed = (**b).clone();
            changed.profile.shared_namespace = !b.profile.shared_namespace;
            changed.profile.payload_modes = PayloadModes::ALL;
            let built = build_backend(&cfg, &Arc::new(changed)).await.unwrap();
            assert_eq!(
                built.data_path().shared_namespace,
                !b.profile.shared_namespace,
                "{}",
                b.name
            );
            assert_eq!(
                built.data_path().payload_modes,
                PayloadModes::ALL,
                "{}",
                b.name
            );
        }
    }

    /// A host name that does not resolve is still a start-up (or reload) error naming the
    /// backend, with the text operators know.
    #[tokio::test]
    async fn unresolvable_endpoint_fails_the_build() {
        let text = "[osis]\nadmin_access_key = \"a\"\nadmin_secret_key = \"12345678\"\n[[backends]]\nname = \"gen\"\nkind = \"s3\"\nendpoint = \"http://osprey-test.invalid:9000\"\naccess_key = \"AK\"\nsecret_key = \"SK\"\n";
        let cfg = Config::from_toml_str(text, "t.toml", &Env::default()).unwrap();
        let e = build_backend(&cfg, &cfg.backends[0])
            .await
            .err()
            .expect("an .invalid name does not resolve")
            .to_string();
        assert!(
            e.starts_with("backend `gen`: cannot resolve `osprey-test.invalid`: "),
            "{e}"
        );
    }
}

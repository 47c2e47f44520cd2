//! `[[backends]]`: each entry becomes a [`BackendConfig`] whose [`BackendSpec`] variant holds
//! exactly what its kind needs, with its vendor profile resolved (issue 12). The checks run in
//! the order they always did (name, kind, URLs, secret source, kind requirements), so a file
//! with several problems still reports the same first one; the profile is checked last.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::{parse_url, Source};
use crate::config::model::*;
use crate::config::profile::{self, ProfileError};
use crate::config::toml as schema;
use crate::config::ConfigError;

/// Every entry, in file order; at least one.
pub(super) fn backends(
    src: &Source<'_>,
    raw: &[Spanned<schema::BackendSection>],
    env: &Env,
) -> Result<Vec<Arc<BackendConfig>>, ConfigError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut names = HashSet::new();
    for (i, b) in raw.iter().enumerate() {
        out.push(Arc::new(backend(src, i, b.get_ref(), env, &mut names)?));
    }
    if out.is_empty() {
        return src.missing(
            "backends",
            "define at least one [[backends]] entry (e.g. name = \"local\", kind = \"local\")",
        );
    }
    Ok(out)
}

/// One entry (`i` is its index, for the keys in messages; `names` the names seen so far).
fn backend(
    src: &Source<'_>,
    i: usize,
    b: &schema::BackendSection,
    env: &Env,
    names: &mut HashSet<String>,
) -> Result<BackendConfig, ConfigError> {
    let key = |f: &str| format!("backends[{i}].{f}");
    let name = b.name.get_ref();
    if !valid_backend_name(name) {
        return src.err_at(
            &b.name,
            &key("name"),
            format!("`{name}`: backend names are 1-{MAX_BACKEND_NAME_LEN} of [a-z0-9-], not starting with '-'"),
        );
    }
    if !names.insert(name.clone()) {
        return src.err_at(
            &b.name,
            &key("name"),
            format!("backend `{name}` is defined twice"),
        );
    }
    let Some(kind) = BackendKind::parse(b.kind.get_ref()) else {
        return src.err_at(
            &b.kind,
            &key("kind"),
            format!(
                "unknown backend kind `{}`; supported: local, s3, ceph-rgw, iam",
                b.kind.get_ref()
            ),
        );
    };
    let endpoint = b
        .endpoint
        .as_ref()
        .map(|e| parse_url(src, e, &key("endpoint")))
        .transpose()?;
    // checked for every kind (as always), used by `iam` only
    let iam_endpoint = b
        .iam_endpoint
        .as_ref()
        .map(|e| parse_url(src, e, &key("iam_endpoint")))
        .transpose()?;
    let secret = secret(src, i, b, env)?;
    let spec = match kind {
        BackendKind::Local => {
            if let Some(e) = &b.endpoint {
                return src.err_at(
                    e,
                    &key("endpoint"),
                    "a `local` backend is in-process and takes no endpoint",
                );
            }
            BackendSpec::Local
        }
        BackendKind::S3 | BackendKind::CephRgw | BackendKind::Iam => {
            let Some(endpoint) = endpoint else {
                return src.err_at(
                    &b.kind,
                    &key("endpoint"),
                    format!("a `{}` backend needs `endpoint`", kind.as_str()),
                );
            };
            let access_key = b.access_key.as_ref().map(|a| a.get_ref().as_str());
            let (Some(access_key), Some(secret_key)) =
                (access_key.filter(|a| !a.is_empty()), secret)
            else {
                return src.err_at(
                    &b.kind,
                    &key("access_key"),
                    format!(
                        "a `{}` backend needs `access_key` and a secret (secret_key, secret_key_env or secret_key_file)",
                        kind.as_str()
                    ),
                );
            };
            let credentials = ServiceCredentials {
                access_key: access_key.to_string(),
                secret_key,
            };
            match kind {
                BackendKind::S3 => BackendSpec::S3(S3Spec {
                    endpoint,
                    service: credentials,
                }),
                BackendKind::CephRgw => BackendSpec::CephRgw(CephRgwSpec {
                    endpoint,
                    admin: credentials,
                }),
                _ => BackendSpec::Iam(IamSpec {
                    iam_endpoint: iam_endpoint.unwrap_or_else(|| endpoint.clone()),
                    endpoint,
                    admin: credentials,
                }),
            }
        }
    };
    Ok(BackendConfig {
        name: name.clone(),
        region: b.region.clone().unwrap_or_else(|| "us-east-1".into()),
        timeout: b
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_BACKEND_TIMEOUT),
        profile: backend_profile(src, &key("profile"), b.profile.as_ref(), kind)?,
        spec,
    })
}

/// The secret from whichever single source names it; `None` when none does. Sources are read
/// for every kind (an unset `secret_key_env` is an error even on `local`, as always). Under
/// `--no-secrets` a named variable or file is not read: a placeholder stands for it.
fn secret(
    src: &Source<'_>,
    i: usize,
    b: &schema::BackendSection,
    env: &Env,
) -> Result<Option<Secret>, ConfigError> {
    let key = |f: &str| format!("backends[{i}].{f}");
    let sources = [
        b.secret_key.is_some(),
        b.secret_key_env.is_some(),
        b.secret_key_file.is_some(),
    ];
    if sources.iter().filter(|x| **x).count() > 1 {
        return src.err_at(
            &b.name,
            &key("secret_key"),
            "give at most one of secret_key, secret_key_env, secret_key_file",
        );
    }
    if let Some(s) = &b.secret_key {
        // an empty inline secret counts as none, except under --no-secrets (as always)
        return Ok((!s.get_ref().is_empty() || env.skip_secrets).then(|| Secret::new(s.get_ref())));
    }
    if let Some(var) = &b.secret_key_env {
        if env.skip_secrets {
            return Ok(Some(Secret::new(format!("<from ${}>", var.get_ref()))));
        }
        return match env.vars.get(var.get_ref()) {
            Some(v) if !v.is_empty() => Ok(Some(Secret::new(v.clone()))),
            _ => src.err_at(
                var,
                &key("secret_key_env"),
                format!("environment variable `{}` is not set", var.get_ref()),
            ),
        };
    }
    if let Some(f) = &b.secret_key_file {
        if env.skip_secrets {
            return Ok(Some(Secret::new(format!("<from {}>", f.get_ref()))));
        }
        return match std::fs::read_to_string(f.get_ref()) {
            Ok(t) => match t.lines().next().map(str::trim) {
                Some(l) if !l.is_empty() => Ok(Some(Secret::new(l))),
                _ => src.err_at(
                    f,
                    &key("secret_key_file"),
                    format!("`{}` is empty", f.get_ref()),
                ),
            },
            Err(e) => src.err_at(
                f,
                &key("secret_key_file"),
                format!("cannot read `{}`: {e}", f.get_ref()),
            ),
        };
    }
    Ok(None)
}

/// `profile =` (default: the kind's own profile), which must exist and describe this kind.
fn backend_profile(
    src: &Source<'_>,
    key: &str,
    named: Option<&Spanned<String>>,
    kind: BackendKind,
) -> Result<Profile, ConfigError> {
    let Some(p) = named else {
        // every kind has a built-in profile of its name (config::profile tests)
        return profile::load(kind.as_str()).map_err(|e| ConfigError::Internal(e.to_string()));
    };
    match profile::load(p.get_ref()) {
        Ok(profile) if profile.kind == kind => Ok(profile),
        Ok(profile) => src.err_at(
            p,
            key,
            format!(
                "profile `{}` is for `{}` backends, not `{}`; remove `profile` or name a profile of kind `{}`",
                profile.name,
                profile.kind.as_str(),
                kind.as_str(),
                kind.as_str()
            ),
        ),
        Err(e @ ProfileError::Unknown { .. }) => src.err_at(p, key, e.to_string()),
        Err(e @ ProfileError::Invalid { .. }) => Err(ConfigError::Internal(e.to_string())),
    }
}

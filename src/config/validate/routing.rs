//! `[routing]`: tables of rules naming defined backends, each ending with the catch-all, and
//! tenant assignments naming defined tables. Without the section, a single backend takes every
//! bucket; with several, the section is required.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use toml::Spanned;

use super::Source;
use crate::config::model::*;
use crate::config::toml as schema;
use crate::config::ConfigError;

pub(super) fn routing(
    src: &Source<'_>,
    raw: Option<&Spanned<schema::RoutingSection>>,
    backends: &[Arc<BackendConfig>],
) -> Result<RoutingConfig, ConfigError> {
    let names: HashSet<String> = backends.iter().map(|b| b.name.clone()).collect();
    match (raw, backends) {
        (Some(r), _) => tables_and_tenants(src, r, &names),
        // One backend and no routing section: everything goes there.
        (None, [only]) => Ok(RoutingConfig {
            default_table: "default".into(),
            tables: BTreeMap::from([(
                "default".to_string(),
                TableConfig {
                    namespace: Namespace::Tenant,
                    rules: vec![RuleConfig {
                        buckets: "*".into(),
                        backend: only.name.clone(),
                    }],
                },
            )]),
            tenants: Vec::new(),
        }),
        (None, _) => src.missing(
            "routing",
            "with several backends, a [routing] section must say where buckets go",
        ),
    }
}

fn tables_and_tenants(
    src: &Source<'_>,
    r: &Spanned<schema::RoutingSection>,
    backends: &HashSet<String>,
) -> Result<RoutingConfig, ConfigError> {
    let r = r.get_ref();
    let mut tables = BTreeMap::new();
    for (tname, t) in &r.tables {
        if t.get_ref().rules.is_empty() {
            return src.err_at(
                t,
                &format!("routing.tables.{tname}.rules"),
                "a table needs at least one rule",
            );
        }
        let mut rules = Vec::new();
        for (i, rule) in t.get_ref().rules.iter().enumerate() {
            let rule = rule.get_ref();
            let key = format!("routing.tables.{tname}.rules[{i}]");
            if !backends.contains(rule.backend.get_ref()) {
                let mut known: Vec<_> = backends.iter().cloned().collect();
                known.sort();
                return src.err_at(
                    &rule.backend,
                    &format!("{key}.backend"),
                    format!(
                        "unknown backend `{}`; defined backends: {}",
                        rule.backend.get_ref(),
                        known.join(", ")
                    ),
                );
            }
            let pat = rule.buckets.get_ref();
            if pat.is_empty()
                || !pat
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.*".contains(&b))
            {
                return src.err_at(
                    &rule.buckets,
                    &format!("{key}.buckets"),
                    format!(
                        "`{pat}`: a bucket pattern is bucket-name characters [a-z0-9.-] and `*`"
                    ),
                );
            }
            rules.push(RuleConfig {
                buckets: pat.clone(),
                backend: rule.backend.get_ref().clone(),
            });
        }
        // A table whose last rule is not a catch-all would make CreateBucket fail for some names.
        if rules.last().map(|r| r.buckets.as_str()) != Some("*") {
            return src.err_at(
                t,
                &format!("routing.tables.{tname}.rules"),
                "the last rule of a table must be the catch-all `buckets = \"*\"` so every bucket name has a backend",
            );
        }
        let namespace = match t.get_ref().namespace {
            Some(schema::NamespaceSection::Global) => Namespace::Global,
            Some(schema::NamespaceSection::Tenant) | None => Namespace::Tenant,
        };
        tables.insert(tname.clone(), TableConfig { namespace, rules });
    }
    if !tables.contains_key(r.default_table.get_ref()) {
        return src.err_at(
            &r.default_table,
            "routing.default_table",
            format!(
                "no table named `{}` under [routing.tables]",
                r.default_table.get_ref()
            ),
        );
    }
    let mut tenants = Vec::new();
    for (i, a) in r.tenants.iter().enumerate() {
        let a = a.get_ref();
        let key = format!("routing.tenants[{i}]");
        if !tables.contains_key(a.table.get_ref()) {
            return src.err_at(
                &a.table,
                &format!("{key}.table"),
                format!("no table named `{}`", a.table.get_ref()),
            );
        }
        let m = &a.matcher;
        if m.cd_tenant_id.is_none() && m.tenant_name.is_none() && m.tenant_id.is_none() {
            return src.err_at(
                &a.table,
                &format!("{key}.match"),
                "match needs cd_tenant_id, tenant_name or tenant_id",
            );
        }
        tenants.push(TenantAssignmentConfig {
            cd_tenant_id: m.cd_tenant_id.as_ref().map(|v| v.get_ref().clone()),
            tenant_name: m.tenant_name.as_ref().map(|v| v.get_ref().clone()),
            tenant_id: m.tenant_id.as_ref().map(|v| v.get_ref().clone()),
            table: a.table.get_ref().clone(),
        });
    }
    Ok(RoutingConfig {
        default_table: r.default_table.get_ref().clone(),
        tables,
        tenants,
    })
}

//! `osprey explain-route`: the routing decision for a (tenant, bucket), and today's placement.

use std::path::Path;

use crate::routing::{Routing, TableChoice, TenantKey};
use crate::store::{Paging, Term};

pub fn explain_route(config: &Path, tenant: &str, bucket: &str) -> anyhow::Result<String> {
    let cfg = crate::config::load(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let store = super::wiring::open_store_read_only(&cfg).await?;
        // by tenant id, then Cloud Director org id, then name
        let mut found = store.tenant(tenant).await?;
        if found.is_none() {
            found = store
                .tenants(&[Term::CdTenantId(tenant.into())], Paging { offset: 0, limit: 2 })
                .await?
                .items
                .into_iter()
                .next();
        }
        if found.is_none() {
            let by_name = store
                .tenants(&[Term::TenantName(tenant.into())], Paging { offset: 0, limit: 2 })
                .await?;
            if by_name.total > 1 {
                anyhow::bail!("{} tenants are named `{tenant}`; give the tenant id", by_name.total);
            }
            found = by_name.items.into_iter().next();
        }
        let t = found.ok_or_else(|| {
            anyhow::anyhow!("no tenant with id, Cloud Director org id or name `{tenant}`")
        })?;
        let routing = Routing::compile(&cfg.routing);
        let (table, choice) = routing.table_for(TenantKey {
            tenant_id: &t.tenant_id,
            tenant_name: &t.name,
            cd_tenant_ids: &t.cd_tenant_ids,
        });
        let mut out = format!(
            "tenant     {} (name `{}`, cd_tenant_ids {:?})\ntable      {} ({})\n",
            t.tenant_id,
            t.name,
            t.cd_tenant_ids,
            table.name,
            match choice {
                TableChoice::Default => "default table".to_string(),
                TableChoice::Assignment { index, by } =>
                    format!("routing.tenants[{index}] matched by {by}"),
            }
        );
        match table.rule_for(bucket) {
            Some((i, r)) => out.push_str(&format!(
                "rule       #{i}: buckets = \"{}\" -> backend `{}`\n",
                r.buckets.as_str(),
                r.backend
            )),
            None => out.push_str("rule       none matches: CreateBucket would be refused\n"),
        }
        match store.placement(&t.tenant_id, bucket).await? {
            Some(p) => out.push_str(&format!(
                "placement  exists: backend `{}`, backend bucket `{}`, owner {}, created {} (requests follow this, whatever the rules say now)",
                p.backend,
                p.backend_bucket,
                p.owner_user_id,
                p.created_at.to_rfc3339()
            )),
            None => out.push_str("placement  none (the bucket does not exist yet)"),
        }
        Ok(out)
    })
}

//! Routing cost: tenant → table lookup with 100 000 tenants, and compiling (reloading) a
//! 100 000-tenant routing file. Run: `cargo bench --bench routing`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use osprey::config::{Config, Env};
use osprey::routing::{Routing, TenantKey};

const TENANTS: usize = 100_000;

fn routing_file(tenants: usize) -> String {
    let mut s = String::with_capacity(tenants * 80 + 1024);
    s.push_str("[osis]\nadmin_access_key = \"a\"\nadmin_secret_key = \"12345678\"\n");
    s.push_str("[[backends]]\nname = \"ceph\"\nkind = \"local\"\n[[backends]]\nname = \"cold\"\nkind = \"local\"\n");
    s.push_str("[routing]\ndefault_table = \"standard\"\n");
    s.push_str("[routing.tables.standard]\nrules = [ { buckets = \"*\", backend = \"ceph\" } ]\n");
    s.push_str("[routing.tables.archive]\nrules = [ { buckets = \"archive-*\", backend = \"cold\" }, { buckets = \"*\", backend = \"ceph\" } ]\n");
    for i in 0..tenants {
        let table = if i % 2 == 0 { "archive" } else { "standard" };
        s.push_str(&format!("[[routing.tenants]]\nmatch = {{ cd_tenant_id = \"org-{i:06}\" }}\ntable = \"{table}\"\n"));
    }
    // a few pattern assignments after the exact ones, as providers write them
    s.push_str("[[routing.tenants]]\nmatch = { tenant_name = \"acme-*\" }\ntable = \"archive\"\n");
    s
}

fn bench(c: &mut Criterion) {
    let text = routing_file(TENANTS);
    let config =
        Config::from_toml_str(&text, "bench.toml", &Env::default()).expect("valid bench config");
    let routing = Routing::compile(&config.routing);
    let cds: Vec<Vec<String>> = (0..1024)
        .map(|i| vec![format!("org-{:06}", (i * 97) % TENANTS)])
        .collect();

    c.bench_function(
        "route lookup, 100k tenants (exact cd_tenant_id + rule)",
        |b| {
            let mut i = 0usize;
            b.iter(|| {
                i = (i + 1) % cds.len();
                let (table, _) = routing.table_for(TenantKey {
                    tenant_id: "t0",
                    tenant_name: "x",
                    cd_tenant_ids: &cds[i],
                });
                black_box(table.rule_for(black_box("archive-2026")))
            })
        },
    );
    c.bench_function(
        "route lookup, 100k tenants (falls through to pattern)",
        |b| {
            b.iter(|| {
                black_box(routing.table_for(TenantKey {
                    tenant_id: "t0",
                    tenant_name: "acme-corp",
                    cd_tenant_ids: &[],
                }))
            })
        },
    );
    let mut group = c.benchmark_group("reload");
    group.sample_size(10);
    group.bench_function("parse + validate + compile a 100k-tenant file", |b| {
        b.iter(|| {
            let c = Config::from_toml_str(black_box(&text), "bench.toml", &Env::default())
                .expect("valid");
            black_box(Routing::compile(&c.routing))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Routing tables compiled from the validated config into an indexed, immutable form.
//!
//! A tenant's table is found in O(1) for exact matches (Cloud Director org id, tenant id, tenant
//! name: hash maps), then through the ordered list of pattern assignments, then the default table.
//! Within a table the first rule whose bucket pattern matches wins; validation guarantees the last
//! rule is the catch-all, so every bucket name has a backend.
//!
//! Rules only decide where a *new* bucket goes. Existing buckets follow their recorded placement, so a
//! rule change never moves or strands data (architecture.md §5).

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::model::RoutingConfig;

/// A bucket-name or tenant pattern: literal text with `*` wildcards.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    parts: Vec<String>,
}

impl Pattern {
    pub fn new(text: &str) -> Pattern {
        Pattern {
            text: text.to_string(),
            parts: text.split('*').map(str::to_string).collect(),
        }
    }

    pub fn is_literal(&self) -> bool {
        self.parts.len() == 1
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Glob match with `*` = any run of characters (iterative, no backtracking blow-up:
    /// greedy-leftmost matching of the literal parts is exact for single-wildcard-kind globs).
    pub fn matches(&self, s: &str) -> bool {
        let n = self.parts.len();
        if n == 1 {
            return self.parts[0] == s;
        }
        let first = &self.parts[0];
        let last = &self.parts[n - 1];
        if s.len() < first.len() + last.len()
            || !s.starts_with(first.as_str())
            || !s.ends_with(last.as_str())
        {
            return false;
        }
        let mut rest = &s[first.len()..s.len() - last.len()];
        for mid in &self.parts[1..n - 1] {
            match rest.find(mid.as_str()) {
                Some(i) => rest = &rest[i + mid.len()..],
                None => return false,
            }
        }
        true
    }
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub buckets: Pattern,
    pub backend: Arc<str>,
}

#[derive(Debug)]
pub struct Table {
    pub name: Arc<str>,
    pub namespace: crate::config::Namespace,
    pub rules: Vec<Rule>,
}

impl Table {
    /// The first rule matching `bucket` (index and rule).
    pub fn rule_for(&self, bucket: &str) -> Option<(usize, &Rule)> {
        self.rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.buckets.matches(bucket))
    }

    /// Every backend this table can place buckets on, in rule order, without repeats.
    pub fn backends(&self) -> Vec<Arc<str>> {
        let mut out: Vec<Arc<str>> = Vec::new();
        for r in &self.rules {
            if !out.contains(&r.backend) {
                out.push(r.backend.clone());
            }
        }
        out
    }
}

/// What identifies a tenant to the router.
#[derive(Debug, Clone, Copy)]
pub struct TenantKey<'a> {
    pub tenant_id: &'a str,
    pub tenant_name: &'a str,
    pub cd_tenant_ids: &'a [String],
}

/// Why a tenant got the table it got (for `explain-route` and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableChoice {
    Assignment { index: usize, by: &'static str },
    Default,
}

#[derive(Debug)]
struct PatternAssignment {
    index: usize,
    cd_tenant_id: Option<Pattern>,
    tenant_name: Option<Pattern>,
    tenant_id: Option<Pattern>,
    table: usize,
}

#[derive(Debug)]
pub struct Routing {
    tables: Vec<Arc<Table>>,
    default_table: usize,
    by_cd_tenant_id: HashMap<String, (usize, usize)>,
    by_tenant_id: HashMap<String, (usize, usize)>,
    by_tenant_name: HashMap<String, (usize, usize)>,
    patterns: Vec<PatternAssignment>,
}

impl Routing {
    pub fn compile(cfg: &RoutingConfig) -> Routing {
        let mut tables = Vec::with_capacity(cfg.tables.len());
        let mut index = HashMap::new();
        for (name, t) in &cfg.tables {
            index.insert(name.as_str(), tables.len());
            tables.push(Arc::new(Table {
                name: Arc::from(name.as_str()),
                namespace: t.namespace,
                rules: t
                    .rules
                    .iter()
                    .map(|r| Rule {
                        buckets: Pattern::new(&r.buckets),
                        backend: Arc::from(r.backend.as_str()),
                    })
                    .collect(),
            }));
        }
        // validated config: these lookups cannot fail; fall back to table 0 defensively
        let default_table = index.get(cfg.default_table.as_str()).copied().unwrap_or(0);
        let mut r = Routing {
            tables,
            default_table,
            by_cd_tenant_id: HashMap::new(),
            by_tenant_id: HashMap::new(),
            by_tenant_name: HashMap::new(),
            patterns: Vec::new(),
        };
        for (i, a) in cfg.tenants.iter().enumerate() {
            let table = index
                .get(a.table.as_str())
                .copied()
                .unwrap_or(default_table);
            let fields = [&a.cd_tenant_id, &a.tenant_name, &a.tenant_id];
            let single_literal = fields.iter().filter(|f| f.is_some()).count() == 1
                && fields
                    .iter()
                    .filter_map(|f| f.as_ref())
                    .all(|v| !v.contains('*'));
            if single_literal {
                // first assignment wins, as in the ordered list
                if let Some(v) = &a.cd_tenant_id {
                    r.by_cd_tenant_id.entry(v.clone()).or_insert((i, table));
                } else if let Some(v) = &a.tenant_name {
                    r.by_tenant_name.entry(v.clone()).or_insert((i, table));
                } else if let Some(v) = &a.tenant_id {
                    r.by_tenant_id.entry(v.clone()).or_insert((i, table));
                }
            } else {
                r.patterns.push(PatternAssignment {
                    index: i,
                    cd_tenant_id: a.cd_tenant_id.as_deref().map(Pattern::new),
                    tenant_name: a.tenant_name.as_deref().map(Pattern::new),
                    tenant_id: a.tenant_id.as_deref().map(Pattern::new),
                    table,
                });
            }
        }
        r
    }

    /// The table for a tenant and why. Exact assignments are O(1); the earliest matching assignment
    /// (exact or pattern, by position in the file) wins.
    pub fn table_for(&self, t: TenantKey<'_>) -> (&Arc<Table>, TableChoice) {
        let mut best: Option<(usize, usize, &'static str)> = None;
        let mut consider = |hit: Option<&(usize, usize)>, by: &'static str| {
            if let Some(&(i, table)) = hit {
                if best.map(|(bi, _, _)| i < bi).unwrap_or(true) {
                    best = Some((i, table, by));
                }
            }
        };
        for cd in t.cd_tenant_ids {
            consider(self.by_cd_tenant_id.get(cd), "cd_tenant_id");
        }
        consider(self.by_tenant_id.get(t.tenant_id), "tenant_id");
        consider(self.by_tenant_name.get(t.tenant_name), "tenant_name");
        for p in &self.patterns {
            if best.map(|(bi, _, _)| p.index > bi).unwrap_or(false) {
                break;
            }
            let m =
                |pat: &Option<Pattern>, v: &str| pat.as_ref().map(|p| p.matches(v)).unwrap_or(true);
            let cd_ok = match &p.cd_tenant_id {
                None => true,
                Some(pat) => t.cd_tenant_ids.iter().any(|c| pat.matches(c)),
            };
            if cd_ok && m(&p.tenant_name, t.tenant_name) && m(&p.tenant_id, t.tenant_id) {
                best = Some((p.index, p.table, "pattern"));
                break;
            }
        }
        match best {
            Some((index, table, by)) => {
                (&self.tables[table], TableChoice::Assignment { index, by })
            }
            None => (&self.tables[self.default_table], TableChoice::Default),
        }
    }

    pub fn tables(&self) -> &[Arc<Table>] {
        &self.tables
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{Namespace, RuleConfig, TableConfig, TenantAssignmentConfig};
    use std::collections::BTreeMap;

    #[test]
    fn patterns() {
        let p = Pattern::new("archive-*");
        assert!(p.matches("archive-2024") && p.matches("archive-") && !p.matches("archiv"));
        assert!(Pattern::new("*").matches(""));
        let p = Pattern::new("a*b*c");
        assert!(p.matches("abc") && p.matches("aXbYc") && !p.matches("acb") && !p.matches("ab"));
        assert!(Pattern::new("x").matches("x") && !Pattern::new("x").matches("xx"));
    }

    fn cfg() -> RoutingConfig {
        let rule = |b: &str, be: &str| RuleConfig {
            buckets: b.into(),
            backend: be.into(),
        };
        let assign = |cd: Option<&str>, name: Option<&str>, table: &str| TenantAssignmentConfig {
            cd_tenant_id: cd.map(Into::into),
            tenant_name: name.map(Into::into),
            tenant_id: None,
            table: table.into(),
        };
        RoutingConfig {
            default_table: "standard".into(),
            tables: BTreeMap::from([
                (
                    "standard".into(),
                    TableConfig {
                        namespace: Namespace::Tenant,
                        rules: vec![rule("*", "ceph")],
                    },
                ),
                (
                    "archive".into(),
                    TableConfig {
                        namespace: Namespace::Global,
                        rules: vec![rule("archive-*", "cold"), rule("*", "ceph")],
                    },
                ),
            ]),
            tenants: vec![
                assign(Some("org-1"), None, "archive"),
                assign(None, Some("acme*"), "archive"),
            ],
        }
    }

    #[test]
    fn tenant_tables_and_rules() {
        let r = Routing::compile(&cfg());
        let cds = vec!["org-1".to_string()];
        let (t, why) = r.table_for(TenantKey {
            tenant_id: "t1",
            tenant_name: "x",
            cd_tenant_ids: &cds,
        });
        assert_eq!(&*t.name, "archive");
        assert_eq!(
            why,
            TableChoice::Assignment {
                index: 0,
                by: "cd_tenant_id"
            }
        );
        assert_eq!(&*t.rule_for("archive-1").unwrap().1.backend, "cold");
        assert_eq!(&*t.rule_for("photos").unwrap().1.backend, "ceph");
        let (t, why) = r.table_for(TenantKey {
            tenant_id: "t2",
            tenant_name: "acme-corp",
            cd_tenant_ids: &[],
        });
        assert_eq!(
            (&*t.name, why),
            (
                "archive",
                TableChoice::Assignment {
                    index: 1,
                    by: "pattern"
                }
            )
        );
        let (t, why) = r.table_for(TenantKey {
            tenant_id: "t3",
            tenant_name: "other",
            cd_tenant_ids: &[],
        });
        assert_eq!((&*t.name, why), ("standard", TableChoice::Default));
        assert_eq!(r.tables().len(), 2);
    }
}

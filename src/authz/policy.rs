//! Bucket policies (issue 11): parsed once when set, kept beside the JSON the client sent (which
//! GetBucketPolicy returns as is), and evaluated per request.
//!
//! The subset is the one buckets use in practice (IAM JSON policy reference): `Effect`,
//! `Principal`/`NotPrincipal` (`*`, canonical ids, IAM user/root ARNs), `Action`/`NotAction` and
//! `Resource`/`NotResource` with `*`/`?` wildcards, and `Condition` with the String, Numeric,
//! Bool, Null, IpAddress/NotIpAddress and Arn operators (`…IfExists` too) over the keys
//! [`RequestContext::value`] knows. An operator outside the subset is refused when the policy is
//! set (MalformedPolicy), never silently ignored; an unknown key is absent, as AWS treats a key a
//! request does not carry.

use std::borrow::Cow;
use std::net::IpAddr;

use serde_json::Value;

use super::{AuthzError, Requester};

/// Largest policy document accepted. Default 20 KiB, AWS's limit for bucket policies; stops a
/// client from making every request on the bucket evaluate an unbounded document.
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

/// Most statements in one policy. Default 100; with [`MAX_POLICY_BYTES`] bounds the work one
/// request's evaluation does.
pub const MAX_STATEMENTS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone)]
struct Matcher {
    negated: bool,
    patterns: Vec<String>,
}

#[derive(Debug, Clone)]
enum Principals {
    /// `Principal` (negated: `NotPrincipal`).
    Of { negated: bool, ids: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    Bool,
    IpAddress,
    NotIpAddress,
    Null,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "StringEquals" | "ArnEquals" => Op::StringEquals,
            "StringNotEquals" | "ArnNotEquals" => Op::StringNotEquals,
            "StringEqualsIgnoreCase" => Op::StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => Op::StringNotEqualsIgnoreCase,
            "StringLike" | "ArnLike" => Op::StringLike,
            "StringNotLike" | "ArnNotLike" => Op::StringNotLike,
            "NumericEquals" => Op::NumericEquals,
            "NumericNotEquals" => Op::NumericNotEquals,
            "NumericLessThan" => Op::NumericLessThan,
            "NumericLessThanEquals" => Op::NumericLessThanEquals,
            "NumericGreaterThan" => Op::NumericGreaterThan,
            "NumericGreaterThanEquals" => Op::NumericGreaterThanEquals,
            "Bool" => Op::Bool,
            "IpAddress" => Op::IpAddress,
            "NotIpAddress" => Op::NotIpAddress,
            "Null" => Op::Null,
            _ => return None,
        })
    }

    /// Negated operators hold when the key is absent (IAM reference, "Condition operators").
    fn negated(self) -> bool {
        matches!(
            self,
            Op::StringNotEquals
                | Op::StringNotEqualsIgnoreCase
                | Op::StringNotLike
                | Op::NumericNotEquals
                | Op::NotIpAddress
        )
    }
}

#[derive(Debug, Clone)]
struct Condition {
    op: Op,
    if_exists: bool,
    /// lower-cased key (condition keys are case-insensitive)
    key: String,
    values: Vec<String>,
    nets: Vec<ipnet::IpNet>,
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    principals: Principals,
    actions: Matcher,
    resources: Matcher,
    conditions: Vec<Condition>,
}

/// A stored bucket policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The document as the client sent it (GetBucketPolicy's answer).
    pub text: String,
    statements: Vec<Statement>,
}

/// What a request looks like to conditions: the keys of IAM's global and S3's condition-key
/// tables that Osprey can answer.
pub struct RequestContext<'a> {
    pub source_ip: Option<IpAddr>,
    pub secure: bool,
    pub headers: &'a http::HeaderMap,
    pub query: &'a [(String, String)],
    /// The object's tags, read only when a policy condition names `s3:ExistingObjectTag/…`.
    pub object_tags: Option<&'a [(String, String)]>,
}

impl RequestContext<'_> {
    /// The value of a (lower-cased) condition key, `None` when the request has none.
    pub fn value<'s>(&'s self, key: &str, who: &'s Requester<'_>) -> Option<Cow<'s, str>> {
        let header = |name: &str| {
            self.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(Cow::Borrowed)
        };
        let query = |name: &str| {
            self.query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| Cow::Borrowed(v.as_str()))
        };
        match key {
            "aws:sourceip" => self.source_ip.map(|ip| Cow::Owned(ip.to_string())),
            "aws:securetransport" => {
                Some(Cow::Borrowed(if self.secure { "true" } else { "false" }))
            }
            "aws:referer" => header("referer"),
            "aws:useragent" => header("user-agent"),
            "aws:username" => who.user().map(|u| Cow::Borrowed(u.username)),
            "aws:userid" => who.user().map(|u| Cow::Borrowed(u.canonical_id)),
            "aws:principaltype" => Some(Cow::Borrowed(if who.user().is_some() {
                "User"
            } else {
                "Anonymous"
            })),
            k if k.starts_with("s3:existingobjecttag/") => {
                let tag = &k["s3:existingobjecttag/".len()..];
                self.object_tags?
                    .iter()
                    .find(|(t, _)| t.eq_ignore_ascii_case(tag))
                    .map(|(_, v)| Cow::Borrowed(v.as_str()))
            }
            "s3:prefix" => query("prefix"),
            "s3:delimiter" => query("delimiter"),
            "s3:max-keys" => query("max-keys"),
            "s3:versionid" => query("versionId"),
            "s3:x-amz-acl"
            | "s3:x-amz-copy-source"
            | "s3:x-amz-server-side-encryption"
            | "s3:x-amz-metadata-directive"
            | "s3:x-amz-storage-class"
            | "s3:x-amz-content-sha256"
            | "s3:x-amz-grant-read"
            | "s3:x-amz-grant-write"
            | "s3:x-amz-grant-read-acp"
            | "s3:x-amz-grant-write-acp"
            | "s3:x-amz-grant-full-control" => header(&key[3..]),
            _ => None,
        }
    }
}

/// What a policy says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
    /// No statement applies.
    None,
}

impl Policy {
    /// Parse and check a PutBucketPolicy document for `bucket` (`arn:aws:s3:::bucket…`
    /// resources only, as AWS requires of a bucket policy).
    pub fn parse(text: &str, bucket: &str) -> Result<Policy, AuthzError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(malformed(format!(
                "the policy is larger than {MAX_POLICY_BYTES} bytes"
            )));
        }
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| malformed(format!("the policy is not JSON: {e}")))?;
        let obj = doc
            .as_object()
            .ok_or_else(|| malformed("the policy is not a JSON object".into()))?;
        if let Some(v) = obj.get("Version") {
            match v.as_str() {
                Some("2012-10-17") | Some("2008-10-17") => {}
                _ => return Err(malformed("Version must be 2012-10-17 or 2008-10-17".into())),
            }
        }
        let raw = match obj.get("Statement") {
            Some(Value::Array(a)) => a.clone(),
            Some(o @ Value::Object(_)) => vec![o.clone()],
            _ => return Err(malformed("missing required field Statement".into())),
        };
        if raw.is_empty() {
            return Err(malformed("Statement is empty".into()));
        }
        if raw.len() > MAX_STATEMENTS {
            return Err(malformed(format!("more than {MAX_STATEMENTS} statements")));
        }
        let statements = raw
            .iter()
            .map(|s| statement(s, bucket))
            .collect::<Result<_, _>>()?;
        Ok(Policy {
            text: text.to_string(),
            statements,
        })
    }

    /// Explicit deny wins, then allow (IAM reference, "Policy evaluation logic").
    pub fn evaluate(
        &self,
        who: &Requester<'_>,
        action: &str,
        resource: &str,
        ctx: &RequestContext<'_>,
    ) -> Verdict {
        let mut allowed = false;
        for s in &self.statements {
            if !s.applies(who, action, resource, ctx) {
                continue;
            }
            match s.effect {
                Effect::Deny => return Verdict::Deny,
                Effect::Allow => allowed = true,
            }
        }
        if allowed {
            Verdict::Allow
        } else {
            Verdict::None
        }
    }

    /// Some condition reads the object's tags (`s3:ExistingObjectTag/<key>`): the request's
    /// evaluation needs them.
    pub fn uses_object_tags(&self) -> bool {
        self.statements.iter().any(|s| {
            s.conditions
                .iter()
                .any(|c| c.key.starts_with("s3:existingobjecttag/"))
        })
    }

    /// PolicyStatus's IsPublic (S3 user guide, "The meaning of public"): an Allow for every
    /// principal that no condition narrows to fixed source addresses or principals.
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && matches!(&s.principals, Principals::Of { negated: false, ids } if ids.iter().any(|i| i == "*"))
                && !s.conditions.iter().any(|c| {
                    matches!(c.op, Op::IpAddress)
                        || (matches!(c.op, Op::StringEquals)
                            && matches!(c.key.as_str(), "aws:userid" | "aws:username"))
                })
        })
    }
}

fn malformed(msg: String) -> AuthzError {
    AuthzError::MalformedPolicy(msg)
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, AuthzError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                Value::Bool(b) => Ok(b.to_string()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(malformed(format!(
                    "{what} holds a value that is not a string"
                ))),
            })
            .collect(),
        Value::Bool(b) => Ok(vec![b.to_string()]),
        Value::Number(n) => Ok(vec![n.to_string()]),
        _ => Err(malformed(format!("{what} is not a string or a list"))),
    }
}

fn statement(v: &Value, bucket: &str) -> Result<Statement, AuthzError> {
    let o = v
        .as_object()
        .ok_or_else(|| malformed("a Statement is not an object".into()))?;
    for k in o.keys() {
        if !matches!(
            k.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(malformed(format!("unknown field {k} in a Statement")));
        }
    }
    let effect = match o.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err(malformed("Effect must be Allow or Deny".into())),
    };
    let principals = match (o.get("Principal"), o.get("NotPrincipal")) {
        (Some(p), None) => Principals::Of {
            negated: false,
            ids: principal_ids(p)?,
        },
        (None, Some(p)) => Principals::Of {
            negated: true,
            ids: principal_ids(p)?,
        },
        _ => {
            return Err(malformed(
                "a Statement needs exactly one of Principal or NotPrincipal".into(),
            ))
        }
    };
    let actions = matcher(o, "Action", "NotAction")?;
    for a in &actions.patterns {
        let a = a.to_ascii_lowercase();
        if a != "*" && !a.starts_with("s3:") {
            return Err(malformed(format!("Policy has invalid action `{a}`")));
        }
    }
    let resources = matcher(o, "Resource", "NotResource")?;
    for r in &resources.patterns {
        let in_bucket = r
            .strip_prefix("arn:aws:s3:::")
            .is_some_and(|rest| resource_in_bucket(rest, bucket));
        if !in_bucket {
            return Err(malformed(format!(
                "Policy has invalid resource `{r}` (a bucket policy names arn:aws:s3:::{bucket} and its objects)"
            )));
        }
    }
    let mut conditions = Vec::new();
    if let Some(c) = o.get("Condition") {
        let c = c
            .as_object()
            .ok_or_else(|| malformed("Condition is not an object".into()))?;
        for (op_name, body) in c {
            let (base, if_exists) = match op_name.strip_suffix("IfExists") {
                Some(b) => (b, true),
                None => (op_name.as_str(), false),
            };
            let base = base
                .strip_prefix("ForAnyValue:")
                .or_else(|| base.strip_prefix("ForAllValues:"))
                .unwrap_or(base);
            let op = Op::parse(base).ok_or_else(|| {
                malformed(format!(
                    "condition operator {op_name} is not supported by Osprey (docs/authorization.md lists those that are)"
                ))
            })?;
            let body = body
                .as_object()
                .ok_or_else(|| malformed(format!("{op_name} is not an object")))?;
            for (key, vals) in body {
                let values = strings(vals, key)?;
                let nets = if matches!(op, Op::IpAddress | Op::NotIpAddress) {
                    values
                        .iter()
                        .map(|v| parse_net(v))
                        .collect::<Result<_, _>>()?
                } else {
                    Vec::new()
                };
                conditions.push(Condition {
                    op,
                    if_exists,
                    key: key.to_ascii_lowercase(),
                    values,
                    nets,
                });
            }
        }
    }
    Ok(Statement {
        effect,
        principals,
        actions,
        resources,
        conditions,
    })
}

/// `arn:aws:s3:::<rest>` names this bucket or objects in it (wildcards may stand for the
/// bucket's name).
fn resource_in_bucket(rest: &str, bucket: &str) -> bool {
    let b = rest.split('/').next().unwrap_or(rest);
    glob(b, bucket, false)
}

fn parse_net(v: &str) -> Result<ipnet::IpNet, AuthzError> {
    if let Ok(n) = v.parse::<ipnet::IpNet>() {
        return Ok(n);
    }
    v.parse::<IpAddr>()
        .map(ipnet::IpNet::from)
        .map_err(|_| malformed(format!("`{v}` is not an IP address or CIDR range")))
}

fn principal_ids(v: &Value) -> Result<Vec<String>, AuthzError> {
    match v {
        Value::String(s) if s == "*" => Ok(vec!["*".into()]),
        Value::Object(o) => {
            let mut out = Vec::new();
            for (k, ids) in o {
                match k.as_str() {
                    "AWS" | "CanonicalUser" => out.extend(strings(ids, k)?),
                    other => {
                        return Err(malformed(format!(
                            "principal type {other} is not supported (AWS or CanonicalUser)"
                        )))
                    }
                }
            }
            if out.is_empty() {
                return Err(malformed("Principal names nobody".into()));
            }
            Ok(out)
        }
        _ => Err(malformed("Principal must be \"*\" or an object".into())),
    }
}

fn matcher(
    o: &serde_json::Map<String, Value>,
    pos: &str,
    neg: &str,
) -> Result<Matcher, AuthzError> {
    match (o.get(pos), o.get(neg)) {
        (Some(v), None) => Ok(Matcher {
            negated: false,
            patterns: strings(v, pos)?,
        }),
        (None, Some(v)) => Ok(Matcher {
            negated: true,
            patterns: strings(v, neg)?,
        }),
        _ => Err(malformed(format!(
            "a Statement needs exactly one of {pos} or {neg}"
        ))),
    }
}

impl Statement {
    fn applies(
        &self,
        who: &Requester<'_>,
        action: &str,
        resource: &str,
        ctx: &RequestContext<'_>,
    ) -> bool {
        let Principals::Of { negated, ids } = &self.principals;
        if ids.iter().any(|id| principal_matches(id, who)) == *negated {
            return false;
        }
        let act = self.actions.patterns.iter().any(|p| glob(p, action, true));
        if act == self.actions.negated {
            return false;
        }
        let res = self
            .resources
            .patterns
            .iter()
            .any(|p| glob(p, resource, false));
        if res == self.resources.negated {
            return false;
        }
        self.conditions.iter().all(|c| c.holds(who, ctx))
    }
}

/// A policy principal names the requester: `*` everybody (anonymous included); otherwise a
/// signed user by canonical id, by `arn:aws:iam::<tenant>:user/<user id or name>`, or every
/// user of a tenant by `arn:aws:iam::<tenant>:root` (or the bare tenant id).
fn principal_matches(id: &str, who: &Requester<'_>) -> bool {
    if id == "*" {
        return true;
    }
    let Some(u) = who.user() else {
        return false;
    };
    if id == u.canonical_id {
        return true;
    }
    if let Some(rest) = id.strip_prefix("arn:aws:iam::") {
        let Some((account, res)) = rest.split_once(':') else {
            return false;
        };
        let account_ok = account.is_empty() || account == u.tenant_id;
        return account_ok
            && match res.strip_prefix("user/") {
                Some(name) => name == u.user_id || name == u.username,
                None => res == "root" && !account.is_empty(),
            };
    }
    id == u.tenant_id
}

impl Condition {
    fn holds(&self, who: &Requester<'_>, ctx: &RequestContext<'_>) -> bool {
        let value = ctx.value(&self.key, who);
        if self.op == Op::Null {
            // `Null: {key: true}` holds when the key is absent
            let want_absent = self.values.iter().any(|v| v == "true");
            return value.is_none() == want_absent;
        }
        let Some(v) = value else {
            return self.if_exists || self.op.negated();
        };
        let v = v.as_ref();
        let num = |f: fn(f64, f64) -> bool| {
            v.parse::<f64>().is_ok_and(|x| {
                self.values
                    .iter()
                    .any(|w| w.parse::<f64>().is_ok_and(|y| f(x, y)))
            })
        };
        match self.op {
            Op::StringEquals => self.values.iter().any(|w| w == v),
            Op::StringNotEquals => !self.values.iter().any(|w| w == v),
            Op::StringEqualsIgnoreCase => self.values.iter().any(|w| w.eq_ignore_ascii_case(v)),
            Op::StringNotEqualsIgnoreCase => !self.values.iter().any(|w| w.eq_ignore_ascii_case(v)),
            Op::StringLike => self.values.iter().any(|w| glob(w, v, false)),
            Op::StringNotLike => !self.values.iter().any(|w| glob(w, v, false)),
            Op::NumericEquals => num(|x, y| x == y),
            Op::NumericNotEquals => !num(|x, y| x == y),
            Op::NumericLessThan => num(|x, y| x < y),
            Op::NumericLessThanEquals => num(|x, y| x <= y),
            Op::NumericGreaterThan => num(|x, y| x > y),
            Op::NumericGreaterThanEquals => num(|x, y| x >= y),
            Op::Bool => self.values.iter().any(|w| w.eq_ignore_ascii_case(v)),
            Op::IpAddress | Op::NotIpAddress => {
                let inside = v
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| self.nets.iter().any(|n| n.contains(&ip)));
                inside == (self.op == Op::IpAddress)
            }
            // answered above, before the value is read
            Op::Null => false,
        }
    }
}

/// IAM wildcard match: `*` any run of characters, `?` one character.
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let eq = |a: char, b: char| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    // iterative with one backtrack point: linear in practice, no recursion on hostile input
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && eq(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

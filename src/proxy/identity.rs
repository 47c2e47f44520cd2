//! Identity translation between what clients see and what a backend sees (issue 10).
//!
//! Clients know a user by the OSIS `canonical_user_id` OSE issued (and its display name); a
//! backend with its own per-user principals knows the same user by another id (RGW:
//! `<tenant>$<uid>`). Both directions go through here as plain functions over text:
//!
//! - out: `<ID>` of `Owner`, `Grantee` and `Initiator` in ACLs, listings, ListMultipartUploads
//!   and ListParts: backend principal → canonical id (and its display name);
//! - in: the same elements in an `AccessControlPolicy` request body, and `id=` in the
//!   `x-amz-grant-*` headers: canonical id → backend principal.
//!
//! An id the map does not know is left as it is, so the backend answers an unknown grantee
//! exactly as it would directly (RGW: 400 InvalidArgument). XML is read and written with
//! quick-xml events, so only the text of those elements changes and everything else (keys,
//! whitespace, namespaces) is passed through as it came.

use std::borrow::Cow;

use quick_xml::events::{BytesText, Event};
use quick_xml::{Reader, Writer};

/// Elements whose `<ID>` child names a principal (S3 API reference: `Owner`, `Grantee`,
/// `Initiator`).
const PRINCIPAL_PARENTS: &[&[u8]] = &[b"Owner", b"Grantee", b"Initiator"];

/// What an id becomes: its new text, and for responses the display name that goes with it.
pub struct Mapped<'a> {
    pub id: Cow<'a, str>,
    pub display_name: Option<Cow<'a, str>>,
}

/// An XML body Osprey could not read (the backend's or the client's).
#[derive(Debug, thiserror::Error)]
#[error("malformed XML: {0}")]
pub struct XmlError(String);

impl From<quick_xml::Error> for XmlError {
    fn from(e: quick_xml::Error) -> Self {
        XmlError(e.to_string())
    }
}

impl From<std::io::Error> for XmlError {
    fn from(e: std::io::Error) -> Self {
        XmlError(e.to_string())
    }
}

/// Rewrite the `<ID>` (and, when `map` gives one, the sibling `<DisplayName>`) of every principal
/// element. `map` answers for an id it knows and `None` for one to leave unchanged.
pub fn rewrite_principals<'m>(
    xml: &str,
    map: impl Fn(&str) -> Option<Mapped<'m>>,
) -> Result<String, XmlError> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(false);
    let mut writer = Writer::new(Vec::with_capacity(xml.len() + 64));
    // element names from the root down
    let mut path: Vec<Vec<u8>> = Vec::new();
    // the events of the principal element being read (its `<DisplayName>` may come before its
    // `<ID>`: the embedded store's s3s writes them in that order), written once it ends
    let mut held: Option<(usize, Vec<Event<'static>>)> = None;
    let mut changed = false;
    loop {
        let ev = reader.read_event()?.into_owned();
        if matches!(ev, Event::Eof) {
            break;
        }
        match &ev {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_vec();
                let opens = PRINCIPAL_PARENTS.contains(&name.as_slice()) && held.is_none();
                path.push(name);
                if opens {
                    held = Some((path.len(), vec![ev]));
                    continue;
                }
            }
            Event::End(_) => {
                let depth = path.len();
                path.pop();
                if let Some((d, mut evs)) = held.take() {
                    evs.push(ev);
                    if d == depth {
                        changed |= rewrite_held(&mut evs, &map)?;
                        for e in evs {
                            writer.write_event(e)?;
                        }
                    } else {
                        held = Some((d, evs));
                    }
                    continue;
                }
            }
            _ => {}
        }
        match &mut held {
            Some((_, evs)) => evs.push(ev),
            None => writer.write_event(ev)?,
        }
    }
    if let Some((_, evs)) = held {
        for e in evs {
            writer.write_event(e)?;
        }
    }
    if !changed {
        return Ok(xml.to_string());
    }
    String::from_utf8(writer.into_inner()).map_err(|e| XmlError(e.to_string()))
}

/// One principal element's events: its direct `<ID>` text mapped, and its `<DisplayName>` text
/// set to the mapped name (wherever it stands). `true` when something changed.
fn rewrite_held<'m>(
    evs: &mut [Event<'static>],
    map: &impl Fn(&str) -> Option<Mapped<'m>>,
) -> Result<bool, XmlError> {
    // depth 1 = direct children of the principal element
    let mut depth = 0usize;
    let mut leaf: Option<Vec<u8>> = None;
    let mut id_at = None;
    let mut name_at = None;
    for (i, e) in evs.iter().enumerate() {
        match e {
            Event::Start(s) => {
                depth += 1;
                leaf = Some(s.local_name().as_ref().to_vec());
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                leaf = None;
            }
            Event::Text(_) if depth == 2 => match leaf.as_deref() {
                Some(b"ID") => id_at = Some(i),
                Some(b"DisplayName") => name_at = Some(i),
                _ => {}
            },
            _ => {}
        }
    }
    let Some(i) = id_at else {
        return Ok(false);
    };
    let Event::Text(t) = &evs[i] else {
        return Ok(false);
    };
    let id = t.unescape()?.trim().to_string();
    let Some(m) = map(&id) else {
        return Ok(false);
    };
    evs[i] = Event::Text(BytesText::new(&m.id).into_owned());
    if let (Some(j), Some(dn)) = (name_at, m.display_name.as_deref()) {
        evs[j] = Event::Text(BytesText::new(dn).into_owned());
    }
    Ok(true)
}

/// Rewrite the `id=` grantees of one `x-amz-grant-*` header value
/// (`id="…", emailAddress="…", uri="…"`, S3 API reference, PutObjectAcl request headers).
/// Quotes and the other grantees are kept as sent.
pub fn rewrite_grant_header<'m>(value: &str, map: impl Fn(&str) -> Option<Cow<'m, str>>) -> String {
    let mut out = Vec::new();
    for part in value.split(',') {
        let trimmed = part.trim();
        let Some((k, v)) = trimmed.split_once('=') else {
            out.push(part.to_string());
            continue;
        };
        if !k.trim().eq_ignore_ascii_case("id") {
            out.push(part.to_string());
            continue;
        }
        let (quoted, id) = grant_value(v);
        let lead = &part[..part.len() - part.trim_start().len()];
        match map(id) {
            Some(new) if quoted => out.push(format!("{lead}{}=\"{new}\"", k.trim())),
            Some(new) => out.push(format!("{lead}{}={new}", k.trim())),
            None => out.push(part.to_string()),
        }
    }
    out.join(",")
}

/// A grantee value as written: `"…"` (quoted) or bare. One definition for reading the ids
/// ([`grant_header_ids`]) and rewriting them ([`rewrite_grant_header`]), so an id that is looked
/// up is exactly the one that is replaced (found by the `xml` fuzz target: `id="` was read as
/// the empty id but rewritten as `"`).
fn grant_value(v: &str) -> (bool, &str) {
    let v = v.trim();
    match v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) if v.len() >= 2 => (true, inner),
        _ => (false, v),
    }
}

/// The `id=` grantees named in an `x-amz-grant-*` header value.
pub fn grant_header_ids(value: &str) -> Vec<&str> {
    value
        .split(',')
        .filter_map(|p| p.trim().split_once('='))
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case("id"))
        .map(|(_, v)| grant_value(v).1)
        .collect()
}

/// The `<ID>`s of principal elements in an XML body (to look up before rewriting).
pub fn principal_ids(xml: &str) -> Result<Vec<String>, XmlError> {
    // collected through the rewriter, so "a principal's ID" has one definition
    let ids = std::cell::RefCell::new(Vec::new());
    rewrite_principals(xml, |id| {
        ids.borrow_mut().push(id.to_string());
        None
    })?;
    Ok(ids.into_inner())
}

/// The condition values of a bucket policy that name grantees (`s3:x-amz-grant-*`, compared by
/// the backend with the grant headers it receives, which Osprey translated): visited with `f`.
fn visit_policy_grants(doc: &mut serde_json::Value, f: &mut dyn FnMut(&mut String)) {
    let statements = match doc.get_mut("Statement") {
        Some(serde_json::Value::Array(a)) => a.iter_mut().collect::<Vec<_>>(),
        Some(v @ serde_json::Value::Object(_)) => vec![v],
        _ => return,
    };
    for st in statements {
        let Some(serde_json::Value::Object(cond)) = st.get_mut("Condition") else {
            continue;
        };
        for (_, tests) in cond.iter_mut() {
            let serde_json::Value::Object(tests) = tests else {
                continue;
            };
            for (key, v) in tests.iter_mut() {
                if !key.to_ascii_lowercase().starts_with("s3:x-amz-grant-") {
                    continue;
                }
                match v {
                    serde_json::Value::String(s) => f(s),
                    serde_json::Value::Array(a) => {
                        for x in a {
                            if let serde_json::Value::String(s) = x {
                                f(s)
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The `id=` grantees a bucket policy's grant conditions name (none for a body that is not
/// JSON: the backend answers that itself).
pub fn policy_grant_ids(json: &str) -> Vec<String> {
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(json) else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    visit_policy_grants(&mut doc, &mut |s| {
        ids.extend(grant_header_ids(s).into_iter().map(str::to_string))
    });
    ids
}

/// The policy with its grant conditions' ids rewritten; `None` when nothing changed (the body
/// then goes on byte for byte).
pub fn rewrite_policy_grants<'m>(
    json: &str,
    map: impl Fn(&str) -> Option<Cow<'m, str>>,
) -> Option<String> {
    let mut doc = serde_json::from_str::<serde_json::Value>(json).ok()?;
    let mut changed = false;
    visit_policy_grants(&mut doc, &mut |s| {
        let n = rewrite_grant_header(s, &map);
        if n != *s {
            *s = n;
            changed = true;
        }
    });
    if changed {
        serde_json::to_string(&doc).ok()
    } else {
        None
    }
}

/// The `x-amz-grant-*` headers (PutObject, CreateBucket, CopyObject, PutObjectAcl, PutBucketAcl).
pub const GRANT_HEADERS: &[&str] = &[
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
];

/// [`GRANT_HEADERS`] parsed once, for the lookups and removals every request makes (a `&str`
/// name is parsed on each, issue 13).
pub static GRANT_HEADER_NAMES: [http::HeaderName; 5] = [
    http::HeaderName::from_static("x-amz-grant-read"),
    http::HeaderName::from_static("x-amz-grant-write"),
    http::HeaderName::from_static("x-amz-grant-read-acp"),
    http::HeaderName::from_static("x-amz-grant-write-acp"),
    http::HeaderName::from_static("x-amz-grant-full-control"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_header_names_are_the_grant_headers() {
        let parsed: Vec<&str> = GRANT_HEADER_NAMES.iter().map(|h| h.as_str()).collect();
        assert_eq!(parsed, GRANT_HEADERS);
    }

    fn rgw(id: &str) -> Option<Mapped<'static>> {
        match id {
            "t1$main" => Some(Mapped {
                id: "c0ffee".into(),
                display_name: Some("Main User".into()),
            }),
            _ => None,
        }
    }

    #[test]
    fn display_name_before_id_is_rewritten_too() {
        // the embedded store (s3s) writes <DisplayName> before <ID> in listings' owners
        let xml = "<ListBucketResult><Contents><Key>k</Key><Owner><DisplayName>svc</DisplayName><ID>t1$main</ID></Owner></Contents><Contents><Key>ID</Key><Owner><DisplayName>x</DisplayName><ID>other</ID></Owner></Contents></ListBucketResult>";
        let out = rewrite_principals(xml, rgw).unwrap();
        assert!(
            out.contains("<Owner><DisplayName>Main User</DisplayName><ID>c0ffee</ID></Owner>"),
            "{out}"
        );
        assert!(
            out.contains("<Key>ID</Key><Owner><DisplayName>x</DisplayName><ID>other</ID>"),
            "{out}"
        );
    }

    #[test]
    fn owner_and_grantee_ids_out() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?><AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>t1$main</ID><DisplayName>main</DisplayName></Owner><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>t1$main</ID><DisplayName>main</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>"#;
        let out = rewrite_principals(xml, rgw).unwrap();
        assert_eq!(out.matches("<ID>c0ffee</ID>").count(), 2, "{out}");
        assert_eq!(
            out.matches("<DisplayName>Main User</DisplayName>").count(),
            2
        );
        assert!(!out.contains("t1$main"));
        // everything else as sent
        assert!(out.contains(
            r#"xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI>"#
        ));
        assert!(out.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#));
    }

    #[test]
    fn keys_and_unknown_ids_are_untouched() {
        // a key that looks like a principal, an unknown principal, an ID outside a principal
        let xml = "<ListBucketResult><Contents><Key>t1$main</Key><Owner><ID>t2$other</ID><DisplayName>o</DisplayName></Owner></Contents><ID>t1$main</ID></ListBucketResult>";
        let out = rewrite_principals(xml, rgw).unwrap();
        assert_eq!(out, xml);
    }

    #[test]
    fn initiator_in_listings_and_escaped_text() {
        let xml = "<ListPartsResult><Initiator><ID>t1$main</ID><DisplayName>x</DisplayName></Initiator><Owner><ID>t1&#36;main</ID></Owner></ListPartsResult>";
        let out = rewrite_principals(xml, rgw).unwrap();
        assert_eq!(out, "<ListPartsResult><Initiator><ID>c0ffee</ID><DisplayName>Main User</DisplayName></Initiator><Owner><ID>c0ffee</ID></Owner></ListPartsResult>");
    }

    #[test]
    fn malformed_xml_is_an_error_not_a_panic() {
        assert!(rewrite_principals("<Owner><ID>t1$main</Owner>", rgw).is_err());
    }

    #[test]
    fn policy_grant_conditions() {
        let p = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"s3:x-amz-grant-full-control":"id=c0ffee"}}}]}"#;
        assert_eq!(policy_grant_ids(p), vec!["c0ffee"]);
        let out =
            rewrite_policy_grants(p, |id| (id == "c0ffee").then(|| "t1$main".into())).unwrap();
        assert!(
            out.contains(r#""s3:x-amz-grant-full-control":"id=t1$main""#),
            "{out}"
        );
        assert!(rewrite_policy_grants(p, |_| None).is_none());
        assert!(policy_grant_ids("not json").is_empty());
    }

    #[test]
    fn grant_headers() {
        let map = |id: &str| (id == "c0ffee").then_some(Cow::Borrowed("t1$main"));
        assert_eq!(
            rewrite_grant_header(
                r#"id="c0ffee", uri="http://acs.amazonaws.com/groups/global/AllUsers""#,
                map
            ),
            r#"id="t1$main", uri="http://acs.amazonaws.com/groups/global/AllUsers""#
        );
        assert_eq!(
            rewrite_grant_header("ID=c0ffee,id=unknown", map),
            "ID=t1$main,id=unknown"
        );
        assert_eq!(
            grant_header_ids(r#"id="a", emailAddress="x@y", id=b"#),
            vec!["a", "b"]
        );
        // fuzz finding: a lone quote is a bare value, read and rewritten alike
        assert_eq!(grant_header_ids(r#"id=""#), vec![r#"""#]);
        assert_eq!(
            rewrite_grant_header(r#"id=""#, |id| (id == "\"").then_some("X".into())),
            "id=X"
        );
        assert_eq!(
            principal_ids("<A><Owner><ID>x</ID></Owner><Grantee><ID>y</ID></Grantee></A>").unwrap(),
            vec!["x", "y"]
        );
    }
}

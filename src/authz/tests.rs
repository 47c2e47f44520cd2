//! Table-driven decisions, each row one documented AWS behaviour (S3 user guide, "How Amazon S3
//! authorizes a request", "ACL overview", "Bucket policy examples"; IAM "Policy evaluation logic").

use std::sync::Arc;

use http::{HeaderMap, Method};

use super::acl::{self, NamedGrantee};
use super::*;
use crate::s3::op::OpKind;

fn owner(id: &str) -> Owner {
    Owner {
        id: CanonicalId(id.into()),
        display_name: format!("{id}-name"),
    }
}

fn user<'a>(tenant: &'a str, id: &'a str, role: Role) -> Requester<'a> {
    Requester::User(UserFacts {
        tenant_id: tenant,
        user_id: id,
        username: id,
        canonical_id: id,
        role,
    })
}

fn bucket(acl: Acl, policy: Option<&str>) -> BucketAuth {
    BucketAuth {
        tenant_id: "t1".into(),
        bucket: "b".into(),
        owner: owner("alice"),
        acl,
        policy: policy.map(|p| Arc::new(Policy::parse(p, "b").unwrap())),
        public_access_block: None,
        object_records: false,
    }
}

fn decide(
    who: &Requester<'_>,
    kind: OpKind,
    method: Method,
    b: &BucketAuth,
    object: Option<&ObjectAuth>,
    key: Option<&str>,
) -> bool {
    let headers = HeaderMap::new();
    let ctx = RequestContext {
        source_ip: Some("10.1.2.3".parse().unwrap()),
        secure: false,
        headers: &headers,
        query: &[],
        object_tags: None,
    };
    let action = action_for(kind, &method, false).unwrap();
    authorize(who, &action, b, object, &resource_arn("b", key), &ctx).is_ok()
}

fn canned(c: Canned) -> Acl {
    c.acl(&owner("alice"), &owner("alice"))
}

#[test]
fn acl_decisions_match_aws() {
    let alice = user("t1", "alice", Role::TenantUser);
    let bob = user("t1", "bob", Role::TenantUser);
    let carol = user("t2", "carol", Role::TenantUser);
    let anon = Requester::Anonymous;
    let private = bucket(canned(Canned::Private), None);
    let public_read = bucket(canned(Canned::PublicRead), None);
    let public_rw = bucket(canned(Canned::PublicReadWrite), None);
    let auth_read = bucket(canned(Canned::AuthenticatedRead), None);
    use OpKind::*;
    // (who, op, method, bucket, key, allowed)
    type Row<'a> = (
        &'a Requester<'a>,
        OpKind,
        Method,
        &'a BucketAuth,
        Option<&'a str>,
        bool,
    );
    let rows: Vec<Row> = vec![
        // owner-only default (private)
        (&alice, ListObjects, Method::GET, &private, None, true),
        (&alice, PutObject, Method::PUT, &private, Some("k"), true),
        (&alice, GetObject, Method::GET, &private, Some("k"), true),
        (&alice, DeleteBucket, Method::DELETE, &private, None, true),
        (&bob, ListObjects, Method::GET, &private, None, false),
        (&bob, GetObject, Method::GET, &private, Some("k"), false),
        (&bob, PutObject, Method::PUT, &private, Some("k"), false),
        (
            &bob,
            DeleteObject,
            Method::DELETE,
            &private,
            Some("k"),
            false,
        ),
        (
            &bob,
            BucketSubresource("acl"),
            Method::GET,
            &private,
            None,
            false,
        ),
        (&carol, ListObjects, Method::GET, &private, None, false),
        (&anon, GetObject, Method::GET, &private, Some("k"), false),
        // public-read: READ on the bucket lists it; objects keep their own ACL
        (&anon, ListObjects, Method::GET, &public_read, None, true),
        (
            &anon,
            PutObject,
            Method::PUT,
            &public_read,
            Some("k"),
            false,
        ),
        (&bob, ListObjects, Method::GET, &public_read, None, true),
        (
            &anon,
            GetObject,
            Method::GET,
            &public_read,
            Some("k"),
            false,
        ),
        // public-read-write: anyone writes objects, but only the owner deletes the bucket
        (&anon, PutObject, Method::PUT, &public_rw, Some("k"), true),
        (
            &bob,
            DeleteObject,
            Method::DELETE,
            &public_rw,
            Some("k"),
            true,
        ),
        (&bob, DeleteBucket, Method::DELETE, &public_rw, None, false),
        (
            &bob,
            BucketSubresource("acl"),
            Method::PUT,
            &public_rw,
            None,
            false,
        ),
        // authenticated-read: any signed user (other tenants too), not anonymous
        (&carol, ListObjects, Method::GET, &auth_read, None, true),
        (&anon, ListObjects, Method::GET, &auth_read, None, false),
        // configuration sub-resources are the owner's alone whatever the ACL
        (
            &bob,
            BucketSubresource("versioning"),
            Method::PUT,
            &public_rw,
            None,
            false,
        ),
        (
            &alice,
            BucketSubresource("versioning"),
            Method::PUT,
            &private,
            None,
            true,
        ),
    ];
    for (i, (who, kind, method, b, key, want)) in rows.into_iter().enumerate() {
        assert_eq!(
            decide(who, kind, method.clone(), b, None, key),
            want,
            "row {i}: {kind:?} {method}"
        );
    }
}

#[test]
fn owner_keeps_acp_after_removing_its_own_grants() {
    // S3: "the bucket owner … can always read and write the ACL" even with no grant of its own
    let alice = user("t1", "alice", Role::TenantUser);
    let b = bucket(Acl::default(), None);
    assert!(!decide(
        &alice,
        OpKind::ListObjects,
        Method::GET,
        &b,
        None,
        None
    ));
    assert!(decide(
        &alice,
        OpKind::BucketSubresource("acl"),
        Method::GET,
        &b,
        None,
        None
    ));
    assert!(decide(
        &alice,
        OpKind::BucketSubresource("acl"),
        Method::PUT,
        &b,
        None,
        None
    ));
}

#[test]
fn object_acl_and_object_owner() {
    let alice = user("t1", "alice", Role::TenantUser);
    let bob = user("t1", "bob", Role::TenantUser);
    let anon = Requester::Anonymous;
    let b = bucket(canned(Canned::PublicReadWrite), None);
    // bob wrote it: his, and (classic ACLs) the bucket owner cannot read it without a grant
    let bobs = ObjectAuth {
        owner: owner("bob"),
        acl: Acl::private(&owner("bob")),
    };
    assert!(decide(
        &bob,
        OpKind::GetObject,
        Method::GET,
        &b,
        Some(&bobs),
        Some("k")
    ));
    assert!(!decide(
        &alice,
        OpKind::GetObject,
        Method::GET,
        &b,
        Some(&bobs),
        Some("k")
    ));
    let full = ObjectAuth {
        owner: owner("bob"),
        acl: Canned::BucketOwnerFullControl.acl(&owner("bob"), &owner("alice")),
    };
    assert!(decide(
        &alice,
        OpKind::GetObject,
        Method::GET,
        &b,
        Some(&full),
        Some("k")
    ));
    assert!(decide(
        &alice,
        OpKind::ObjectSubresource("acl"),
        Method::PUT,
        &b,
        Some(&full),
        Some("k")
    ));
    let public = ObjectAuth {
        owner: owner("alice"),
        acl: canned(Canned::PublicRead),
    };
    assert!(decide(
        &anon,
        OpKind::GetObject,
        Method::GET,
        &b,
        Some(&public),
        Some("k")
    ));
    assert!(!decide(
        &anon,
        OpKind::ObjectSubresource("acl"),
        Method::GET,
        &b,
        Some(&public),
        Some("k")
    ));
    // writing needs WRITE on the bucket, whatever the object's ACL says
    let private_bucket = bucket(canned(Canned::Private), None);
    assert!(!decide(
        &anon,
        OpKind::PutObject,
        Method::PUT,
        &private_bucket,
        Some(&public),
        Some("k")
    ));
}

#[test]
fn policy_allow_deny_and_conditions() {
    let bob = user("t1", "bob", Role::TenantUser);
    let alice = user("t1", "alice", Role::TenantUser);
    let anon = Requester::Anonymous;
    let allow_get = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
    let b = bucket(canned(Canned::Private), Some(allow_get));
    assert!(decide(
        &anon,
        OpKind::GetObject,
        Method::GET,
        &b,
        None,
        Some("k")
    ));
    assert!(!decide(
        &anon,
        OpKind::ListObjects,
        Method::GET,
        &b,
        None,
        None
    ));
    // explicit deny wins over the owner's own ACL
    let deny = r#"{"Statement":[{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}]}"#;
    let d = bucket(canned(Canned::PublicReadWrite), Some(deny));
    assert!(!decide(
        &alice,
        OpKind::GetObject,
        Method::GET,
        &d,
        None,
        Some("k")
    ));
    assert!(!decide(
        &alice,
        OpKind::ListObjects,
        Method::GET,
        &d,
        None,
        None
    ));
    // … but never locks the owner out of the policy itself
    assert!(decide(
        &alice,
        OpKind::BucketSubresource("policy"),
        Method::DELETE,
        &d,
        None,
        None
    ));
    assert!(!decide(
        &bob,
        OpKind::BucketSubresource("policy"),
        Method::DELETE,
        &d,
        None,
        None
    ));
    // principal by IAM ARN of one user
    let bob_only = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::t1:user/bob"},"Action":["s3:ListBucket","s3:Get*"],"Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}]}"#;
    let bo = bucket(canned(Canned::Private), Some(bob_only));
    assert!(decide(
        &bob,
        OpKind::ListObjects,
        Method::GET,
        &bo,
        None,
        None
    ));
    assert!(decide(
        &bob,
        OpKind::GetObject,
        Method::GET,
        &bo,
        None,
        Some("x/y")
    ));
    assert!(!decide(
        &bob,
        OpKind::PutObject,
        Method::PUT,
        &bo,
        None,
        Some("x")
    ));
    assert!(!decide(
        &anon,
        OpKind::ListObjects,
        Method::GET,
        &bo,
        None,
        None
    ));
    // aws:SourceIp (the test context comes from 10.1.2.3)
    let ip = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#;
    assert!(decide(
        &anon,
        OpKind::GetObject,
        Method::GET,
        &bucket(Acl::default(), Some(ip)),
        None,
        Some("k")
    ));
    let ip2 = ip.replace("10.0.0.0/8", "192.168.0.0/16");
    assert!(!decide(
        &anon,
        OpKind::GetObject,
        Method::GET,
        &bucket(Acl::default(), Some(&ip2)),
        None,
        Some("k")
    ));
}

#[test]
fn prefix_condition_reads_the_query() {
    let p = Policy::parse(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":"home/*"}}}]}"#, "b").unwrap();
    let headers = HeaderMap::new();
    let home = vec![("prefix".to_string(), "home/bob".to_string())];
    let other = vec![("prefix".to_string(), "etc".to_string())];
    let verdict = |q: &[(String, String)]| {
        let ctx = RequestContext {
            source_ip: None,
            secure: false,
            headers: &headers,
            query: q,
            object_tags: None,
        };
        p.evaluate(
            &Requester::Anonymous,
            "s3:ListBucket",
            "arn:aws:s3:::b",
            &ctx,
        )
    };
    assert_eq!(verdict(&home), Verdict::Allow);
    assert_eq!(verdict(&other), Verdict::None);
    assert_eq!(verdict(&[]), Verdict::None);
}

#[test]
fn roles() {
    let admin = user("t1", "root", Role::TenantAdmin);
    let other_admin = user("t2", "root2", Role::TenantAdmin);
    let provider = user("t1", "prov", Role::ProviderAdmin);
    let ro = user("t1", "alice", Role::ReadOnly);
    let b = bucket(canned(Canned::Private), None);
    assert!(decide(
        &admin,
        OpKind::GetObject,
        Method::GET,
        &b,
        None,
        Some("k")
    ));
    assert!(decide(
        &admin,
        OpKind::BucketSubresource("acl"),
        Method::PUT,
        &b,
        None,
        None
    ));
    assert!(decide(
        &admin,
        OpKind::DeleteBucket,
        Method::DELETE,
        &b,
        None,
        None
    ));
    assert!(!decide(
        &other_admin,
        OpKind::GetObject,
        Method::GET,
        &b,
        None,
        Some("k")
    ));
    assert!(decide(
        &provider,
        OpKind::ListObjects,
        Method::GET,
        &b,
        None,
        None
    ));
    assert!(!decide(
        &provider,
        OpKind::PutObject,
        Method::PUT,
        &b,
        None,
        Some("k")
    ));
    // a read-only role does not write even its own bucket
    assert!(decide(
        &ro,
        OpKind::ListObjects,
        Method::GET,
        &b,
        None,
        None
    ));
    assert!(!decide(
        &ro,
        OpKind::PutObject,
        Method::PUT,
        &b,
        None,
        Some("k")
    ));
}

#[test]
fn public_access_block() {
    let anon = Requester::Anonymous;
    let mut b = bucket(canned(Canned::PublicRead), None);
    b.public_access_block = Some(PublicAccessBlock {
        ignore_public_acls: true,
        ..Default::default()
    });
    assert!(!decide(
        &anon,
        OpKind::ListObjects,
        Method::GET,
        &b,
        None,
        None
    ));
    let allow = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"}]}"#;
    let mut p = bucket(Acl::default(), Some(allow));
    assert!(p.policy.as_ref().unwrap().is_public());
    assert!(decide(
        &anon,
        OpKind::ListObjects,
        Method::GET,
        &p,
        None,
        None
    ));
    p.public_access_block = Some(PublicAccessBlock {
        restrict_public_buckets: true,
        ..Default::default()
    });
    assert!(!decide(
        &anon,
        OpKind::ListObjects,
        Method::GET,
        &p,
        None,
        None
    ));
}

#[test]
fn malformed_policies_are_refused_with_a_reason() {
    for (doc, needle) in [
        ("not json", "not JSON"),
        (r#"{"Statement":[]}"#, "empty"),
        (
            r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
            "Effect",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}"#,
            "invalid resource",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ec2:Run","Resource":"arn:aws:s3:::b/*"}]}"#,
            "invalid action",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01"}}}]}"#,
            "not supported",
        ),
    ] {
        let e = Policy::parse(doc, "b").unwrap_err();
        assert!(e.to_string().contains(needle), "{doc}: {e}");
    }
}

#[test]
fn glob_matches_iam_wildcards() {
    use super::policy::glob;
    assert!(glob("s3:Get*", "s3:GetObject", true));
    assert!(glob("S3:get*", "s3:GetObject", true));
    assert!(!glob("s3:Get*", "s3:PutObject", true));
    assert!(glob("arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b/c", false));
    assert!(glob("arn:aws:s3:::b/?", "arn:aws:s3:::b/x", false));
    assert!(!glob("arn:aws:s3:::b/?", "arn:aws:s3:::b/xy", false));
    assert!(glob("*a*b*c*", "xxaxxbxxcxx", false));
    // linear on a hostile pattern
    let long = "a".repeat(5000);
    assert!(!glob(&"*a".repeat(200), &format!("{long}b"), false));
}

#[test]
fn acl_xml_round_trip_and_headers() {
    let a = Canned::PublicRead.acl(&owner("alice"), &owner("alice"));
    let xml = acl::acl_xml(&owner("alice"), &a).unwrap();
    assert!(xml.contains("<ID>alice</ID>"), "{xml}");
    assert!(xml.contains(acl::ALL_USERS_URI));
    let back = acl::parse_acl_xml(&xml).unwrap();
    assert_eq!(back.owner_id.as_deref(), Some("alice"));
    assert_eq!(back.grants.len(), 2);
    // RGW's order: group grants before users (s3-tests compare positionally)
    assert_eq!(back.grants[0].grantee, NamedGrantee::Group(Group::AllUsers));
    assert_eq!(back.grants[1].grantee, NamedGrantee::Id("alice".into()));
    let g = acl::parse_grant_header(
        r#"id="bob", emailAddress="c@example.com", uri="http://acs.amazonaws.com/groups/global/AuthenticatedUsers""#,
        Permission::Read,
    )
    .unwrap();
    assert_eq!(g.len(), 3);
    assert_eq!(g[0].grantee, NamedGrantee::Id("bob".into()));
    assert_eq!(g[1].grantee, NamedGrantee::Email("c@example.com".into()));
    assert!(acl::parse_grant_header("nonsense", Permission::Read).is_err());
    assert!(acl::parse_acl_xml("<AccessControlPolicy><AccessControlList><Grant><Grantee><ID>x</ID></Grantee><Permission>EVERYTHING</Permission></Grant></AccessControlList></AccessControlPolicy>").is_err());
    assert!(Canned::parse("public").is_err());
}

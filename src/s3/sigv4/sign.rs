//! SigV4 signing, client side: Osprey's one signer (issue 12), used to re-sign every request
//! toward a backend (`proxy`), for the admin APIs (`backend::admin_http`) and the usage and
//! listing calls (`backend::usage`), and by tests to sign as a client would.
//!
//! It shares the canonicalisation with the verifier (`canonical.rs`), so what Osprey signs is
//! exactly what an S3 server recomputes; `tests` checks it against aws-sigv4, AWS's own signer.
//!
//! Signing keys (four HMACs per day, region and service) are derived once and cached
//! ([`derived`]): the hot path pays one HMAC for the string to sign (issue 13).

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use dashmap::DashMap;

use super::canonical::{
    canonical_request, canonical_request_presigned, hex32, scope, signing_key, uri_encode,
    HeaderPair, PreparedMac,
};
use super::{format_amz_date, ChunkVerifier, RequestParts, Result, ALGORITHM, UNSIGNED_PAYLOAD};

/// Most signing keys kept derived: 4096 (default). One per access key in use (its current day,
/// region and service): Osprey's backend identities and its clients' keys. Stops a flood of distinct keys
/// from growing the cache without bound (it is emptied when full, and refills at one
/// derivation per key).
pub const MAX_CACHED_SIGNING_KEYS: usize = 4096;

/// The key last derived for one access key, with everything it was derived from.
struct Derived {
    secret: Arc<str>,
    date: String,
    region: String,
    service: &'static str,
    key: [u8; 32],
    mac: PreparedMac,
}

/// Derived signing keys by access key: looked up by `&str`, so a hit allocates nothing (this
/// runs twice per request: verification and re-signing).
static KEYS: LazyLock<DashMap<Arc<str>, Derived>> = LazyLock::new(DashMap::new);

/// The signing key of `secret` for `date` (`yyyymmdd`), `region` and `service`, derived once,
/// with its [`PreparedMac`] (what signing a string to sign needs).
///
/// One entry per access key, holding the last derivation; secret, date, region and service are
/// compared on every hit, so a rotated secret, a new day or another region derives afresh.
pub fn derived(
    access_key: &str,
    secret: &str,
    date: &str,
    region: &str,
    service: &'static str,
) -> ([u8; 32], PreparedMac) {
    if let Some(hit) = KEYS.get(access_key) {
        if &*hit.secret == secret
            && hit.date == date
            && hit.region == region
            && hit.service == service
        {
            return (hit.key, hit.mac.clone());
        }
    }
    let key = signing_key(secret, date, region, service);
    let mac = PreparedMac::new(&key);
    if KEYS.len() >= MAX_CACHED_SIGNING_KEYS {
        KEYS.clear();
    }
    KEYS.insert(
        access_key.into(),
        Derived {
            secret: secret.into(),
            date: date.into(),
            region: region.into(),
            service,
            key,
            mac: mac.clone(),
        },
    );
    (key, mac)
}

/// Who signs, and when: the inputs of [`authorization_header`] and [`presign_query`].
#[derive(Debug, Clone, Copy)]
pub struct SigningParams<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
    pub service: &'static str,
    /// `yyyymmddThhmmssZ`; must also be sent as `x-amz-date` (or be the presign `X-Amz-Date`).
    pub amz_date: &'a str,
}

impl SigningParams<'_> {
    fn date(&self) -> &str {
        self.amz_date.get(..8).unwrap_or_default()
    }

    fn key(&self) -> ([u8; 32], PreparedMac) {
        derived(
            self.access_key,
            self.secret_key,
            self.date(),
            self.region,
            self.service,
        )
    }
}

fn sorted_names<S: AsRef<str>>(signed_headers: &[S]) -> Vec<Cow<'_, str>> {
    // names are lower-case already on the hot path (pingora's header map): borrowed then
    let mut names: Vec<Cow<'_, str>> = signed_headers
        .iter()
        .map(|s| {
            let s = s.as_ref();
            if s.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(s.to_ascii_lowercase())
            } else {
                Cow::Borrowed(s)
            }
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Computes the `Authorization` header value for a request. `headers` must already contain
/// every header named in `signed_headers` (lower-case, any order; sorted here). Returns the
/// header value and the signature (the seed of an aws-chunked chain).
pub fn authorization_header<S: AsRef<str>, H: HeaderPair>(
    params: &SigningParams<'_>,
    parts: &RequestParts<'_, H>,
    signed_headers: &[S],
    payload_hash: &str,
) -> Result<(String, [u8; 32])> {
    let scope = scope(params.date(), params.region, params.service);
    authorization_with(
        params,
        &params.key().1,
        &scope,
        parts,
        signed_headers,
        payload_hash,
    )
}

/// [`authorization_header`] with the signing key and scope already at hand (re-signing keeps
/// both for the aws-chunked context instead of deriving them twice).
fn authorization_with<S: AsRef<str>, H: HeaderPair>(
    params: &SigningParams<'_>,
    mac: &PreparedMac,
    scope: &str,
    parts: &RequestParts<'_, H>,
    signed_headers: &[S],
    payload_hash: &str,
) -> Result<(String, [u8; 32])> {
    let names = sorted_names(signed_headers);
    let creq = canonical_request(
        parts.method,
        parts.raw_path,
        parts.raw_query,
        parts.headers,
        &names,
        payload_hash,
    )?;
    let sig = mac.sign_canonical(params.amz_date, scope, &creq);
    let mut value = String::with_capacity(160 + params.access_key.len() + scope.len());
    for part in [
        ALGORITHM,
        " Credential=",
        params.access_key,
        "/",
        scope,
        ", SignedHeaders=",
    ] {
        value.push_str(part);
    }
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            value.push(';');
        }
        value.push_str(n);
    }
    value.push_str(", Signature=");
    value.push_str(&hex32(&sig));
    Ok((value, sig))
}

/// Builds a presigned query string: `parts.raw_query` (possibly empty) plus the `X-Amz-*`
/// parameters, ending with `X-Amz-Signature`. The payload is `UNSIGNED-PAYLOAD`.
pub fn presign_query<S: AsRef<str>, H: HeaderPair>(
    params: &SigningParams<'_>,
    parts: &RequestParts<'_, H>,
    signed_headers: &[S],
    expires_secs: u64,
) -> Result<String> {
    let names = sorted_names(signed_headers);
    let scope = scope(params.date(), params.region, params.service);
    let mut query = String::from(parts.raw_query);
    if !query.is_empty() {
        query.push('&');
    }
    query.push_str(&format!(
        "X-Amz-Algorithm={ALGORITHM}&X-Amz-Credential={}&X-Amz-Date={}&X-Amz-Expires={expires_secs}&X-Amz-SignedHeaders={}",
        uri_encode(&format!("{}/{scope}", params.access_key), true),
        uri_encode(params.amz_date, true),
        uri_encode(&names.join(";"), true),
    ));
    let creq = canonical_request_presigned(
        parts.method,
        parts.raw_path,
        &query,
        parts.headers,
        &names,
        UNSIGNED_PAYLOAD,
    )?;
    query.push_str("&X-Amz-Signature=");
    query.push_str(&hex32(&params.key().1.sign_canonical(
        params.amz_date,
        &scope,
        &creq,
    )));
    Ok(query)
}

/// The credential a request is signed with toward a backend.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
}

/// A request to sign with header auth.
#[derive(Clone, Copy)]
pub struct Outgoing<'a, H = (String, String)> {
    pub method: &'a str,
    /// The request target as it will be sent (already percent-encoded).
    pub path_and_query: &'a str,
    /// The headers to sign: must include `host`; `x-amz-date`, `x-amz-content-sha256` and
    /// `authorization` are produced here (any given are replaced).
    pub headers: &'a [H],
    /// The `x-amz-content-sha256` value: a hex digest, `UNSIGNED-PAYLOAD` or a `STREAMING-*`
    /// literal.
    pub payload_hash: &'a str,
}

/// Result of [`resign`]: headers to set on the outgoing request, and what its signing context
/// ([`Resigned::context`]) is made of.
#[derive(Debug, Clone)]
pub struct Resigned {
    /// `x-amz-date`, `x-amz-content-sha256` and `authorization`, lower-case names.
    pub headers: [(&'static str, String); 3],
    signing_key: [u8; 32],
    scope: String,
    signature: [u8; 32],
}

impl Resigned {
    /// The seed of a re-chained aws-chunked body. Built on demand: most requests have no
    /// such body, and the hex seed and date copies are two allocations each would pay.
    pub fn context(&self) -> ChunkVerifier {
        ChunkVerifier {
            signing_key: self.signing_key,
            amz_date: self.headers[0].1.clone(),
            scope: self.scope.clone(),
            seed_signature: hex32(&self.signature),
        }
    }
}

const PRODUCED: [&str; 3] = ["x-amz-date", "x-amz-content-sha256", "authorization"];

/// Signs an outgoing request (Osprey → backend) for service `s3` with header auth at `now`.
pub fn resign<H: HeaderPair>(
    req: &Outgoing<'_, H>,
    creds: Credentials<'_>,
    region: &str,
    now: std::time::SystemTime,
) -> Result<Resigned> {
    resign_for(req, creds, region, "s3", now)
}

/// [`resign`] for another service (`iam` for the IAM query API, `s3` for RGW's Admin Ops).
pub fn resign_for<H: HeaderPair>(
    req: &Outgoing<'_, H>,
    creds: Credentials<'_>,
    region: &str,
    service: &'static str,
    now: std::time::SystemTime,
) -> Result<Resigned> {
    let now: DateTime<Utc> = now.into();
    let amz_date = format_amz_date(&now);
    let (raw_path, raw_query) = req
        .path_and_query
        .split_once('?')
        .unwrap_or((req.path_and_query, ""));
    // borrowed, not copied: the canonical request reads them once
    let mut all: Vec<(&str, &str)> = Vec::with_capacity(req.headers.len() + 2);
    all.extend(
        req.headers
            .iter()
            .filter(|h| !PRODUCED.iter().any(|d| h.name().eq_ignore_ascii_case(d)))
            .map(|h| (h.name(), h.value())),
    );
    all.push(("x-amz-date", &amz_date));
    all.push(("x-amz-content-sha256", req.payload_hash));
    let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
    let params = SigningParams {
        access_key: creds.access_key,
        secret_key: creds.secret_key,
        region,
        service,
        amz_date: &amz_date,
    };
    let parts = RequestParts {
        method: req.method,
        raw_path,
        raw_query,
        headers: &all,
    };
    let (key, mac) = params.key();
    let scope = scope(params.date(), region, service);
    let (authorization, sig) =
        authorization_with(&params, &mac, &scope, &parts, &names, req.payload_hash)?;
    Ok(Resigned {
        signing_key: key,
        scope,
        signature: sig,
        headers: [
            ("x-amz-date", amz_date),
            ("x-amz-content-sha256", req.payload_hash.to_owned()),
            ("authorization", authorization),
        ],
    })
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use aws_credential_types::Credentials as AwsCredentials;
    use aws_sigv4::http_request::{
        sign as aws_sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
        SigningSettings, UriPathNormalizationMode,
    };
    use aws_sigv4::sign::v4;

    use super::*;

    /// aws-sigv4 (AWS's signer, as the SDKs sign) for the same request: the reference.
    fn aws_signature(
        method: &str,
        path_and_query: &str,
        headers: &[(String, String)],
        payload_hash: &str,
        now: SystemTime,
    ) -> Vec<(String, String)> {
        let identity = AwsCredentials::new("AKIDEXAMPLE", "wJalr/SECRET", None, None, "t").into();
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            method,
            format!("http://placeholder{path_and_query}"),
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            SignableBody::Precomputed(payload_hash.to_string()),
        )
        .unwrap();
        let (instructions, _) = aws_sign(signable, &params).unwrap().into_parts();
        let mut out: Vec<(String, String)> = instructions
            .headers()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
            .collect();
        out.sort();
        out
    }

    /// Osprey's signer and AWS's produce the same three headers, byte for byte, over paths and
    /// queries that need encoding, repeated and unsorted parameters, and values with runs of
    /// spaces (SigV4's canonical form trims and collapses them).
    #[test]
    fn same_signature_as_aws_sigv4() {
        let now = SystemTime::now();
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            (
                "GET",
                "/",
                &[("host", "127.0.0.1:7480")],
                super::super::EMPTY_SHA256_HEX,
            ),
            (
                "PUT",
                "/t1-b/a%20b/c%3Ad?uploadId=x%2By&partNumber=1",
                &[("host", "127.0.0.1:7480"), ("x-amz-meta-a", "b  c")],
                UNSIGNED_PAYLOAD,
            ),
            (
                "GET",
                "/b?prefix=%E2%82%AC&list-type=2&delimiter=%2F",
                &[("host", "h"), ("x-amz-request-payer", "requester")],
                UNSIGNED_PAYLOAD,
            ),
            (
                "PUT",
                "/b/k?tagging",
                &[("host", "h:1"), ("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")],
                super::super::STREAMING_SIGNED,
            ),
            (
                "POST",
                "/b/k?uploads",
                &[("host", "h"), ("x-amz-acl", "  public-read ")],
                super::super::EMPTY_SHA256_HEX,
            ),
        ];
        for (method, pq, hs, payload) in cases {
            let headers: Vec<(String, String)> = hs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            let ours = resign(
                &Outgoing {
                    method,
                    path_and_query: pq,
                    headers: &headers,
                    payload_hash: payload,
                },
                Credentials {
                    access_key: "AKIDEXAMPLE",
                    secret_key: "wJalr/SECRET",
                },
                "eu-west-1",
                now,
            )
            .unwrap();
            let mut ours: Vec<(String, String)> = ours
                .headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.clone()))
                .collect();
            ours.sort();
            assert_eq!(
                ours,
                aws_signature(method, pq, &headers, payload, now),
                "{method} {pq}"
            );
        }
    }

    /// A derived key is reused, and a rotated secret under the same access key is not served
    /// the old key.
    #[test]
    fn derived_keys_follow_the_secret() {
        let key = |secret, date, region| derived("AKCACHE", secret, date, region, "s3").0;
        let a = key("one", "20240229", "r");
        assert_eq!(a, signing_key("one", "20240229", "r", "s3"));
        assert_eq!(a, key("one", "20240229", "r"));
        let b = key("two", "20240229", "r");
        assert_eq!(b, signing_key("two", "20240229", "r", "s3"));
        assert_ne!(a, b);
        // a new day or another region under the same key is derived for it, not served stale
        let c = key("two", "20240301", "r");
        assert_eq!(c, signing_key("two", "20240301", "r", "s3"));
        let d = key("two", "20240301", "other");
        assert_eq!(d, signing_key("two", "20240301", "other", "s3"));
        // the cached MAC, fresh and from the cache, signs as HMAC under the key does
        for _ in 0..2 {
            let (k, mac) = derived("AKCACHE", "two", "20240301", "other", "s3");
            assert_eq!(
                mac.sign("a string to sign"),
                super::super::canonical::sign(&k, "a string to sign")
            );
        }
    }
}

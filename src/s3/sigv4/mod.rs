//! AWS Signature Version 4 for S3, server side: verifies `Authorization`-header and presigned-URL
//! requests, and hands back what the body decoder needs to verify aws-chunked signatures.
//!
//! Spec: AWS S3 API Reference, "Authenticating Requests (AWS Signature Version 4)" and its
//! sub-pages (header auth, query auth, "Transferring Payload in Multiple Chunks" /
//! `sigv4-streaming.html`, and "Trailing headers" / `sigv4-streaming-trailers.html`).
//!
//! What this module decides, and what it leaves to the caller:
//! * it verifies the signature over the request head and the request time;
//! * it does **not** check that the credential's region is the gateway's region, nor that the
//!   service is `s3` (both are returned in [`Verified`] for the caller to check), nor any
//!   authorization (who may do what);
//! * a [`PayloadMode::Sha256`] body must still be hashed by the caller (see
//!   [`PayloadSha256Check`]); a `STREAMING-*` body must be decoded with
//!   [`super::chunked::ChunkedDecoder`], built from [`Verified::chunk_verifier`].
//!
//! `headers` are always passed as received (`(name, value)` pairs, any case, names possibly
//! repeated). Over HTTP/2 the caller must add `host` from `:authority`.

mod auth;
mod canonical;
mod error;
mod sign;

use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

pub use auth::{
    format_amz_date, parse_amz_date, parse_authorization, parse_http_date, parse_presigned,
    AuthHeader, Credential, Presigned, SignedHeaders,
};
pub use canonical::{
    canonical_query, canonical_request, canonical_request_presigned, canonical_uri, hex32,
    hmac_sha256, parse_query, scope, sha256_hex, sign, signatures_match, signing_key,
    string_to_sign, uri_encode, uri_encode_bytes, HeaderPair, PreparedMac, SignedNames,
};
pub use error::{Result, SigError};
pub use sign::{
    authorization_header, derived, presign_query, resign, resign_for, Credentials, Outgoing,
    Resigned, SigningParams, MAX_CACHED_SIGNING_KEYS,
};

/// The only signing algorithm accepted (SigV2 and SigV4a are refused).
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// `x-amz-content-sha256` of a request whose body is not covered by the signature.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// aws-chunked body, every chunk signed.
pub const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// aws-chunked body, every chunk signed, followed by signed trailing headers.
pub const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
/// aws-chunked body, chunks unsigned, followed by (unsigned) trailing checksum headers.
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
/// SHA-256 of the empty string, lower-case hex.
pub const EMPTY_SHA256_HEX: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Default permitted difference between the request time and the server clock: 15 minutes,
/// AWS's value. Bounds how long a captured header-signed request can be replayed.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);
/// Longest presigned-URL lifetime (`X-Amz-Expires`): 604800 s = 7 days, AWS's value. Stops
/// long-lived bearer URLs that outlive a key rotation or revocation window.
pub const MAX_PRESIGN_EXPIRES_SECS: u64 = 7 * 24 * 60 * 60;
/// Longest `Authorization` header parsed: 16 KiB (default). Enough for [`MAX_SIGNED_HEADERS`]
/// names; stops CPU and memory spent parsing an arbitrarily long header.
pub const MAX_AUTH_HEADER_BYTES: usize = 16 * 1024;
/// Most names in `SignedHeaders`: 256 (default). Clients sign every header they send, including
/// `x-amz-meta-*`; this stops a request from making the server build an enormous canonical request.
pub const MAX_SIGNED_HEADERS: usize = 256;
/// Most query parameters canonicalised: the request parser's limit (one limit, issue 12).
pub use crate::s3::op::MAX_QUERY_PARAMS;

/// What the decoder needs to verify (and the encoder to produce) a chunk-signature chain:
/// the signing key of the request's scope, never the secret. `Debug` redacts the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ChunkVerifier {
    pub signing_key: [u8; 32],
    /// `yyyymmddThhmmssZ` of the request.
    pub amz_date: String,
    /// `yyyymmdd/region/service/aws4_request`.
    pub scope: String,
    /// The request (seed) signature, lower-case hex.
    pub seed_signature: String,
}

impl std::fmt::Debug for ChunkVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkVerifier")
            .field("signing_key", &"<redacted>")
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope)
            .field("seed_signature", &self.seed_signature)
            .finish()
    }
}

/// What `x-amz-content-sha256` promised about the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadMode {
    /// The body's SHA-256 (the caller must check it before committing the object).
    Sha256([u8; 32]),
    /// `UNSIGNED-PAYLOAD`: the body is not covered by the signature.
    Unsigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`.
    StreamingSigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`.
    StreamingSignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`.
    StreamingUnsignedTrailer,
}

impl PayloadMode {
    /// Parses an `x-amz-content-sha256` value.
    pub fn parse(value: &str) -> Result<PayloadMode> {
        match value {
            UNSIGNED_PAYLOAD => Ok(PayloadMode::Unsigned),
            STREAMING_SIGNED => Ok(PayloadMode::StreamingSigned),
            STREAMING_SIGNED_TRAILER => Ok(PayloadMode::StreamingSignedTrailer),
            STREAMING_UNSIGNED_TRAILER => Ok(PayloadMode::StreamingUnsignedTrailer),
            v if v.starts_with("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD") => Err(
                SigError::NotImplemented("SigV4a (ECDSA) streaming payload signing"),
            ),
            v if v.len() == 64 => {
                let mut h = [0u8; 32];
                hex::decode_to_slice(v, &mut h).map_err(|_| SigError::InvalidContentSha256)?;
                Ok(PayloadMode::Sha256(h))
            }
            _ => Err(SigError::InvalidContentSha256),
        }
    }

    /// Whether the body is aws-chunked encoded (one of the `STREAMING-*` values).
    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            PayloadMode::StreamingSigned
                | PayloadMode::StreamingSignedTrailer
                | PayloadMode::StreamingUnsignedTrailer
        )
    }
}

/// The parts of a request that SigV4 covers, as received. `H` is how headers are held: owned
/// pairs as received (verification), borrowed ones (re-signing).
#[derive(Debug)]
pub struct RequestParts<'a, H = (String, String)> {
    /// `GET`, `PUT`, … as sent.
    pub method: &'a str,
    /// The path as sent on the request line, still percent-encoded, without the query.
    pub raw_path: &'a str,
    /// The query as sent, without the leading `?` (empty if none).
    pub raw_query: &'a str,
    /// All request headers as received.
    pub headers: &'a [H],
}

// by hand: derived, they would ask `H: Copy` of the headers behind the reference
impl<H> Clone for RequestParts<'_, H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H> Copy for RequestParts<'_, H> {}

/// Which signature scheme a request was verified with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigVersion {
    V4,
    /// Legacy SigV2 (`super::super::sigv2`): no region, no scope, body unsigned.
    V2,
}

/// A request whose signature verified.
#[derive(Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key: String,
    pub region: String,
    pub service: String,
    /// The request time as signed (`yyyymmddThhmmssZ`).
    pub amz_date: String,
    pub date_time: DateTime<Utc>,
    /// `yyyymmdd/region/service/aws4_request`.
    pub scope: String,
    /// The verified signature: the seed of the aws-chunked signature chain
    /// ([`Verified::seed_signature`] spells it in hex).
    pub signature: [u8; 32],
    /// The day/region/service signing key (never the secret itself): needed to verify chunk and
    /// trailer signatures. Redacted from `Debug`.
    pub signing_key: [u8; 32],
    pub payload: PayloadMode,
    /// Lower-case, sorted names of the signed headers.
    pub signed_headers: SignedHeaders,
    /// Whether the request was authenticated by a presigned URL.
    pub presigned: bool,
    pub version: SigVersion,
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("access_key", &self.access_key)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope)
            .field("seed_signature", &self.seed_signature())
            .field("signing_key", &"<redacted>")
            .field("payload", &self.payload)
            .field("signed_headers", &self.signed_headers)
            .field("presigned", &self.presigned)
            .field("version", &self.version)
            .finish()
    }
}

impl Verified {
    /// The verified signature, lower-case hex (built on demand: only aws-chunked bodies need it).
    pub fn seed_signature(&self) -> String {
        hex32(&self.signature)
    }

    /// What [`super::chunked::ChunkedDecoder`] needs to verify the chunk signature chain.
    pub fn chunk_verifier(&self) -> ChunkVerifier {
        ChunkVerifier {
            signing_key: self.signing_key,
            amz_date: self.amz_date.clone(),
            scope: self.scope.clone(),
            seed_signature: self.seed_signature(),
        }
    }
}

/// Values of every header named `name` (case-insensitive), in order.
fn header_values<'h, H: HeaderPair>(
    headers: &'h [H],
    name: &'h str,
) -> impl Iterator<Item = &'h str> + 'h {
    headers
        .iter()
        .filter(move |h| h.name().eq_ignore_ascii_case(name))
        .map(HeaderPair::value)
}

/// The single value of header `name`; `Ok(None)` if absent, `Err(())` if repeated.
fn single_header<'h, H: HeaderPair>(
    headers: &'h [H],
    name: &'h str,
) -> std::result::Result<Option<&'h str>, ()> {
    let mut it = header_values(headers, name);
    let first = it.next();
    if it.next().is_some() {
        return Err(());
    }
    Ok(first)
}

/// Whether the raw query carries presigned-URL parameters (the one rule, `s3::scheme`).
fn query_has_presign(raw_query: &str) -> bool {
    crate::s3::scheme::query_has(raw_query, crate::s3::scheme::V4_PRESIGN_PARAMS)
}

/// Every `x-amz-*` header must be signed: otherwise anyone replaying a captured request could
/// add e.g. `x-amz-copy-source`, `x-amz-acl` or `x-amz-meta-*` to it. S3 answers `AccessDenied`
/// ("There were headers present in the request which were not signed").
///
/// One exception: `x-amz-content-sha256` may be unsigned on a request without a body. VMware's
/// OSIS verifier signs only `host;x-amz-date` for its `GET /` (osis-api.md §10 item 6), and with no
/// body there is nothing the hash could protect. A request with a body must sign it.
fn check_amz_headers_signed<H: HeaderPair>(headers: &[H], signed: &SignedHeaders) -> Result<()> {
    let bodyless = header_values(headers, "transfer-encoding").next().is_none()
        && header_values(headers, "content-length").all(|v| v.trim() == "0");
    let mut unsigned: Vec<String> = headers
        .iter()
        // only `x-amz-*` names are lower-cased (a copy each), not every header
        .map(HeaderPair::name)
        .filter(|n| n.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("x-amz-")))
        .map(str::to_ascii_lowercase)
        .filter(|n| !is_signed(signed, n))
        .filter(|n| !(bodyless && n == "x-amz-content-sha256"))
        .collect();
    if unsigned.is_empty() {
        return Ok(());
    }
    unsigned.sort_unstable();
    unsigned.dedup();
    Err(SigError::HeadersNotSigned(unsigned.join(",")))
}

/// Whether `name` (lower-case) is among the `signed` names.
fn is_signed(signed: &SignedHeaders, name: &str) -> bool {
    signed.contains(name)
}

fn require_host_signed(signed: &SignedHeaders, malformed: fn(String) -> SigError) -> Result<()> {
    if !is_signed(signed, "host") {
        return Err(malformed("SignedHeaders must include host".into()));
    }
    Ok(())
}

fn skew_error(request_time: &str, now: DateTime<Utc>, max_skew: Duration) -> SigError {
    SigError::RequestTimeTooSkewed {
        request_time: request_time.to_owned(),
        server_time: now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        max_skew_ms: u64::try_from(max_skew.as_millis()).unwrap_or(u64::MAX),
    }
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The signing key of a client's credential: derived once per key and day for `s3` (the
/// only service accepted; any other is derived afresh and refused by the caller).
fn client_key(c: &Credential, secret: &str) -> ([u8; 32], PreparedMac) {
    if c.service == "s3" {
        derived(&c.access_key, secret, &c.date, &c.region, "s3")
    } else {
        let key = signing_key(secret, &c.date, &c.region, &c.service);
        (key, PreparedMac::new(&key))
    }
}

/// Verifies a request authenticated by either mechanism: presigned query parameters or an
/// `Authorization` header (both at once is refused, neither is [`SigError::MissingAuth`]).
pub fn verify<H: HeaderPair, S: AsRef<str>>(
    parts: &RequestParts<'_, H>,
    lookup_secret: impl FnOnce(&str) -> Option<S>,
    now: DateTime<Utc>,
    max_skew: Duration,
) -> Result<Verified> {
    let has_header = header_values(parts.headers, "authorization")
        .next()
        .is_some();
    match (has_header, query_has_presign(parts.raw_query)) {
        (true, true) => Err(SigError::MultipleAuthMechanisms),
        (true, false) => verify_header_auth(parts, lookup_secret, now, max_skew),
        (false, true) => verify_presigned(parts, lookup_secret, now, max_skew),
        (false, false) => Err(SigError::MissingAuth),
    }
}

/// Verifies a request signed in its `Authorization` header.
///
/// Checks, in order: one well-formed `Authorization` header; the request time (`x-amz-date`,
/// else `Date`), which must be signed, match the credential date and lie within `max_skew` of
/// `now`; `host` and every `x-amz-*` header signed; `x-amz-content-sha256` present and valid
/// (S3 requires it for SigV4); the access key known; the signature (constant-time compare).
pub fn verify_header_auth<H: HeaderPair, S: AsRef<str>>(
    parts: &RequestParts<'_, H>,
    lookup_secret: impl FnOnce(&str) -> Option<S>,
    now: DateTime<Utc>,
    max_skew: Duration,
) -> Result<Verified> {
    if query_has_presign(parts.raw_query) {
        return Err(SigError::MultipleAuthMechanisms);
    }
    let headers = parts.headers;
    let auth_value = single_header(headers, "authorization")
        .map_err(|()| SigError::MalformedAuth("more than one Authorization header".into()))?
        .ok_or(SigError::MissingAuth)?;
    let auth = parse_authorization(auth_value)?;

    // The request time: x-amz-date wins over Date (header auth spec, "x-amz-date or Date").
    let (date_header, raw_date, date_time) = match single_header(headers, "x-amz-date") {
        Err(()) => {
            return Err(SigError::InvalidDate(
                "more than one x-amz-date header".into(),
            ))
        }
        Ok(Some(v)) => (
            "x-amz-date",
            v,
            parse_amz_date(v).map_err(SigError::InvalidDate)?,
        ),
        Ok(None) => match single_header(headers, "date") {
            Err(()) => return Err(SigError::InvalidDate("more than one Date header".into())),
            Ok(Some(v)) => (
                "date",
                v,
                parse_http_date(v).map_err(SigError::InvalidDate)?,
            ),
            Ok(None) => return Err(SigError::InvalidDate("neither is present".into())),
        },
    };
    // An unsigned date could be refreshed by anyone replaying the request.
    if !is_signed(&auth.signed_headers, date_header) {
        return Err(SigError::HeadersNotSigned(date_header.to_owned()));
    }
    let amz_date = format_amz_date(&date_time);
    let request_day = amz_date.get(..8).unwrap_or_default();
    if auth.credential.date != request_day {
        return Err(SigError::MalformedAuth(format!(
            "Invalid credential date '{}'. Date is not the same as the request date '{request_day}'",
            auth.credential.date
        )));
    }
    let skew = to_chrono(max_skew);
    let too_late = now.checked_add_signed(skew).is_some_and(|t| date_time > t);
    let too_early = now.checked_sub_signed(skew).is_some_and(|t| date_time < t);
    if too_late || too_early {
        return Err(skew_error(raw_date, now, max_skew));
    }
    require_host_signed(&auth.signed_headers, SigError::MalformedAuth)?;
    check_amz_headers_signed(headers, &auth.signed_headers)?;

    let content_sha = single_header(headers, "x-amz-content-sha256")
        .map_err(|()| SigError::InvalidContentSha256)?
        .ok_or(SigError::MissingContentSha256)?;
    let payload = PayloadMode::parse(content_sha)?;

    let secret = lookup_secret(&auth.credential.access_key).ok_or(SigError::InvalidAccessKeyId)?;
    let creq = canonical_request(
        parts.method,
        parts.raw_path,
        parts.raw_query,
        headers,
        &auth.signed_headers,
        content_sha,
    )?;
    let scope = auth.credential.scope();
    let (key, mac) = client_key(&auth.credential, secret.as_ref());
    let expected = mac.sign_canonical(&amz_date, &scope, &creq);
    if !signatures_match(&expected, &auth.signature) {
        return Err(SigError::SignatureDoesNotMatch);
    }
    Ok(Verified {
        access_key: auth.credential.access_key,
        region: auth.credential.region,
        service: auth.credential.service,
        amz_date,
        date_time,
        scope,
        signature: expected,
        signing_key: key,
        payload,
        signed_headers: auth.signed_headers,
        presigned: false,
        version: SigVersion::V4,
    })
}

/// Verifies a presigned-URL request (`X-Amz-*` query parameters).
///
/// The validity window is `[X-Amz-Date − max_skew, X-Amz-Date + X-Amz-Expires]`: the skew only
/// tolerates a client clock slightly ahead of ours, it never extends the expiry. The payload
/// hash signed is `UNSIGNED-PAYLOAD` unless the client signed an `x-amz-content-sha256` header.
pub fn verify_presigned<H: HeaderPair, S: AsRef<str>>(
    parts: &RequestParts<'_, H>,
    lookup_secret: impl FnOnce(&str) -> Option<S>,
    now: DateTime<Utc>,
    max_skew: Duration,
) -> Result<Verified> {
    let headers = parts.headers;
    if header_values(headers, "authorization").next().is_some() {
        return Err(SigError::MultipleAuthMechanisms);
    }
    let pairs = parse_query(parts.raw_query)?;
    let p = parse_presigned(&pairs)?;
    let request_day = p.amz_date.get(..8).unwrap_or_default();
    if p.credential.date != request_day {
        return Err(SigError::MalformedPresign(format!(
            "Invalid credential date '{}'. Date is not the same as X-Amz-Date '{request_day}'",
            p.credential.date
        )));
    }
    let valid_from = p.date_time.checked_sub_signed(to_chrono(max_skew));
    if valid_from.is_some_and(|t| now < t) {
        return Err(SigError::PresignNotYetValid);
    }
    // expires_secs ≤ 604800, so the conversion cannot fail.
    let expires = chrono::Duration::seconds(i64::try_from(p.expires_secs).unwrap_or(0));
    let valid_until = p.date_time.checked_add_signed(expires);
    if valid_until.is_none_or(|t| now > t) {
        return Err(SigError::ExpiredPresign);
    }
    require_host_signed(&p.signed_headers, SigError::MalformedPresign)?;
    check_amz_headers_signed(headers, &p.signed_headers)?;

    let (payload_hash, payload) = if is_signed(&p.signed_headers, "x-amz-content-sha256") {
        let v = single_header(headers, "x-amz-content-sha256")
            .map_err(|()| SigError::InvalidContentSha256)?
            .ok_or(SigError::MissingContentSha256)?;
        (v, PayloadMode::parse(v)?)
    } else {
        (UNSIGNED_PAYLOAD, PayloadMode::Unsigned)
    };

    let secret = lookup_secret(&p.credential.access_key).ok_or(SigError::InvalidAccessKeyId)?;
    let creq = canonical_request_presigned(
        parts.method,
        parts.raw_path,
        parts.raw_query,
        headers,
        &p.signed_headers,
        payload_hash,
    )?;
    let scope = p.credential.scope();
    let (key, mac) = client_key(&p.credential, secret.as_ref());
    let expected = mac.sign_canonical(&p.amz_date, &scope, &creq);
    if !signatures_match(&expected, &p.signature) {
        return Err(SigError::SignatureDoesNotMatch);
    }
    Ok(Verified {
        access_key: p.credential.access_key,
        region: p.credential.region,
        service: p.credential.service,
        amz_date: p.amz_date,
        date_time: p.date_time,
        scope,
        signature: expected,
        signing_key: key,
        payload,
        signed_headers: p.signed_headers,
        presigned: true,
        version: SigVersion::V4,
    })
}

/// Incremental check of a body against the SHA-256 promised by `x-amz-content-sha256`
/// ([`PayloadMode::Sha256`]). The caller must not commit the object before [`Self::finish`]
/// returns `Ok`.
#[derive(Clone)]
pub struct PayloadSha256Check {
    expected: [u8; 32],
    hasher: Sha256,
}

impl PayloadSha256Check {
    pub fn new(expected: [u8; 32]) -> Self {
        PayloadSha256Check {
            expected,
            hasher: Sha256::new(),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    /// `Err(XAmzContentSha256Mismatch)` unless the body hashed to the promised value.
    pub fn finish(self) -> Result<()> {
        let got: [u8; 32] = self.hasher.finalize().into();
        if signatures_match(&got, &self.expected) {
            Ok(())
        } else {
            Err(SigError::XAmzContentSha256Mismatch)
        }
    }
}

#[cfg(test)]
mod tests;

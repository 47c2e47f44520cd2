//! The canonical request, string to sign and signing key of AWS Signature Version 4.
//!
//! Spec: AWS S3 API Reference, "Signature Calculations for the Authorization Header" (task 1:
//! canonical request; task 2: string to sign; task 3: signature), and the IAM user guide
//! "Create a canonical request for Signature Version 4". Two S3-specific rules differ from the
//! generic SigV4 signer and are followed here: the URI path is encoded **once** (no double
//! encoding) and is **not** normalised (no removal of `.`/`..` segments or of repeated `/`),
//! because S3 object keys may legitimately contain all of those.

use hmac::{Hmac, Mac};
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{Result, SigError};
use super::{SignedHeaders, ALGORITHM, MAX_QUERY_PARAMS};

type HmacSha256 = Hmac<Sha256>;

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Percent-encodes `s` the way SigV4 requires: every byte except the unreserved characters
/// `A-Z a-z 0-9 - _ . ~` becomes `%XY` with upper-case hex; `/` is kept only when
/// `encode_slash` is false (object key paths). Multi-byte UTF-8 is encoded byte by byte.
pub fn uri_encode(s: &str, encode_slash: bool) -> String {
    uri_encode_bytes(s.as_bytes(), encode_slash)
}

/// [`uri_encode`] over raw bytes (a percent-decoded path segment need not be UTF-8).
pub fn uri_encode_bytes(bytes: &[u8], encode_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 2);
    uri_encode_into(bytes.iter().copied(), encode_slash, &mut out);
    out
}

/// SigV4's unreserved characters `A-Z a-z 0-9 - _ . ~`, never percent-encoded.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Appends the SigV4 encoding of `bytes` to `out` (the canonical URI and query are built in one
/// buffer, without a `String` per segment or parameter).
fn uri_encode_into(bytes: impl Iterator<Item = u8>, encode_slash: bool, out: &mut String) {
    for b in bytes {
        let keep = unreserved(b) || (b == b'/' && !encode_slash);
        if keep {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0x0f)]));
        }
    }
}

/// Decodes `%XY` escapes (invalid escapes are kept literally); `+` stays a literal plus,
/// because SigV4 signers never emit `+` for a space (they emit `%20`).
fn decode(s: &str) -> Vec<u8> {
    percent_decode_str(s).collect()
}

/// The canonical URI of an S3 request: the raw path split on `/`, each segment percent-decoded
/// and re-encoded (so `%24` and `$` both canonicalise to `%24`, and an encoded `%2F` inside a
/// segment stays `%2F`), joined with `/`. An empty path is `/`.
pub fn canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".to_owned();
    }
    let mut out = String::with_capacity(raw_path.len() + 8);
    canonical_uri_into(raw_path, &mut out);
    out
}

/// `s` split at the ASCII byte `sep` (found with memchr): like `str::split`, without the
/// generic char-pattern searcher, which was the largest single cost of parsing a credential
/// and its signed-header list (issue 13). `sep` is ASCII, so every piece is a `str` slice on
/// character boundaries.
pub(super) fn split_ascii(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    debug_assert!(sep.is_ascii());
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        match memchr::memchr(sep, r.as_bytes()) {
            Some(i) => {
                rest = r.get(i + 1..);
                r.get(..i)
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// `s` split at the first ASCII byte `sep`, like `str::split_once`.
pub(super) fn split_at_byte(s: &str, sep: u8) -> Option<(&str, &str)> {
    debug_assert!(sep.is_ascii());
    let i = memchr::memchr(sep, s.as_bytes())?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// [`canonical_uri`] appended to `out`.
fn canonical_uri_into(raw_path: &str, out: &mut String) {
    if raw_path.is_empty() {
        out.push('/');
        return;
    }
    for (i, segment) in split_ascii(raw_path, b'/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if memchr::memchr(b'%', segment.as_bytes()).is_some() {
            uri_encode_into(percent_decode_str(segment), true, out);
        } else {
            encode_runs_into(segment, out);
        }
    }
}

/// [`uri_encode_into`] of a segment with nothing to decode: runs of unreserved bytes are copied
/// whole instead of a char at a time (the common case of an object key).
fn encode_runs_into(segment: &str, out: &mut String) {
    let bytes = segment.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if unreserved(b) {
            continue;
        }
        // a non-empty run is unreserved ASCII, so both its ends are char boundaries; after a
        // multi-byte char's lead byte the run is empty until the char ends
        out.push_str(segment.get(run..i).unwrap_or_default());
        uri_encode_into(std::iter::once(b), true, out);
        run = i + 1;
    }
    out.push_str(segment.get(run..).unwrap_or_default());
}

/// Splits a raw query string into percent-decoded `(name, value)` pairs, in order; a parameter
/// without `=` has the empty value. Invalid UTF-8 is replaced (U+FFFD), which only matters for
/// reading the `X-Amz-*` parameters: the canonical query is built from the raw bytes.
/// Fails past [`MAX_QUERY_PARAMS`] parameters.
pub fn parse_query(raw_query: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for piece in raw_query.split('&').filter(|p| !p.is_empty()) {
        if pairs.len() >= MAX_QUERY_PARAMS {
            return Err(SigError::MalformedPresign(format!(
                "more than {MAX_QUERY_PARAMS} query parameters"
            )));
        }
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        pairs.push((
            String::from_utf8_lossy(&decode(k)).into_owned(),
            String::from_utf8_lossy(&decode(v)).into_owned(),
        ));
    }
    Ok(pairs)
}

/// The canonical query string: every parameter decoded then re-encoded (including `/` and `=`),
/// sorted by encoded name then encoded value, joined as `name=value` with `&`. With
/// `exclude_signature` (presigned URLs) the `X-Amz-Signature` parameter is left out, since it
/// cannot sign itself.
pub fn canonical_query(raw_query: &str, exclude_signature: bool) -> Result<String> {
    let mut out = String::new();
    canonical_query_into(raw_query, exclude_signature, &mut out)?;
    Ok(out)
}

/// [`canonical_query`] appended to `out` (no string of its own, none at all for an empty query).
fn canonical_query_into(raw_query: &str, exclude_signature: bool, out: &mut String) -> Result<()> {
    if raw_query.is_empty() {
        return Ok(());
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for piece in raw_query.split('&').filter(|p| !p.is_empty()) {
        if pairs.len() >= MAX_QUERY_PARAMS {
            return Err(SigError::MalformedAuth(format!(
                "more than {MAX_QUERY_PARAMS} query parameters"
            )));
        }
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        let key = decode(k);
        if exclude_signature && key == b"X-Amz-Signature" {
            continue;
        }
        pairs.push((
            uri_encode_bytes(&key, true),
            uri_encode_bytes(&decode(v), true),
        ));
    }
    pairs.sort_unstable();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    Ok(())
}

/// A request header as the canonicaliser reads it: owned pairs as received (verification) or
/// borrowed ones (re-signing builds its header list without copying a string, issue 13).
/// The signed header names of a canonical request: lower-case, sorted, unique — a parsed
/// [`SignedHeaders`] or a list of names.
pub trait SignedNames {
    fn names(&self) -> impl Iterator<Item = &str>;
}

impl<S: AsRef<str>> SignedNames for [S] {
    fn names(&self) -> impl Iterator<Item = &str> {
        self.iter().map(AsRef::as_ref)
    }
}

impl<S: AsRef<str>, const N: usize> SignedNames for [S; N] {
    fn names(&self) -> impl Iterator<Item = &str> {
        self.iter().map(AsRef::as_ref)
    }
}

impl<S: AsRef<str>> SignedNames for Vec<S> {
    fn names(&self) -> impl Iterator<Item = &str> {
        self.iter().map(AsRef::as_ref)
    }
}

impl SignedNames for SignedHeaders {
    fn names(&self) -> impl Iterator<Item = &str> {
        self.iter()
    }
}

pub trait HeaderPair {
    fn name(&self) -> &str;
    fn value(&self) -> &str;
}

impl HeaderPair for (String, String) {
    fn name(&self) -> &str {
        &self.0
    }
    fn value(&self) -> &str {
        &self.1
    }
}

impl HeaderPair for (&str, &str) {
    fn name(&self) -> &str {
        self.0
    }
    fn value(&self) -> &str {
        self.1
    }
}

/// Trims a header value and collapses each inner run of spaces/tabs into one space
/// (the "Trimall" step of the canonical headers).
fn trim_all(value: &str, out: &mut String) {
    // most values have nothing to trim or collapse: copied whole
    let b = value.as_bytes();
    let edge = |c: Option<&u8>| matches!(c, Some(b' ' | b'\t'));
    // a tab, or a space after a space (memchr: vectorised, values are mostly space-free)
    let collapsible = memchr::memchr(b'\t', b).is_some()
        || memchr::memchr_iter(b' ', b).any(|i| b.get(i + 1) == Some(&b' '));
    if !edge(b.first()) && !edge(b.last()) && !collapsible {
        out.push_str(value);
        return;
    }
    let mut pending_space = false;
    for c in value.trim_matches(|c| c == ' ' || c == '\t').chars() {
        if c == ' ' || c == '\t' {
            pending_space = true;
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
}

/// The canonical request (task 1 of SigV4):
///
/// ```text
/// METHOD \n CanonicalURI \n CanonicalQuery \n (name:value \n)* \n SignedHeaders \n PayloadHash
/// ```
///
/// `headers` are the request headers as received (any case, names possibly repeated; repeated
/// values are joined with `,` in the order received). `signed_headers` are the lower-case names
/// from the credential, already sorted (see [`super::parse_authorization`]). A signed header
/// absent from the request is an error rather than an empty value: signing a header that was
/// not sent is a client bug, and accepting it would let a proxy drop signed headers.
pub fn canonical_request<N: SignedNames + ?Sized, H: HeaderPair>(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &[H],
    signed_headers: &N,
    payload_hash: &str,
) -> Result<String> {
    build_canonical_request(
        method,
        raw_path,
        raw_query,
        false,
        headers,
        signed_headers,
        payload_hash,
    )
}

/// [`canonical_request`] for a presigned URL: identical except that `X-Amz-Signature` is left
/// out of the canonical query.
pub fn canonical_request_presigned<N: SignedNames + ?Sized, H: HeaderPair>(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &[H],
    signed_headers: &N,
    payload_hash: &str,
) -> Result<String> {
    build_canonical_request(
        method,
        raw_path,
        raw_query,
        true,
        headers,
        signed_headers,
        payload_hash,
    )
}

fn build_canonical_request<N: SignedNames + ?Sized, H: HeaderPair>(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    exclude_signature: bool,
    headers: &[H],
    signed_headers: &N,
    payload_hash: &str,
) -> Result<String> {
    let mut out = String::with_capacity(512);
    out.push_str(method);
    out.push('\n');
    canonical_uri_into(raw_path, &mut out);
    out.push('\n');
    canonical_query_into(raw_query, exclude_signature, &mut out)?;
    out.push('\n');
    for name in signed_headers.names() {
        out.push_str(name);
        out.push(':');
        let mut found = false;
        for h in headers
            .iter()
            .filter(|h| h.name().eq_ignore_ascii_case(name))
        {
            if found {
                out.push(',');
            }
            found = true;
            trim_all(h.value(), &mut out);
        }
        if !found {
            return Err(SigError::MalformedAuth(format!(
                "signed header '{name}' is not present in the request"
            )));
        }
        out.push('\n');
    }
    out.push('\n');
    for (i, name) in signed_headers.names().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
    out.push('\n');
    out.push_str(payload_hash);
    Ok(out)
}

/// SHA-256 of `data`, lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex32(&Sha256::digest(data).into())
}

/// A 32-byte digest or signature as 64 lower-case hex digits, encoded into a stack buffer first
/// (`hex::encode` builds its `String` a char at a time: 3.5 % of the verify + re-sign bench).
pub fn hex32(bytes: &[u8; 32]) -> String {
    let mut buf = [0u8; 64];
    match hex::encode_to_slice(bytes, &mut buf) {
        // hex digits are ASCII
        Ok(()) => std::str::from_utf8(&buf)
            .map(str::to_owned)
            .unwrap_or_default(),
        Err(_) => unreachable!("64 digits fit 32 bytes"),
    }
}

/// The credential scope `yyyymmdd/region/service/aws4_request`.
pub fn scope(date: &str, region: &str, service: &str) -> String {
    // one exact allocation, not `format!`: this and the string to sign run on every request
    [date, "/", region, "/", service, "/aws4_request"].concat()
}

/// The string to sign (task 2): `AWS4-HMAC-SHA256 \n amz_date \n scope \n hex(sha256(creq))`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request_hash: &str) -> String {
    [
        ALGORITHM,
        "\n",
        amz_date,
        "\n",
        scope,
        "\n",
        canonical_request_hash,
    ]
    .concat()
}

/// HMAC-SHA256(key, data).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC-SHA256 accepts any key length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The signing key (task 3): `HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service),
/// "aws4_request")`. It is valid for one day, region and service, so it can be handed to the
/// chunk verifier without exposing the secret.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_secret = format!("AWS4{secret}");
    let k_date = hmac_sha256(k_secret.as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// The signature of a string to sign under a signing key.
pub fn sign(signing_key: &[u8; 32], string_to_sign: &str) -> [u8; 32] {
    hmac_sha256(signing_key, string_to_sign.as_bytes())
}

/// HMAC-SHA256 under one signing key with the key's padded blocks already hashed: [`sign`]
/// hashes them again for every message (2 of the 6 compressions of a request's signature),
/// this keeps the state and clones it (issue 13). Cached beside the derived key.
#[derive(Clone)]
pub struct PreparedMac(HmacSha256);

impl PreparedMac {
    pub fn new(signing_key: &[u8; 32]) -> Self {
        match HmacSha256::new_from_slice(signing_key) {
            Ok(m) => PreparedMac(m),
            Err(_) => unreachable!("HMAC-SHA256 accepts any key length"),
        }
    }

    /// [`sign`] of `string_to_sign`.
    pub fn sign(&self, string_to_sign: &str) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(string_to_sign.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The signature of a canonical request: [`sign`] of its [`string_to_sign`], fed to the MAC
    /// piece by piece with the hash hex-encoded on the stack, so neither string is built (two
    /// allocations per signature, issue 13).
    pub fn sign_canonical(&self, amz_date: &str, scope: &str, canonical_request: &str) -> [u8; 32] {
        let digest: [u8; 32] = Sha256::digest(canonical_request.as_bytes()).into();
        let mut hex = [0u8; 64];
        // 64 bytes is exactly what 32 bytes take in hex, so this cannot fail
        let _ = hex::encode_to_slice(digest, &mut hex);
        let mut mac = self.0.clone();
        for part in [
            ALGORITHM.as_bytes(),
            b"\n",
            amz_date.as_bytes(),
            b"\n",
            scope.as_bytes(),
            b"\n",
            &hex,
        ] {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

/// Compares two signatures in constant time, so the time to reject a forged signature does not
/// reveal how many leading bytes were right.
pub fn signatures_match(a: &[u8; 32], b: &[u8; 32]) -> bool {
    bool::from(a.ct_eq(b))
}

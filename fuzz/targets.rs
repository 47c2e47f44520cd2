//! The bodies of Osprey's fuzz targets, one plain function per parser family that sees network
//! bytes. Included (not linked) by the AFL++ binaries in `fuzz/src/bin/` and by the corpus replay
//! test `tests/fuzz_corpus.rs`, so CI replays every seed and every saved crash without AFL:
//!
//! ```ignore
//! #[path = "../fuzz/targets.rs"]
//! mod targets;
//! ```
//!
//! Every function must never panic on any input. Beyond that each one asserts invariants that must
//! hold for all inputs (a failed `assert!` is a crash to AFL). Only Osprey's public API is used.
//! Input layouts (text targets split the input at `\n`) are described in docs/fuzzing.md.
#![allow(dead_code)]

use std::time::Duration;

use bytes::BytesMut;
use chrono::{DateTime, TimeZone, Utc};

use osprey::s3::checksum::{checksum_base64, ChecksumAlgorithm};
use osprey::s3::chunked::{
    self, parse_trailer_header, unsigned_chunk, unsigned_final_chunk, ChunkedDecoder,
    ChunkedSigner, ChunkedStream,
};
use osprey::s3::sigv4::{self, ChunkVerifier, PayloadMode, RequestParts, SigError};

/// A target's name (its directory under fuzz/corpus and fuzz/crashes) and body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target by name.
pub const TARGETS: &[Target] = &[
    ("sigv4", sigv4),
    ("chunked", chunked),
    ("s3op", s3op),
    ("xml", xml),
    ("osis", osis),
    ("config", config),
    ("post", post),
];

// ------------------------------------------------------------------------------------ helpers

/// AWS documentation example credentials (S3 API Reference) and the aws-sig-v4-test-suite's.
pub const AWS_AK: &str = "AKIAIOSFODNN7EXAMPLE";
pub const AWS_SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub const SUITE_AK: &str = "AKIDEXAMPLE";
pub const SUITE_SK: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// The request time of the AWS S3 examples.
pub const AWS_DATE: &str = "20130524T000000Z";
pub const AWS_SCOPE: &str = "20130524/us-east-1/s3/aws4_request";
/// Seed signature of the AWS `sigv4-streaming.html` example.
pub const AWS_SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";

pub fn lookup(ak: &str) -> Option<String> {
    match ak {
        AWS_AK => Some(AWS_SK.to_owned()),
        SUITE_AK => Some(SUITE_SK.to_owned()),
        _ => None,
    }
}

pub fn aws_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2013, 5, 24, 0, 0, 0).unwrap()
}

/// The chunk-signing context of the AWS streaming example.
pub fn aws_chunk_verifier() -> ChunkVerifier {
    ChunkVerifier {
        signing_key: sigv4::signing_key(AWS_SK, "20130524", "us-east-1", "s3"),
        amz_date: AWS_DATE.into(),
        scope: AWS_SCOPE.into(),
        seed_signature: AWS_SEED.into(),
    }
}

/// Another signing context (the "backend" of a re-chained body).
pub fn backend_chunk_verifier() -> ChunkVerifier {
    ChunkVerifier {
        signing_key: sigv4::signing_key("backend-secret", "20130524", "eu-west-1", "s3"),
        amz_date: AWS_DATE.into(),
        scope: "20130524/eu-west-1/s3/aws4_request".into(),
        seed_signature: "11".repeat(32),
    }
}

/// Whether the invariant of a known, still open bug (fuzz/crashes/OPEN) is to be skipped:
/// `OSPREY_FUZZ_SKIP_OPEN` lists their names (comma-separated, or `all`). fuzz/run.sh sets it
/// so that long runs look for new bugs instead of re-finding the open ones; the corpus replay
/// test leaves it unset.
fn skip_open(name: &str) -> bool {
    static SKIP: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SKIP.get_or_init(|| {
        std::env::var("OSPREY_FUZZ_SKIP_OPEN")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    })
    .iter()
    .any(|s| s == name || s == "all")
}

/// Splits text input into `\n`-separated fields (a trailing `\r` is kept: it is data).
fn fields(text: &str) -> std::str::Split<'_, char> {
    text.split('\n')
}

/// `name: value` lines into header pairs (value with leading blanks removed, as HTTP parsers do).
fn header_pairs<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
    lines
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(':') {
            Some((n, v)) => (n.to_owned(), v.trim_start_matches([' ', '\t']).to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect()
}

/// Percent-decodes to bytes (`%XX` with two hex digits; anything else literal).
pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hx = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hx(b[i + 1]), hx(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// A tiny deterministic generator (xorshift) for splitting input from a seed byte.
struct Rng(u64);
impl Rng {
    fn new(seed: u8) -> Self {
        Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(seed).wrapping_mul(0x2545_F491_4F6C_DD1D) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// Splits `data` into pieces whose sizes come from `seed` (1..=4 bytes, 1..=64 or one large piece).
fn split_pieces(data: &[u8], seed: u8) -> Vec<&[u8]> {
    let mut rng = Rng::new(seed);
    let max = match seed % 4 {
        0 => 1,
        1 => 7,
        2 => 64,
        _ => 4096,
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let n = (rng.below(max) as usize + 1).min(data.len() - i);
        out.push(&data[i..i + n]);
        i += n;
    }
    out
}

// ------------------------------------------------------------------------------------- sigv4

/// Input: `METHOD\nPATH\nQUERY\nName: value\n…` (lossy UTF-8).
///
/// Runs the `Authorization` parser on every header value, the presigned-query parser, the
/// canonical URI/query/request builders, the date parsers and full `sigv4::verify` (at the AWS
/// example time and at the request's own time). Asserts: a parsed Authorization header has
/// lower-case, sorted, unique SignedHeaders; a parsed amz-date formats back to itself; a presign's
/// expiry is within 1..=7 days; `uri_encode` output is unreserved characters and `%XX` only and
/// decodes back; a request that verifies names a known key, signed `host`, and stops verifying
/// when its signature is changed; `resign` output verifies (when the input headers are
/// well-formed tokens).
pub fn sigv4(data: &[u8]) {
    if data.len() > 64 * 1024 {
        return;
    }
    let text = String::from_utf8_lossy(data);
    let mut it = fields(&text);
    let method = it.next().unwrap_or("");
    let path = it.next().unwrap_or("");
    let query = it.next().unwrap_or("");
    let headers = header_pairs(it);

    // header values through the standalone parsers
    for (_, v) in headers.iter().take(64) {
        if let Ok(a) = sigv4::parse_authorization(v) {
            let sh: Vec<&str> = a.signed_headers.iter().collect();
            assert!(
                sh.windows(2).all(|w| w[0] < w[1]),
                "SignedHeaders not sorted/unique: {sh:?}"
            );
            assert!(sh.iter().all(|h| *h == h.to_ascii_lowercase()));
            // every name is found, and the joined form is exactly the names
            assert!(sh.iter().all(|h| a.signed_headers.contains(h)));
            assert_eq!(a.signed_headers.as_str(), sh.join(";"));
            assert!(a.credential.scope().ends_with("/aws4_request"));
        }
        let _ = PayloadMode::parse(v);
        if let Ok(t) = sigv4::parse_amz_date(v) {
            assert_eq!(
                sigv4::format_amz_date(&t),
                *v,
                "amz-date does not round-trip"
            );
        }
        let _ = sigv4::parse_http_date(v);
    }
    let _ = sigv4::parse_authorization(&text);

    // query: the presign parameters
    if let Ok(pairs) = sigv4::parse_query(query) {
        if let Ok(p) = sigv4::parse_presigned(&pairs) {
            assert!((1..=sigv4::MAX_PRESIGN_EXPIRES_SECS).contains(&p.expires_secs));
            assert_eq!(sigv4::format_amz_date(&p.date_time), p.amz_date);
        }
    }

    // canonicalisation
    let cu = sigv4::canonical_uri(path);
    assert!(cu.starts_with('/') || !path.starts_with('/'));
    for encode_slash in [true, false] {
        let enc = sigv4::uri_encode(path, encode_slash);
        assert!(enc.bytes().all(|b| b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~' | b'%')
            || (b == b'/' && !encode_slash)));
        assert_eq!(
            percent_decode(&enc),
            path.as_bytes(),
            "uri_encode does not decode back"
        );
    }
    let _ = sigv4::uri_encode_bytes(data, true);
    let cq = sigv4::canonical_query(query, false);
    let _ = sigv4::canonical_query(query, true);
    if let Ok(cq) = &cq {
        // canonical form is a fixed point
        assert_eq!(sigv4::canonical_query(cq, false).as_ref(), Ok(cq));
    }
    let mut names: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    names.sort_unstable();
    names.dedup();
    let payload = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-amz-content-sha256"))
        .map_or(sigv4::EMPTY_SHA256_HEX, |(_, v)| v.as_str());
    let _ = sigv4::canonical_request(method, path, query, &headers, &names, payload);
    let _ = sigv4::canonical_request_presigned(method, path, query, &headers, &names, payload);

    // full verification, at the AWS example time and at the request's own time
    let parts = RequestParts {
        method,
        raw_path: path,
        raw_query: query,
        headers: &headers,
    };
    let mut times = vec![aws_now()];
    let own = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-amz-date"))
        .map(|(_, v)| v.clone())
        .or_else(|| {
            sigv4::parse_query(query).ok().and_then(|q| {
                q.into_iter()
                    .find(|(k, _)| k == "X-Amz-Date")
                    .map(|(_, v)| v)
            })
        });
    if let Some(t) = own.as_deref().and_then(|s| sigv4::parse_amz_date(s).ok()) {
        times.push(t);
    }
    for now in times {
        let r = sigv4::verify(&parts, lookup, now, sigv4::MAX_SKEW);
        if let Ok(v) = r {
            assert!(lookup(&v.access_key).is_some());
            assert!(v.signed_headers.iter().any(|h| h == "host"));
            assert_eq!(v.seed_signature().len(), 64);
            assert_eq!(
                v.scope,
                sigv4::scope(&v.amz_date[..8], &v.region, &v.service)
            );
            // deterministic
            assert_eq!(
                sigv4::verify(&parts, lookup, now, sigv4::MAX_SKEW),
                Ok(v.clone())
            );
            // a changed signature never verifies
            let tampered = tamper_signature(&parts, &v);
            if let Some((q, h)) = tampered {
                let p2 = RequestParts {
                    raw_query: &q,
                    headers: &h,
                    ..parts
                };
                assert!(
                    sigv4::verify(&p2, lookup, now, sigv4::MAX_SKEW).is_err(),
                    "a request with a changed signature verified"
                );
            }
            if v.payload.is_streaming() {
                let trailer =
                    (v.payload != PayloadMode::StreamingSigned).then_some(ChecksumAlgorithm::Crc32);
                let signed = v.payload != PayloadMode::StreamingUnsignedTrailer;
                assert!(ChunkedDecoder::new(
                    v.payload,
                    signed.then(|| v.chunk_verifier()),
                    trailer,
                    None
                )
                .is_ok());
            }
        }
    }

    // Osprey's own signer (gateway → backend) must produce what its verifier accepts.
    resign_verifies(method, path, query, &headers);
}

/// The request with its signature's first hex digit changed (header or presigned query).
fn tamper_signature(
    parts: &RequestParts<'_>,
    v: &sigv4::Verified,
) -> Option<(String, Vec<(String, String)>)> {
    let flip = |c: char| if c == '0' { '1' } else { '0' };
    if v.presigned {
        let i = parts.raw_query.find("X-Amz-Signature=")? + "X-Amz-Signature=".len();
        let mut q = parts.raw_query.to_owned();
        let c = q[i..].chars().next()?;
        q.replace_range(i..i + c.len_utf8(), &flip(c).to_string());
        Some((q, parts.headers.to_vec()))
    } else {
        let mut h = parts.headers.to_vec();
        let (_, val) = h
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))?;
        let i = val.find("Signature=")? + "Signature=".len();
        let c = val[i..].chars().next()?;
        val.replace_range(i..i + c.len_utf8(), &flip(c).to_string());
        Some((parts.raw_query.to_owned(), h))
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn resign_verifies(method: &str, path: &str, query: &str, headers: &[(String, String)]) {
    if headers.len() > 32 || headers.iter().map(|(n, _)| n.len() + 1).sum::<usize>() > 8192 {
        return;
    }
    let t = std::time::UNIX_EPOCH + Duration::from_secs(1_369_353_600); // 2013-05-24T00:00:00Z
    let pq = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    let r = sigv4::resign(
        &sigv4::Outgoing {
            method,
            path_and_query: &pq,
            headers,
            payload_hash: sigv4::EMPTY_SHA256_HEX,
        },
        sigv4::Credentials {
            access_key: AWS_AK,
            secret_key: AWS_SK,
        },
        "us-east-1",
        t,
    );
    let Ok(r) = r else { return };
    // Only check inputs a real gateway would sign: token header names (lower-case, as pingora
    // gives them), printable single-line values, a host header, no auth material, a sane target.
    let dropped = ["x-amz-date", "x-amz-content-sha256", "authorization"];
    let kept: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| !dropped.iter().any(|d| n.eq_ignore_ascii_case(d)))
        .cloned()
        .collect();
    let well_formed = !method.is_empty()
        && method.bytes().all(|b| b.is_ascii_uppercase())
        && path.starts_with('/')
        && !path.contains('?')
        && path.bytes().all(|b| b.is_ascii_graphic())
        && query.bytes().all(|b| b.is_ascii_graphic())
        && !query.contains("X-Amz-")
        && kept.iter().any(|(n, _)| n == "host")
        && kept
            .iter()
            .all(|(n, v)| is_token(n) && v.bytes().all(|b| (0x20..0x7f).contains(&b)));
    if !well_formed {
        return;
    }
    let mut sent = kept;
    sent.extend(r.headers.iter().map(|(n, v)| (n.to_string(), v.clone())));
    let parts = RequestParts {
        method,
        raw_path: path,
        raw_query: query,
        headers: &sent,
    };
    let v = sigv4::verify(&parts, lookup, t.into(), sigv4::MAX_SKEW);
    assert!(
        v.is_ok(),
        "verify(resign(request)) failed: {v:?}\nmethod {method:?} path {path:?} query {query:?} headers {sent:?}"
    );
    assert_eq!(v.unwrap().seed_signature(), r.context().seed_signature);
}

// ----------------------------------------------------------------------------------- chunked

const MODES: [PayloadMode; 3] = [
    PayloadMode::StreamingSigned,
    PayloadMode::StreamingSignedTrailer,
    PayloadMode::StreamingUnsignedTrailer,
];

fn new_decoder(mode: PayloadMode, alg: ChecksumAlgorithm, declared: Option<u64>) -> ChunkedDecoder {
    let signed = mode != PayloadMode::StreamingUnsignedTrailer;
    let trailer = (mode != PayloadMode::StreamingSigned).then_some(alg);
    ChunkedDecoder::new(mode, signed.then(aws_chunk_verifier), trailer, declared)
        .expect("valid decoder arguments")
}

type Decoded = Result<(Vec<u8>, chunked::DecodeSummary), SigError>;

/// Feeds `pieces` to a decoder; checks the per-call invariants; returns the decoded body.
fn run_decoder(mut dec: ChunkedDecoder, pieces: &[&[u8]]) -> Decoded {
    let mut out = Vec::new();
    let mut fed = 0usize;
    let mut emitted = 0usize;
    let mut counted = 0usize; // pieces of `out` already added to `emitted`
    for p in pieces {
        fed += p.len();
        let r = dec.feed(p, &mut out);
        emitted += out[counted..].iter().map(|b| b.len()).sum::<usize>();
        counted = out.len();
        // never more decoded bytes than raw bytes fed, never more emitted than decoded
        assert!(
            emitted <= fed,
            "decoder emitted {emitted} bytes from {fed} fed"
        );
        assert!(emitted as u64 <= dec.decoded_len());
        if let Err(e) = r {
            // poisoned: the same error again
            assert_eq!(dec.feed(b"0\r\n", &mut Vec::new()), Err(e.clone()));
            assert_eq!(dec.finish(), Err(e.clone()));
            return Err(e);
        }
    }
    let s = dec.finish()?;
    assert!(dec.is_done());
    assert_eq!(
        s.decoded_len, emitted as u64,
        "summary length != bytes emitted"
    );
    let mut body = Vec::with_capacity(emitted);
    for b in out {
        body.extend_from_slice(&b);
    }
    Ok((body, s))
}

/// Input layout: byte 0 = mode (see below), byte 1 = split seed, byte 2 = checksum algorithm and
/// declared-length flag, byte 3 = declared length low byte; the rest is the raw aws-chunked body.
///
/// mode % 8: 0–2 decoder in STREAMING-AWS4-HMAC-SHA256-PAYLOAD / …-TRAILER /
/// STREAMING-UNSIGNED-PAYLOAD-TRAILER; 3 `ChunkedStream::decode`, 4 `passthrough`, 5 `rechain`
/// (decoder mode from byte 2); 6–7 a *constructed* body: the rest of the input is the payload,
/// correctly encoded and signed by Osprey's own encoder (framing variants from byte 3), then one
/// byte of it optionally XOR-ed (position and mask from the first two payload bytes).
///
/// Asserts: the decoder never emits more than it was fed nor more than it decoded; splitting the
/// input never changes the outcome; after an error it stays poisoned; `finish` reports what it
/// emitted; pass-through output is always a prefix of the input and equals it on success; decode
/// stream output is a prefix of the decoded body; a re-chained body verifies under the backend
/// key, decodes to the same data and keeps the client's length; a constructed body decodes to
/// its payload, and with one byte changed it is refused.
pub fn chunked(data: &[u8]) {
    if data.len() < 4 || data.len() > 64 * 1024 {
        return;
    }
    let (mode_b, seed, flags, len_b) = (data[0], data[1], data[2], data[3]);
    let body = &data[4..];
    let alg = ChecksumAlgorithm::ALL[usize::from(flags & 7) % 5];
    let declared = (flags & 8 != 0).then(|| u64::from(len_b) | (u64::from(flags >> 4) << 8));
    let dec_mode = MODES[usize::from(flags >> 6) % 3];

    // trailer header parsing on the body as text (cheap, no state)
    if let Ok(s) = std::str::from_utf8(body) {
        for l in s.lines().take(16) {
            if let Ok(a) = parse_trailer_header(l) {
                assert!(a.header_name().eq_ignore_ascii_case(l.trim()));
            }
        }
    }

    match mode_b % 8 {
        m @ 0..=2 => {
            let mode = MODES[usize::from(m)];
            let whole = run_decoder(new_decoder(mode, alg, declared), &[body]);
            let split = run_decoder(new_decoder(mode, alg, declared), &split_pieces(body, seed));
            assert_eq!(whole, split, "outcome depends on how the body was split");
            if let Ok((decoded, s)) = &whole {
                if let Some(d) = declared {
                    assert_eq!(d, decoded.len() as u64);
                }
                assert_eq!(s.checksum.is_some(), mode != PayloadMode::StreamingSigned);
            }
        }
        3 => {
            let reference = run_decoder(new_decoder(dec_mode, alg, declared), &[body]);
            let mut st = ChunkedStream::decode(new_decoder(dec_mode, alg, declared));
            let mut out = BytesMut::new();
            let mut r = Ok(());
            let mut checked = 0; // bytes of `out` already compared
            for p in split_pieces(body, seed) {
                r = st.push(p, &mut out);
                if let Ok((d, _)) = &reference {
                    assert!(
                        d.get(checked..out.len()) == Some(&out[checked..]),
                        "decode stream emitted bytes not in the body"
                    );
                }
                checked = out.len();
                if r.is_err() {
                    break;
                }
            }
            let fin = r.and_then(|()| st.finish(&mut out));
            match (&reference, fin) {
                (Ok((d, _)), Ok(_)) => assert_eq!(&out[..], &d[..]),
                (Err(_), Err(_)) => {}
                (a, b) => panic!("decode stream disagrees with the decoder: {a:?} vs {b:?}"),
            }
        }
        4 => {
            let reference = run_decoder(new_decoder(dec_mode, alg, declared), &[body]);
            let mut st = ChunkedStream::passthrough(new_decoder(dec_mode, alg, declared));
            let mut out = BytesMut::new();
            let mut r = Ok(());
            let mut checked = 0; // bytes of `out` already compared
            for p in split_pieces(body, seed) {
                r = st.push(p, &mut out);
                assert!(
                    body.get(checked..out.len()) == Some(&out[checked..]),
                    "pass-through output is not the input"
                );
                checked = out.len();
                assert!(
                    out.len() < body.len() || body.is_empty(),
                    "complete body before finish"
                );
                if r.is_err() {
                    break;
                }
            }
            let fin = r.and_then(|()| st.finish(&mut out));
            assert_eq!(
                reference.is_ok(),
                fin.is_ok(),
                "pass-through disagrees with the decoder"
            );
            if fin.is_ok() {
                assert_eq!(&out[..], body);
            }
        }
        5 => {
            let dec = new_decoder(dec_mode, alg, declared);
            let signed = dec_mode != PayloadMode::StreamingUnsignedTrailer;
            let st = ChunkedStream::rechain(
                dec,
                ChunkedSigner::from_verifier(&backend_chunk_verifier()),
            );
            if !signed {
                assert!(st.is_err(), "an unsigned body was accepted for re-chaining");
                return;
            }
            let mut st = st.unwrap();
            let reference = run_decoder(new_decoder(dec_mode, alg, declared), &[body]);
            let mut out = BytesMut::new();
            let mut r = Ok(());
            for p in split_pieces(body, seed) {
                r = st.push(p, &mut out);
                if r.is_err() {
                    break;
                }
            }
            let fin = r.and_then(|()| st.finish(&mut out));
            assert_eq!(
                reference.is_ok(),
                fin.is_ok(),
                "re-chain disagrees with the decoder"
            );
            if fin.is_ok() {
                check_rechained(
                    &out,
                    dec_mode,
                    alg,
                    declared,
                    &reference.unwrap().0,
                    body.len(),
                );
            }
        }
        _ => constructed(mode_b, seed, flags, len_b, body),
    }
}

/// The backend's view of a re-chained body: it must verify under the backend key, carry the same
/// data, and be exactly as long as the client's body (the gateway forwards the client's
/// `Content-Length` unchanged when it re-chains).
fn check_rechained(
    out: &[u8],
    mode: PayloadMode,
    alg: ChecksumAlgorithm,
    declared: Option<u64>,
    data: &[u8],
    client_len: usize,
) {
    let trailer = (mode != PayloadMode::StreamingSigned).then_some(alg);
    let dec = ChunkedDecoder::new(mode, Some(backend_chunk_verifier()), trailer, declared).unwrap();
    let back = run_decoder(dec, &[out]);
    match back {
        Ok((d, _)) => assert_eq!(d, data, "re-chained body decodes to other data"),
        Err(e) => panic!("re-chained body does not verify under the backend key: {e:?}"),
    }
    if skip_open("rechain-length") {
        return;
    }
    assert_eq!(
        out.len(),
        client_len,
        "re-chained body is {} bytes, the client's (whose Content-Length is forwarded) {}",
        out.len(),
        client_len
    );
}

/// Mode 6/7 of [`chunked`]: a body made by Osprey's own encoders.
fn constructed(mode_b: u8, seed: u8, flags: u8, variant: u8, payload: &[u8]) {
    let mode = MODES[usize::from(flags >> 6) % 3];
    let alg = ChecksumAlgorithm::ALL[usize::from(flags & 7) % 5];
    let (tamper_at, tamper_mask) = match payload {
        [a, b, ..] if mode_b & 8 != 0 => (Some(usize::from(*a) * 7 + usize::from(*b)), *b | 1),
        _ => (None, 0),
    };
    let mut body = Vec::new();
    let pieces = split_pieces(payload, seed.wrapping_add(2) | 2);
    let mut sum = checksum_base64(alg, payload);
    if variant & 8 != 0 {
        // `name: value` (blank after the colon, which the decoder trims) is another legal form
        sum.insert(0, ' ');
    }
    match mode {
        PayloadMode::StreamingUnsignedTrailer => {
            for p in &pieces {
                body.extend_from_slice(&unsigned_chunk(p));
            }
            body.extend_from_slice(&unsigned_final_chunk(&[(alg.header_name(), &sum)]));
        }
        _ => {
            let mut s = ChunkedSigner::from_verifier(&aws_chunk_verifier());
            for p in &pieces {
                body.extend_from_slice(&s.sign_chunk(p));
            }
            if mode == PayloadMode::StreamingSigned {
                body.extend_from_slice(&s.final_chunk());
            } else {
                body.extend_from_slice(&s.final_chunk_with_trailers(&[(alg.header_name(), &sum)]));
            }
        }
    }
    // Framing variants a client may legally send: upper-case hex and leading zeros in sizes
    // (bit 0 on, then bits 1 and 2), a blank after the trailer's colon (bit 3, above).
    if variant & 1 != 0 {
        body = reframe(&body, variant);
    }
    let declared = (flags & 8 != 0).then_some(payload.len() as u64);
    let split = split_pieces(&body, seed);
    // Non-canonical framing (leading zeros, blank after the trailer colon) of a *signed* body
    // may be refused: such a body would change length when re-chained (src/s3/chunked.rs).
    let signed = mode != PayloadMode::StreamingUnsignedTrailer;
    let non_canonical = (variant & 1 != 0 && variant & 4 != 0)
        || (variant & 8 != 0 && mode == PayloadMode::StreamingSignedTrailer);
    let good = run_decoder(new_decoder(mode, alg, declared), &split);
    match &good {
        Ok((d, _)) => assert_eq!(d, payload, "constructed body decodes to other data"),
        Err(_) if signed && non_canonical => return,
        Err(e) => panic!("a body made by Osprey's encoder was refused: {e:?}"),
    }
    if mode != PayloadMode::StreamingUnsignedTrailer && mode_b & 16 != 0 {
        // re-chain it and check what the backend gets
        let mut st = ChunkedStream::rechain(
            new_decoder(mode, alg, declared),
            ChunkedSigner::from_verifier(&backend_chunk_verifier()),
        )
        .unwrap();
        let mut out = BytesMut::new();
        for p in &split {
            st.push(p, &mut out).unwrap();
        }
        st.finish(&mut out).unwrap();
        check_rechained(&out, mode, alg, declared, payload, body.len());
    }
    if let Some(at) = tamper_at {
        let at = at % body.len();
        let (old, new) = (body[at], body[at] ^ tamper_mask);
        let mut bad = body.clone();
        bad[at] = new;
        let r = run_decoder(new_decoder(mode, alg, declared), &split_pieces(&bad, seed));
        // A case change of a hex digit or of a trailer name, or whitespace the parser trims,
        // may legitimately keep the meaning; any other change must be refused.
        let equivalent = old.eq_ignore_ascii_case(&new)
            || old.is_ascii_whitespace()
            || new.is_ascii_whitespace();
        if !equivalent {
            assert!(
                r.is_err(),
                "body with byte {at} changed from {old:#04x} to {new:#04x} was accepted"
            );
        }
    }
}

/// Rewrites every chunk-size field of an encoded body: upper-case hex (`variant & 2`) and/or one
/// leading zero (`variant & 4`). Only the size lines change; data, signatures and trailers stay.
fn reframe(body: &[u8], variant: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 64);
    let mut i = 0;
    // walk chunk by chunk: header line, data, CRLF; stop at the final chunk
    while i < body.len() {
        let Some(nl) = body[i..].iter().position(|&b| b == b'\n') else {
            break;
        };
        let line = &body[i..i + nl + 1];
        let text = std::str::from_utf8(line).unwrap_or("");
        let (size_hex, rest) = text.split_at(text.find([';', '\r']).unwrap_or(text.len()));
        let size = u64::from_str_radix(size_hex, 16).unwrap_or(0);
        let mut s = size_hex.to_owned();
        if variant & 2 != 0 {
            s = s.to_ascii_uppercase();
        }
        if variant & 4 != 0 {
            s.insert(0, '0');
        }
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(rest.as_bytes());
        i += nl + 1;
        if size == 0 {
            break;
        }
        let end = (i + size as usize + 2).min(body.len());
        out.extend_from_slice(&body[i..end]);
        i = end;
    }
    out.extend_from_slice(&body[i.min(body.len())..]);
    out
}

// -------------------------------------------------------------------------------------- s3op

/// Input: `METHOD\nHOST\nPATH\nQUERY\nDOMAIN\nCOPY-SOURCE\nTENANT` (lossy UTF-8; missing fields
/// are empty; an empty DOMAIN means path style).
///
/// Runs `op::parse_query`, `virtual_host_bucket`, `S3Op::parse`, `validate_bucket_name`,
/// `upstream::parse_copy_source` / `copy_source_for_backend`, `upstream_path_and_query` and
/// `naming::backend_bucket_name`. Asserts: a virtual-host bucket is a label prefix of the host;
/// a parsed op has a key of at most 1024 bytes and ListBuckets exactly when it has no bucket; an
/// accepted bucket name obeys the rules; a copy source round-trips through the backend form; the
/// upstream target starts with `/` and carries no presign parameters; a derived backend bucket
/// name of a valid bucket is a valid bucket name of at most 63 characters.
pub fn s3op(data: &[u8]) {
    use osprey::proxy::upstream;
    use osprey::s3::op::{self, S3Op};
    if data.len() > 16 * 1024 {
        return;
    }
    let text = String::from_utf8_lossy(data);
    let mut it = fields(&text);
    let mut next = || it.next().unwrap_or("");
    let (method, host, path, query, domain, copy, tenant) =
        (next(), next(), next(), next(), next(), next(), next());

    let m = http::Method::from_bytes(method.as_bytes()).unwrap_or(http::Method::GET);
    let pairs = op::parse_query(Some(query));
    if let Ok(p) = &pairs {
        assert!(p.len() <= 128);
    }
    let pairs = pairs.unwrap_or_default();
    let domain = (!domain.is_empty()).then_some(domain);
    let vhost = op::virtual_host_bucket(host, domain);
    if let Some(b) = vhost {
        assert!(!b.is_empty());
        assert!(host.starts_with(b) && host[b.len()..].starts_with('.'));
    }
    for has_copy in [false, true] {
        if let Ok(o) = S3Op::parse(&m, path, &pairs, vhost, has_copy) {
            assert!(o
                .key
                .as_ref()
                .is_none_or(|k| k.len() <= 1024 && !k.is_empty()));
            // no `.`/`..` segment reaches a backend (op::validate_key)
            assert!(o
                .key
                .as_ref()
                .is_none_or(|k| k.split('/').all(|seg| seg != "." && seg != "..")));
            assert_eq!(
                o.bucket.is_none(),
                o.kind == osprey::s3::OpKind::ListBuckets,
                "{o:?}"
            );
            let _ = o.kind.name();
            let _ = o.kind.has_upload_body();
            let _ = upstream::upstream_path_and_query(
                o.bucket.as_deref(),
                o.key.as_deref(),
                Some(query),
            );
        }
    }
    for name in [host, path, query, copy, tenant] {
        if op::validate_bucket_name(name).is_ok() {
            assert!((3..=63).contains(&name.len()));
            assert!(name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'));
            assert!(!name.contains(".."));
        }
    }
    // the backend bucket is a valid bucket name in practice (a placement's, see naming.rs)
    let backend = if op::validate_bucket_name(tenant).is_ok() {
        tenant
    } else {
        "backend-bucket"
    };
    let up = upstream::upstream_path_and_query(Some(backend), Some(path), Some(query));
    assert!(up.starts_with('/'));
    if let Some((_, q)) = up.split_once('?') {
        for part in q.split('&') {
            // the presign parameters (exact names) never travel to the backend
            let n = part.split('=').next().unwrap_or("").to_ascii_lowercase();
            assert!(
                ![
                    "x-amz-algorithm",
                    "x-amz-credential",
                    "x-amz-signature",
                    "x-amz-signedheaders",
                    "x-amz-security-token"
                ]
                .contains(&n.as_str()),
                "presign parameter {n} forwarded: {up}"
            );
        }
    }
    if let Ok((b, k, v)) = upstream::parse_copy_source(copy) {
        assert!(!b.is_empty() && !k.is_empty());
        if op::validate_bucket_name(&b).is_ok() {
            let back = upstream::copy_source_for_backend(&b, &k, v.as_deref());
            assert_eq!(
                upstream::parse_copy_source(&back).ok(),
                Some((b.clone(), k.clone(), v.clone())),
                "copy source does not round-trip: {back}"
            );
        }
    }
    let bucket = vhost.unwrap_or(path.trim_start_matches('/'));
    let bb = osprey::backend::naming::backend_bucket_name(tenant, bucket);
    let tenant_ok = !tenant.is_empty()
        && tenant.len() <= 40
        && tenant
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if tenant_ok && op::validate_bucket_name(bucket).is_ok() {
        assert!(bb.len() <= 63, "{bb}");
        assert!(
            op::validate_bucket_name(&bb).is_ok(),
            "derived name {bb:?} is invalid"
        );
    }
}

// --------------------------------------------------------------------------------------- xml

/// Input: `BACKEND-BUCKET\nBUCKET\nXML…` (lossy UTF-8).
///
/// Runs `translate::translate_xml` and `translate_path` (the rewriting of backend bucket names
/// in response bodies and `Location`), and `S3Error::to_xml` with the input as message,
/// resource, extra element and request id. Asserts: text that does not contain the (non-empty)
/// backend bucket name is returned unchanged; translating to the same name changes nothing;
/// XML without any bucket-naming element (`Name`, `Bucket`, `BucketName`, `Resource`,
/// `Location`) is returned unchanged (object keys are never rewritten); the error XML is
/// well-formed and its Message/Resource/RequestId unescape to the original text.
pub fn xml(data: &[u8]) {
    use osprey::proxy::translate::{
        translate_path, translate_url, translate_xml, translate_xml_at,
    };
    if data.len() > 64 * 1024 {
        return;
    }
    let text = String::from_utf8_lossy(data);
    let (bb, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let (b, doc) = rest.split_once('\n').unwrap_or((rest, ""));

    let out = translate_xml(doc, bb, b);
    if !bb.is_empty() && !doc.contains(bb) {
        assert_eq!(out, doc, "text without the backend bucket name was changed");
    }
    // (not with an empty name, which no placement has; a virtual-host URL `scheme://bb.host/...`
    // is deliberately rewritten to path style `scheme://host/bb/...`)
    if !bb.is_empty() && !doc.contains(&format!("://{bb}.")) {
        assert_eq!(
            translate_xml(doc, bb, bb),
            doc,
            "translating to the same name changed the text"
        );
    }
    let bucket_tags = [
        "<Name>",
        "<Bucket>",
        "<BucketName>",
        "<Resource>",
        "<Location>",
    ];
    if !bucket_tags.iter().any(|t| doc.contains(t)) {
        assert_eq!(out, doc, "XML without bucket elements was changed");
    }
    for line in doc.lines().take(32) {
        let p = translate_path(line, bb, b);
        let u = translate_url(line, bb, b, None);
        if !bb.is_empty() && !line.contains(bb) {
            assert_eq!(p, line);
            assert_eq!(
                u, line,
                "translate_url changed a URL without the backend bucket"
            );
        }
        // with an origin, an absolute URL is re-rooted there (never keeps the backend's host)
        let r = translate_url(line, bb, b, Some("http://osprey.example:9000"));
        if line.contains("://") {
            assert!(r.starts_with("http://osprey.example:9000"), "{r}");
        }
    }
    identity_rewrites(doc, bb, b);
    let rooted = translate_xml_at(doc, bb, b, Some("https://o.example"));
    if !bucket_tags.iter().any(|t| doc.contains(t)) {
        assert_eq!(rooted, doc);
    }

    // the S3 error body, with hostile message, resource, extra value and request id
    let msg = doc.to_owned();
    let e = osprey::s3::S3Error::new(
        http::StatusCode::BAD_REQUEST,
        "InvalidArgument",
        msg.clone(),
    )
    .with_resource(bb.to_owned())
    .with_extra("BucketName", b.to_owned());
    let body = e.to_xml(b);
    let texts =
        xml_texts(&body).unwrap_or_else(|err| panic!("S3Error::to_xml is not XML: {err}\n{body}"));
    let get = |name: &str| {
        texts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
    };
    // XML has no escape for most control characters; compare only what XML can carry.
    let carried = |s: &str| {
        !s.chars()
            .any(|c| (c as u32) < 0x20 && c != '\t' && c != '\n' || c == '\r')
    };
    if carried(&msg) {
        assert_eq!(
            get("Message"),
            Some(msg.as_str()),
            "Message does not survive to_xml"
        );
    }
    if carried(bb) {
        assert_eq!(
            get("Resource"),
            Some(bb),
            "Resource does not survive to_xml"
        );
    }
    if carried(b) {
        assert_eq!(get("RequestId"), Some(b));
        assert_eq!(get("BucketName"), Some(b));
    }
}

/// Issue 10's identity translation over hostile backend answers and client bodies: principals
/// `bb` → `b`. Never panics; a map that knows nothing changes nothing; what the rewriter
/// collects as principal ids is what it would rewrite.
fn identity_rewrites(doc: &str, bb: &str, b: &str) {
    use osprey::proxy::identity::{
        grant_header_ids, policy_grant_ids, principal_ids, rewrite_grant_header,
        rewrite_policy_grants, rewrite_principals, Mapped,
    };
    if let Ok(same) = rewrite_principals(doc, |_| None) {
        assert_eq!(same, doc, "a map that knows no id changed the XML");
    }
    let mapped = rewrite_principals(doc, |id| {
        (id == bb).then(|| Mapped {
            id: b.into(),
            display_name: Some(b.into()),
        })
    });
    if let (Ok(out), Ok(ids)) = (&mapped, principal_ids(doc)) {
        if !ids.iter().any(|i| i == bb) {
            assert_eq!(out, doc, "no principal named {bb:?}, yet the XML changed");
        }
    }
    for line in doc.lines().take(16) {
        let out = rewrite_grant_header(line, |id| (id == bb).then(|| b.into()));
        if !grant_header_ids(line).contains(&bb) {
            assert_eq!(out, line, "a grant header without {bb:?} changed");
        }
    }
    let _ = policy_grant_ids(doc);
    assert!(
        rewrite_policy_grants(doc, |_| None).is_none(),
        "a policy changed by a map that knows no id"
    );
}

/// `post`: `BOUNDARY\nBODY` — a browser POST upload's form (src/s3/post.rs): the fields before
/// `file`, the signature fields, and the backend's form. The parse never depends on how much of
/// the body has arrived; a rebuilt form parses back to the same fields and the same file bytes.
pub fn post(data: &[u8]) {
    use osprey::s3::post;
    if data.len() > 96 * 1024 {
        return;
    }
    let cut = data.iter().position(|&c| c == b'\n').unwrap_or(data.len());
    let Ok(btext) = std::str::from_utf8(&data[..cut]) else {
        return;
    };
    let body = data.get(cut + 1..).unwrap_or_default();
    let Ok(boundary) = post::boundary(&format!("multipart/form-data; boundary={btext}")) else {
        return;
    };
    let full = post::parse_prefix(body, &boundary);
    // a shorter prefix of the same body: "need more", or the same answer
    let k = body.len() / 2;
    match (post::parse_prefix(&body[..k], &boundary), &full) {
        (Ok(None), _) => {}
        (Ok(Some(p)), Ok(Some(f))) => assert_eq!(&p, f, "the parse depends on the split"),
        (Err(e), Err(f)) => assert_eq!(&e, f),
        (Err(post::PostError::TooLarge), _) => {}
        (short, full) => panic!("prefix {short:?} but whole body {full:?}"),
    }
    let Ok(Some(form)) = full else {
        return;
    };
    assert!(form.file_part <= body.len());
    let again = post::rebuild(&boundary, &form.fields, &body[form.file_part..]);
    if !form.fields.iter().any(|(n, _)| n.contains('"')) {
        let p2 = post::parse_prefix(&again, &boundary)
            .expect("a rebuilt form parses")
            .expect("a rebuilt form is complete");
        assert_eq!(p2.fields, form.fields, "rebuilt fields differ");
        assert_eq!(&again[p2.file_part..], &body[form.file_part..]);
    }
    let Ok(auth) = post::auth_of(&form) else {
        return;
    };
    let policy = form.get("policy").unwrap_or_default().to_vec();
    let _ = post::verify(&auth, &policy, "SECRET");
    if matches!(auth, post::PostAuth::Anonymous) {
        return;
    }
    let signer = post::BackendSigner {
        backend_bucket: "t1-photos",
        client_bucket: "photos",
        access_key: "BAK",
        secret_key: "BSECRET",
        region: "default",
        now: aws_now(),
    };
    if let Ok(fields) = post::backend_fields(&form, &auth, &signer) {
        let count = |n: &str| {
            fields
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(n))
                .count()
        };
        assert_eq!(count("policy"), 1, "the backend form has one policy");
        assert!(
            count("AWSAccessKeyId") + count("x-amz-credential") == 1,
            "the backend form is signed once"
        );
    }
}

/// (element name, unescaped text) of every leaf element; `Err` if the document is not well-formed.
fn xml_texts(doc: &str) -> Result<Vec<(String, String)>, String> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(doc);
    r.config_mut().check_end_names = true;
    let mut out = Vec::new();
    let mut stack: Vec<(String, String)> = Vec::new();
    loop {
        match r.read_event().map_err(|e| e.to_string())? {
            Event::Start(s) => stack.push((
                String::from_utf8_lossy(s.name().as_ref()).into_owned(),
                String::new(),
            )),
            Event::Text(t) => {
                let s = t.unescape().map_err(|e| e.to_string())?;
                if let Some(top) = stack.last_mut() {
                    top.1.push_str(&s);
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.1.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::End(_) => {
                let (n, t) = stack.pop().ok_or("unbalanced end tag")?;
                out.push((n, t));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err("unclosed element".into());
    }
    Ok(out)
}

// -------------------------------------------------------------------------------------- osis

/// Input: byte 0 selects the entity for the filter parser; the rest is one text used as an OSIS
/// JSON request body (every `osis::model` request type), a filter (`osis::filter::parse`), a
/// paging query (`filter::paging`), a capabilities document (`osis::load_capabilities`) and an
/// OSIS `Authorization` header (`auth::Authenticator::check`, Basic and HS512 bearer).
///
/// Asserts: a parsed filter has at most one term per `;`-separated piece and the filter is at
/// most 4096 bytes; a page limit never exceeds `MAX_PAGE_LIMIT`; accepted capabilities have a
/// non-empty `exclusions` object; an accepted `Authorization` is Basic with the admin pair or a
/// Bearer token.
pub fn osis(data: &[u8]) {
    use osprey::osis::{auth::Authenticator, filter, model};
    if data.is_empty() || data.len() > 128 * 1024 {
        return;
    }
    let sel = data[0];
    let body = &data[1..];
    let _ = serde_json::from_slice::<model::TenantIn>(body);
    let _ = serde_json::from_slice::<model::UserIn>(body);
    let _ = serde_json::from_slice::<model::ActiveIn>(body);
    let _ = serde_json::from_slice::<model::LoginIn>(body);
    let _ = serde_json::from_slice::<model::RefreshIn>(body);
    let text = String::from_utf8_lossy(body);

    let entity = [
        filter::Entity::Tenant,
        filter::Entity::User,
        filter::Entity::Credential,
    ][usize::from(sel) % 3];
    if let Ok(terms) = filter::parse(&text, entity) {
        assert!(text.len() <= filter::MAX_FILTER_BYTES);
        assert!(terms.len() <= text.split(';').count());
    }
    if let Ok(q) = osprey::s3::op::parse_query(Some(&text)) {
        if let Ok(p) = filter::paging(&q) {
            assert!(p.limit <= filter::MAX_PAGE_LIMIT);
        }
    }
    if let Ok(v) = osprey::osis::load_capabilities(&text, "fuzz") {
        assert!(v["exclusions"].as_object().is_some_and(|m| !m.is_empty()));
    }
    let a = Authenticator::new(
        "osprey-admin".into(),
        "change-me-please".into(),
        Some([7u8; 32]),
        0,
    );
    if a.check(Some(&text)).is_ok() {
        let scheme = text.split(' ').next().unwrap_or("").to_ascii_lowercase();
        assert!(scheme == "basic" || scheme == "bearer", "accepted {text:?}");
    }
}

// ------------------------------------------------------------------------------------ config

/// Input: TOML text (lossy UTF-8) for `Config::from_toml_str` (the parser + validator behind
/// `check-config`, `serve` and hot reload), with secrets not read (`skip_secrets`). A valid
/// config is compiled into routing tables and queried. Also `routing::Pattern` on the lines.
///
/// Asserts: errors name a line and column inside the text (1-based; 0:0 only when TOML gives no
/// position); a valid config compiles and every tenant gets a table whose rules name configured
/// backends; a pattern matches its own text.
pub fn config(data: &[u8]) {
    use osprey::config::{Config, ConfigError, Env};
    use osprey::routing::{Pattern, Routing, TenantKey};
    if data.len() > 64 * 1024 {
        return;
    }
    let text = String::from_utf8_lossy(data);
    let env = Env {
        skip_secrets: true,
        vars: [("OSPREY_TEST_SECRET".to_owned(), "s3cr3t-value".to_owned())].into(),
        ..Env::default()
    };
    match Config::from_toml_str(&text, "fuzz.toml", &env) {
        Ok(cfg) => {
            let routing = Routing::compile(&cfg.routing);
            let cd = vec!["acme-org".to_owned()];
            for (id, name) in [("t0", "acme"), ("", ""), ("tenant-x", "other")] {
                let (table, _) = routing.table_for(TenantKey {
                    tenant_id: id,
                    tenant_name: name,
                    cd_tenant_ids: &cd,
                });
                for bucket in ["photos", "archive-2024", ""] {
                    if let Some((_, rule)) = table.rule_for(bucket) {
                        assert!(
                            cfg.backend(&rule.backend).is_some(),
                            "rule names unknown backend"
                        );
                    }
                }
            }
        }
        Err(ConfigError::Parse { line, col, .. }) | Err(ConfigError::Invalid { line, col, .. }) => {
            let lines = text.split('\n').count();
            assert!(
                (line == 0 && col == 0) || (line >= 1 && line <= lines && col >= 1),
                "error position {line}:{col} outside a {lines}-line text"
            );
        }
        Err(_) => {}
    }
    for l in text.lines().take(8) {
        let p = Pattern::new(l);
        assert!(p.matches(l), "pattern {l:?} does not match itself");
        let _ = p.matches("photos");
    }
}

//! The load generator: one HTTP/1.1 keep-alive connection per worker (hyper's low-level client
//! connection, no pool), requests signed with Osprey's own SigV4 client functions
//! (`osprey::s3::sigv4::authorization_header`), bodies generated on the fly (never read from disk).
//!
//! Every target receives the same requests (same headers, same signature scheme, same bodies):
//! only the address and the signed `Host` differ, so the client's own cost is identical for
//! direct, Osprey and nginx.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use osprey::s3::chunked::signed_chunk_len;
use osprey::s3::sigv4::{self, RequestParts, SigningParams, EMPTY_SHA256_HEX};

use crate::sink::pattern;

pub const REGION: &str = "us-east-1";
/// Longest a single request of a load run may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Where requests go and as whom they are signed.
#[derive(Clone, Debug)]
pub struct Target {
    /// `direct`, `osprey` or `nginx`.
    pub via: &'static str,
    pub addr: SocketAddr,
    /// The `Host` header sent and signed.
    pub host: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
}

/// How a PUT body is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// `x-amz-content-sha256: <hex sha256>` (the hash is computed once per body size).
    Sha256,
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` with chunks of this many bytes.
    Chunked(usize),
}

#[derive(Clone, Copy, Debug)]
pub enum Op {
    Get {
        size: u64,
    },
    Put {
        size: u64,
        payload: Payload,
    },
    /// CreateMultipartUpload, `parts` × UploadPart of `part_size` (UNSIGNED-PAYLOAD), Complete.
    Multipart {
        parts: u32,
        part_size: u64,
    },
}

impl Op {
    pub fn bytes(&self) -> u64 {
        match *self {
            Op::Get { size } | Op::Put { size, .. } => size,
            Op::Multipart { parts, part_size } => u64::from(parts) * part_size,
        }
    }
}

/// Request body: nothing, fixed bytes, `n` pattern bytes, or a signed aws-chunked stream.
pub enum ReqBody {
    Empty,
    Full(Option<Bytes>),
    Pattern { remaining: u64 },
    Chunked(Box<ChunkedGen>),
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = match &mut *self {
            ReqBody::Empty => None,
            ReqBody::Full(b) => b.take(),
            ReqBody::Pattern { remaining } => {
                if *remaining == 0 {
                    None
                } else {
                    let n = (*remaining).min(pattern().len() as u64) as usize;
                    *remaining -= n as u64;
                    Some(pattern().slice(..n))
                }
            }
            ReqBody::Chunked(g) => g.next_piece(),
        };
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Empty => true,
            ReqBody::Full(b) => b.is_none(),
            ReqBody::Pattern { remaining } => *remaining == 0,
            ReqBody::Chunked(g) => g.done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Empty => SizeHint::with_exact(0),
            ReqBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ReqBody::Pattern { remaining } => SizeHint::with_exact(*remaining),
            ReqBody::Chunked(g) => SizeHint::with_exact(g.wire_remaining),
        }
    }
}

/// Generates a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body on the fly. Every chunk carries the same
/// pattern bytes, so the data hash is computed once and each chunk costs the client one HMAC —
/// the receiver (Osprey) still hashes every byte.
pub struct ChunkedGen {
    key: [u8; 32],
    amz_date: String,
    scope: String,
    prev_sig: String,
    data: Bytes,
    data_hash_hex: String,
    chunks_left: u64,
    queue: std::collections::VecDeque<Bytes>,
    done: bool,
    wire_remaining: u64,
}

impl ChunkedGen {
    fn sig(&mut self, hash_hex: &str) -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256_HEX}\n{hash_hex}",
            self.amz_date, self.scope, self.prev_sig
        );
        self.prev_sig = hex::encode(sigv4::sign(&self.key, &sts));
        self.prev_sig.clone()
    }

    fn next_piece(&mut self) -> Option<Bytes> {
        if let Some(b) = self.queue.pop_front() {
            self.wire_remaining -= b.len() as u64;
            return Some(b);
        }
        if self.done {
            return None;
        }
        if self.chunks_left > 0 {
            self.chunks_left -= 1;
            let h = self.data_hash_hex.clone();
            let sig = self.sig(&h);
            self.queue.push_back(Bytes::from(format!(
                "{:x};chunk-signature={sig}\r\n",
                self.data.len()
            )));
            self.queue.push_back(self.data.clone());
            self.queue.push_back(Bytes::from_static(b"\r\n"));
        } else {
            let sig = self.sig(EMPTY_SHA256_HEX);
            self.queue
                .push_back(Bytes::from(format!("0;chunk-signature={sig}\r\n\r\n")));
            self.done = true;
        }
        self.next_piece()
    }
}

/// Precomputed, shared facts about request bodies (hashes of the pattern prefixes used).
pub struct Bodies {
    small_sha: std::collections::HashMap<u64, String>,
    chunk_sha: std::collections::HashMap<usize, String>,
}

impl Bodies {
    pub fn new(sha_sizes: &[u64], chunk_sizes: &[usize]) -> Bodies {
        use sha2::Digest;
        let small_sha = sha_sizes
            .iter()
            .map(|&n| {
                (
                    n,
                    hex::encode(sha2::Sha256::digest(&pattern()[..n as usize])),
                )
            })
            .collect();
        let chunk_sha = chunk_sizes
            .iter()
            .map(|&n| (n, hex::encode(sha2::Sha256::digest(&pattern()[..n]))))
            .collect();
        Bodies {
            small_sha,
            chunk_sha,
        }
    }
}

/// One request to send.
pub struct Req {
    pub method: &'static str,
    /// Path and query as sent (already encoded).
    pub path: String,
    pub query: String,
    pub payload_hash: String,
    pub body: ReqBody,
    pub extra: Vec<(&'static str, String)>,
}

/// Signs `r` for `t` (header auth, signed: host, x-amz-content-sha256, x-amz-date and any extra
/// x-amz-* header) and builds the hyper request.
pub fn build(t: &Target, r: Req) -> http::Request<ReqBody> {
    let amz_date = sigv4::format_amz_date(&chrono::Utc::now());
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), t.host.clone()),
        ("x-amz-content-sha256".into(), r.payload_hash.clone()),
        ("x-amz-date".into(), amz_date.clone()),
    ];
    let mut signed: Vec<String> = vec![
        "host".into(),
        "x-amz-content-sha256".into(),
        "x-amz-date".into(),
    ];
    for (n, v) in &r.extra {
        headers.push(((*n).to_string(), v.clone()));
        if n.starts_with("x-amz-") {
            signed.push((*n).to_string());
        }
    }
    let params = SigningParams {
        access_key: &t.access_key,
        secret_key: &t.secret_key,
        region: REGION,
        service: "s3",
        amz_date: &amz_date,
    };
    let parts = RequestParts {
        method: r.method,
        raw_path: &r.path,
        raw_query: &r.query,
        headers: &headers,
    };
    let (auth, seed) =
        sigv4::authorization_header(&params, &parts, &signed, &r.payload_hash).expect("sign");
    let uri = if r.query.is_empty() {
        r.path.clone()
    } else {
        format!("{}?{}", r.path, r.query)
    };
    let mut b = http::Request::builder().method(r.method).uri(uri);
    for (n, v) in &headers {
        b = b.header(n.as_str(), v.as_str());
    }
    b = b.header("authorization", auth);
    let body = match r.body {
        ReqBody::Chunked(mut g) => {
            let date = &amz_date[..8];
            g.key = sigv4::signing_key(&t.secret_key, date, REGION, "s3");
            g.scope = sigv4::scope(date, REGION, "s3");
            g.amz_date = amz_date.clone();
            g.prev_sig = hex::encode(seed);
            ReqBody::Chunked(g)
        }
        other => other,
    };
    b.body(body).expect("request")
}

fn object_path(t: &Target, key: &str) -> String {
    format!("/{}/{}", t.bucket, key)
}

/// The request of a GET or PUT op (multipart builds its own).
pub fn simple_req(t: &Target, op: Op, bodies: &Bodies, worker: usize) -> Req {
    match op {
        Op::Get { size } => Req {
            method: "GET",
            path: object_path(t, &format!("obj-{size}")),
            query: String::new(),
            payload_hash: EMPTY_SHA256_HEX.into(),
            body: ReqBody::Empty,
            extra: vec![],
        },
        Op::Put { size, payload } => {
            let path = object_path(t, &format!("put-w{worker}-{size}"));
            match payload {
                Payload::Sha256 => Req {
                    method: "PUT",
                    path,
                    query: String::new(),
                    payload_hash: bodies.small_sha[&size].clone(),
                    body: ReqBody::Full(Some(pattern().slice(..size as usize))),
                    extra: vec![("content-length", size.to_string())],
                },
                Payload::Unsigned => Req {
                    method: "PUT",
                    path,
                    query: String::new(),
                    payload_hash: sigv4::UNSIGNED_PAYLOAD.into(),
                    body: ReqBody::Pattern { remaining: size },
                    extra: vec![("content-length", size.to_string())],
                },
                Payload::Chunked(chunk) => {
                    assert_eq!(size % chunk as u64, 0, "body must be whole chunks");
                    let chunks = size / chunk as u64;
                    let wire = chunks * signed_chunk_len(chunk as u64) + signed_chunk_len(0);
                    let g = ChunkedGen {
                        key: [0; 32],
                        amz_date: String::new(),
                        scope: String::new(),
                        prev_sig: String::new(),
                        data: pattern().slice(..chunk),
                        data_hash_hex: bodies.chunk_sha[&chunk].clone(),
                        chunks_left: chunks,
                        queue: Default::default(),
                        done: false,
                        wire_remaining: wire,
                    };
                    Req {
                        method: "PUT",
                        path,
                        query: String::new(),
                        payload_hash: sigv4::STREAMING_SIGNED.into(),
                        body: ReqBody::Chunked(Box::new(g)),
                        extra: vec![
                            ("content-length", wire.to_string()),
                            ("content-encoding", "aws-chunked".into()),
                            ("x-amz-decoded-content-length", size.to_string()),
                        ],
                    }
                }
            }
        }
        Op::Multipart { .. } => unreachable!("multipart is sent step by step"),
    }
}

pub struct Conn {
    sender: SendRequest<ReqBody>,
}

pub async fn connect(addr: SocketAddr) -> std::io::Result<Conn> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Conn { sender })
}

/// Response status and body (the body is kept only when `keep` and small).
pub struct Resp {
    pub status: u16,
    pub bytes: u64,
    pub body: Option<Bytes>,
}

pub async fn send(c: &mut Conn, req: http::Request<ReqBody>, keep: bool) -> Result<Resp, String> {
    c.sender.ready().await.map_err(|e| e.to_string())?;
    let resp = c
        .sender
        .send_request(req)
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut bytes = 0u64;
    let mut kept = Vec::new();
    while let Some(f) = body.frame().await {
        let f = f.map_err(|e| e.to_string())?;
        if let Some(d) = f.data_ref() {
            bytes += d.len() as u64;
            if (keep || status >= 300) && kept.len() < 64 * 1024 {
                kept.extend_from_slice(d);
            }
        }
    }
    Ok(Resp {
        status,
        bytes,
        body: (keep || status >= 300).then(|| Bytes::from(kept)),
    })
}

/// Executes one op on a connection; returns the payload bytes moved.
pub async fn execute(
    c: &mut Conn,
    t: &Target,
    op: Op,
    bodies: &Bodies,
    worker: usize,
) -> Result<u64, String> {
    match op {
        Op::Get { .. } | Op::Put { .. } => {
            let r = send(c, build(t, simple_req(t, op, bodies, worker)), false).await?;
            if r.status >= 300 {
                return Err(format!("status {}: {}", r.status, body_text(&r)));
            }
            Ok(match op {
                Op::Get { .. } => r.bytes,
                _ => op.bytes(),
            })
        }
        Op::Multipart { parts, part_size } => {
            let key = format!("mpu-w{worker}");
            let path = object_path(t, &key);
            let init = Req {
                method: "POST",
                path: path.clone(),
                query: "uploads=".into(),
                payload_hash: EMPTY_SHA256_HEX.into(),
                body: ReqBody::Empty,
                extra: vec![("content-length", "0".into())],
            };
            let r = send(c, build(t, init), true).await?;
            if r.status >= 300 {
                return Err(format!("initiate: status {}: {}", r.status, body_text(&r)));
            }
            let text = body_text(&r);
            let upload_id = text
                .split("<UploadId>")
                .nth(1)
                .and_then(|s| s.split("</UploadId>").next())
                .ok_or_else(|| format!("no UploadId in {text}"))?
                .to_string();
            let enc = sigv4::uri_encode(&upload_id, true);
            let mut etags = Vec::new();
            for n in 1..=parts {
                let put = Req {
                    method: "PUT",
                    path: path.clone(),
                    query: format!("partNumber={n}&uploadId={enc}"),
                    payload_hash: sigv4::UNSIGNED_PAYLOAD.into(),
                    body: ReqBody::Pattern {
                        remaining: part_size,
                    },
                    extra: vec![("content-length", part_size.to_string())],
                };
                let r = send(c, build(t, put), false).await?;
                if r.status >= 300 {
                    return Err(format!("part {n}: status {}: {}", r.status, body_text(&r)));
                }
                etags.push(n);
            }
            // the sink and RGW accept any ETag text for the bench's purpose? RGW does not: it
            // needs the real ones, so the multipart workload is only run against the sink
            let mut xml = String::from("<CompleteMultipartUpload>");
            for n in etags {
                xml.push_str(&format!(
                    "<Part><PartNumber>{n}</PartNumber><ETag>\"0123456789abcdef0123456789abcdef\"</ETag></Part>"
                ));
            }
            xml.push_str("</CompleteMultipartUpload>");
            let sha = {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(xml.as_bytes()))
            };
            let complete = Req {
                method: "POST",
                path,
                query: format!("uploadId={enc}"),
                payload_hash: sha,
                extra: vec![("content-length", xml.len().to_string())],
                body: ReqBody::Full(Some(Bytes::from(xml))),
            };
            let r = send(c, build(t, complete), true).await?;
            if r.status >= 300 {
                return Err(format!("complete: status {}: {}", r.status, body_text(&r)));
            }
            Ok(op.bytes())
        }
    }
}

fn body_text(r: &Resp) -> String {
    r.body
        .as_ref()
        .map(|b| String::from_utf8_lossy(&b[..b.len().min(400)]).into_owned())
        .unwrap_or_default()
}

/// What one run measured (client side).
#[derive(Default, Clone, Debug)]
pub struct Measured {
    pub requests: u64,
    pub errors: u64,
    pub bytes: u64,
    pub secs: f64,
    /// Latencies in nanoseconds, sorted.
    pub lat: Vec<u64>,
    pub first_error: Option<String>,
}

impl Measured {
    pub fn pct(&self, p: f64) -> f64 {
        if self.lat.is_empty() {
            return f64::NAN;
        }
        let i = ((self.lat.len() as f64 - 1.0) * p).round() as usize;
        self.lat[i.min(self.lat.len() - 1)] as f64 / 1e6 // ms
    }
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.secs
    }
    pub fn mbps(&self) -> f64 {
        self.bytes as f64 / self.secs / 1e6
    }
}

/// How requests are issued.
#[derive(Clone, Copy, Debug)]
pub enum Pace {
    /// Closed loop: every worker sends its next request as soon as the previous one finished.
    Closed,
    /// Open loop at this many requests per second in total (spread over the workers; a request
    /// whose slot comes while every worker is busy waits, and that wait is not counted).
    Rate(f64),
    /// Closed loop, exactly this many requests in total, no warm-up; the window lasts until the
    /// last one finished (bounds what a run writes to a real backend).
    Count(u64),
}

/// Runs `op` against `t` with `conc` connections: `warmup`, then a measured `window`.
/// `at_window` is called when the measured window starts and ends (to snapshot /proc).
#[allow(clippy::too_many_arguments)] // one call site; the knobs of one measured run
pub async fn run(
    t: Arc<Target>,
    op: Op,
    conc: usize,
    pace: Pace,
    warmup: Duration,
    window: Duration,
    bodies: Arc<Bodies>,
    mut at_window: impl FnMut(bool) + Send,
) -> Measured {
    let start = Instant::now();
    let (warmup, window) = match pace {
        // effectively unbounded; the ticket count ends the run
        Pace::Count(_) => (Duration::ZERO, Duration::from_secs(24 * 3600)),
        _ => (warmup, window),
    };
    let win_start = start + warmup;
    let win_end = win_start + window;
    let ticket = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..conc {
        let t = t.clone();
        let bodies = bodies.clone();
        let ticket = ticket.clone();
        tasks.push(tokio::spawn(async move {
            let mut m = Measured::default();
            let mut conn: Option<Conn> = None;
            loop {
                let sched = match pace {
                    Pace::Closed => Instant::now(),
                    Pace::Count(n) => {
                        if ticket.fetch_add(1, Ordering::Relaxed) >= n {
                            break;
                        }
                        Instant::now()
                    }
                    Pace::Rate(r) => {
                        let i = ticket.fetch_add(1, Ordering::Relaxed);
                        let at = start + Duration::from_secs_f64(i as f64 / r);
                        if at >= win_end {
                            break;
                        }
                        tokio::time::sleep_until(at.into()).await;
                        at
                    }
                };
                if sched >= win_end {
                    break;
                }
                if conn.is_none() {
                    match connect(t.addr).await {
                        Ok(c) => conn = Some(c),
                        Err(e) => {
                            m.errors += 1;
                            m.first_error.get_or_insert(format!("connect: {e}"));
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    }
                }
                let c = conn.as_mut().expect("connected");
                let t0 = Instant::now();
                // a stuck backend (e.g. a full Ceph cluster blocks writes) must not hang the run
                let r = match tokio::time::timeout(REQUEST_TIMEOUT, execute(c, &t, op, &bodies, w))
                    .await
                {
                    Ok(r) => r,
                    Err(_) => Err(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())),
                };
                let t1 = Instant::now();
                let counted = t0 >= win_start && t1 <= win_end;
                match r {
                    Ok(bytes) => {
                        if counted {
                            m.requests += 1;
                            m.bytes += bytes;
                            m.lat.push((t1 - t0).as_nanos() as u64);
                        }
                    }
                    Err(e) => {
                        conn = None;
                        if counted || t0 >= win_start {
                            m.errors += 1;
                        }
                        m.first_error.get_or_insert(e);
                    }
                }
            }
            m
        }));
    }
    let mut all = Measured::default();
    if matches!(pace, Pace::Count(_)) {
        at_window(true);
        let mut done = Vec::new();
        for task in tasks {
            done.push(task.await);
        }
        at_window(false);
        all.secs = start.elapsed().as_secs_f64();
        tasks = done
            .into_iter()
            .map(|r| tokio::spawn(async move { r.unwrap_or_default() }))
            .collect();
    } else {
        tokio::time::sleep_until(win_start.into()).await;
        at_window(true);
        tokio::time::sleep_until(win_end.into()).await;
        at_window(false);
        all.secs = window.as_secs_f64();
    }
    for task in tasks {
        if let Ok(m) = task.await {
            all.requests += m.requests;
            all.errors += m.errors;
            all.bytes += m.bytes;
            all.lat.extend(m.lat);
            if all.first_error.is_none() {
                all.first_error = m.first_error;
            }
        }
    }
    all.lat.sort_unstable();
    all
}

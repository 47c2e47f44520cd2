//! A hand-rolled HTTP/1.1 requester and SigV4 signer for the attack and isolation tests.
//!
//! Requests are written as raw bytes on a `std::net::TcpStream`, so a header value may hold any
//! byte (≥ 0x80, invalid UTF-8), a header may be repeated, and the signer signs exactly the header
//! names the test chooses — nothing is added, normalised or re-encoded behind the test's back. The
//! canonical request is built here over the raw bytes from the crate's own SigV4 building blocks
//! (`canonical_uri`, `canonical_query`, `scope`, `string_to_sign`, `signing_key`, `sign`), so a
//! non-UTF-8 value is signed as the bytes on the wire.
//!
//! Include it with `#[path = "common/raw.rs"] mod raw;` next to `mod common;` (the tenant helpers at
//! the end use `crate::common::Osis`).
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use osprey::s3::sigv4;

pub const EMPTY_SHA256: &str = sigv4::EMPTY_SHA256_HEX;
pub const UNSIGNED: &str = sigv4::UNSIGNED_PAYLOAD;

/// An S3 key pair and the region requests are signed for.
#[derive(Clone, Debug)]
pub struct Creds {
    pub ak: String,
    pub sk: String,
    pub region: String,
}

impl Creds {
    pub fn new(ak: &str, sk: &str) -> Creds {
        Creds {
            ak: ak.to_string(),
            sk: sk.to_string(),
            region: "us-east-1".to_string(),
        }
    }

    pub fn region(mut self, region: &str) -> Creds {
        self.region = region.to_string();
        self
    }
}

/// A request exactly as it will be written: request line `METHOD path[?query] HTTP/1.1`, the headers
/// in order (names as given, values raw bytes), a blank line, the body.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    /// Raw path as on the request line (already percent-encoded as the test wants it).
    pub path: String,
    /// Raw query without `?` (empty: none).
    pub query: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Req {
    /// A request with `Host: host`; PUT and POST get `content-length: 0` until a body is set.
    pub fn new(method: &str, host: &str, path: &str) -> Req {
        let mut r = Req {
            method: method.to_string(),
            path: path.to_string(),
            query: String::new(),
            headers: vec![("host".to_string(), host.as_bytes().to_vec())],
            body: Vec::new(),
        };
        if method == "PUT" || method == "POST" {
            r.headers
                .push(("content-length".to_string(), b"0".to_vec()));
        }
        r
    }

    pub fn query(mut self, q: &str) -> Req {
        self.query = q.to_string();
        self
    }

    /// Adds a header (a repeated name is sent twice).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Req {
        self.headers
            .push((name.to_string(), value.as_ref().to_vec()));
        self
    }

    /// Replaces every header of this name (case-insensitive) by one with `value`.
    pub fn set_header(mut self, name: &str, value: impl AsRef<[u8]>) -> Req {
        self.remove_header(name);
        self.headers
            .push((name.to_string(), value.as_ref().to_vec()));
        self
    }

    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Sets the body and a matching `content-length`.
    pub fn body(mut self, body: impl AsRef<[u8]>) -> Req {
        self.body = body.as_ref().to_vec();
        let len = self.body.len().to_string();
        self.set_header("content-length", len)
    }

    pub fn target(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }

    pub fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    /// The bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.target().as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        for (n, v) in &self.headers {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    /// Header auth at the current time: sets `x-amz-date` and `x-amz-content-sha256`, then
    /// `authorization` over exactly `signed` (lower-cased, sorted). Every signed header must be
    /// present. `payload_hash` is the literal sent as `x-amz-content-sha256`.
    pub fn sign(self, c: &Creds, signed: &[&str], payload_hash: &str) -> Req {
        self.sign_at(c, signed, payload_hash, chrono::Utc::now())
    }

    /// [`Req::sign`] with the SHA-256 of the body as the payload hash.
    pub fn sign_body(self, c: &Creds, signed: &[&str]) -> Req {
        let h = sigv4::sha256_hex(&self.body);
        self.sign(c, signed, &h)
    }

    /// The usual signed set: `host;x-amz-content-sha256;x-amz-date` plus `extra`.
    pub fn sign_std(self, c: &Creds, extra: &[&str]) -> Req {
        let mut names = vec!["host", "x-amz-content-sha256", "x-amz-date"];
        names.extend_from_slice(extra);
        self.sign_body(c, &names)
    }

    pub fn sign_at(
        self,
        c: &Creds,
        signed: &[&str],
        payload_hash: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Req {
        let amz_date = sigv4::format_amz_date(&at);
        let mut r = self
            .set_header("x-amz-date", &amz_date)
            .set_header("x-amz-content-sha256", payload_hash);
        r.remove_header("authorization");
        let names = sorted_names(signed);
        let creq = canonical_request_bytes(
            &r.method,
            &r.path,
            &r.query,
            false,
            &r.headers,
            &names,
            payload_hash,
        );
        let date = &amz_date[..8];
        let scope = sigv4::scope(date, &c.region, "s3");
        let sts = sigv4::string_to_sign(&amz_date, &scope, &sigv4::sha256_hex(&creq));
        let key = sigv4::signing_key(&c.sk, date, &c.region, "s3");
        let sig = hex::encode(sigv4::sign(&key, &sts));
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={sig}",
            c.ak,
            names.join(";")
        );
        r.header("authorization", auth)
    }

    /// Query auth (a presigned URL) at the current time over `signed` (usually just `host`),
    /// `UNSIGNED-PAYLOAD`, valid for `expires` seconds. Headers added after this are unsigned.
    pub fn presign(self, c: &Creds, signed: &[&str], expires: u64) -> Req {
        self.presign_at(c, signed, expires, chrono::Utc::now())
    }

    pub fn presign_at(
        mut self,
        c: &Creds,
        signed: &[&str],
        expires: u64,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Req {
        let amz_date = sigv4::format_amz_date(&at);
        let date = &amz_date[..8];
        let scope = sigv4::scope(date, &c.region, "s3");
        let names = sorted_names(signed);
        let mut q = self.query.clone();
        if !q.is_empty() {
            q.push('&');
        }
        q.push_str(&format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date={amz_date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders={}",
            sigv4::uri_encode(&format!("{}/{scope}", c.ak), true),
            sigv4::uri_encode(&names.join(";"), true),
        ));
        let creq = canonical_request_bytes(
            &self.method,
            &self.path,
            &q,
            true,
            &self.headers,
            &names,
            UNSIGNED,
        );
        let sts = sigv4::string_to_sign(&amz_date, &scope, &sigv4::sha256_hex(&creq));
        let key = sigv4::signing_key(&c.sk, date, &c.region, "s3");
        q.push_str("&X-Amz-Signature=");
        q.push_str(&hex::encode(sigv4::sign(&key, &sts)));
        self.query = q;
        self
    }
}

fn sorted_names(signed: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = signed.iter().map(|s| s.to_ascii_lowercase()).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// SigV4 "Trimall": trim spaces/tabs, collapse inner runs to one space (over bytes).
fn trim_all(v: &[u8], out: &mut Vec<u8>) {
    let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !is_ws(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !is_ws(b)).map_or(start, |e| e + 1);
    let mut pending = false;
    for &b in &v[start..end] {
        if is_ws(&b) {
            pending = true;
        } else {
            if pending {
                out.push(b' ');
                pending = false;
            }
            out.push(b);
        }
    }
}

/// The canonical request over raw header bytes (task 1 of SigV4; same rules as
/// `osprey::s3::sigv4::canonical_request`, which needs `&str` values).
pub fn canonical_request_bytes(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    presigned: bool,
    headers: &[(String, Vec<u8>)],
    names: &[String],
    payload_hash: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(sigv4::canonical_uri(raw_path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(
        sigv4::canonical_query(raw_query, presigned)
            .expect("canonical query")
            .as_bytes(),
    );
    out.push(b'\n');
    for name in names {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut found = false;
        for (_, v) in headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
            if found {
                out.push(b',');
            }
            found = true;
            trim_all(v, &mut out);
        }
        assert!(found, "signed header {name} is not in the request");
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(names.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    out
}

// ---------------------------------------------------------------------------------------------
// responses

#[derive(Clone, Debug, Default)]
pub struct Resp {
    pub status: u16,
    pub reason: String,
    /// Lower-cased names, raw values.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// Status line and headers as received.
    pub head: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `<Code>…</Code>` of an S3 error body.
    pub fn code(&self) -> Option<String> {
        xml_value(&self.text(), "Code")
    }

    /// `status code` for messages, e.g. `403 AccessDenied`.
    pub fn summary(&self) -> String {
        format!(
            "{} {}",
            self.status,
            self.code().unwrap_or_else(|| "-".into())
        )
    }

    /// Everything the client saw: head and body.
    pub fn everything(&self) -> String {
        let mut all = self.head.clone();
        all.extend_from_slice(&self.body);
        String::from_utf8_lossy(&all).into_owned()
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Text of the first `<tag>…</tag>`.
pub fn xml_value(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let i = xml.find(&open)? + open.len();
    let j = xml[i..].find(&close)? + i;
    Some(xml[i..j].to_string())
}

/// Every `<tag>…</tag>` text.
pub fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let s = &rest[i + open.len()..];
        let Some(j) = s.find(&close) else { break };
        out.push(s[..j].to_string());
        rest = &s[j + close.len()..];
    }
    out
}

// ---------------------------------------------------------------------------------------------
// connections

/// One client connection.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// How a connection ended while waiting for it to close.
#[derive(Debug, Clone)]
pub struct Closed {
    /// Time from the start of the wait until EOF/reset (or the deadline).
    pub after: Duration,
    /// False if the deadline passed with the connection still open.
    pub closed: bool,
    /// Bytes the server wrote meanwhile (e.g. a 408 or 431 response).
    pub received: Vec<u8>,
}

impl Closed {
    pub fn status(&self) -> Option<u16> {
        let s = String::from_utf8_lossy(&self.received);
        let line = s.lines().next()?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Conn {
    pub fn connect(addr: &str) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        stream.set_write_timeout(Some(Duration::from_secs(30)))?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    pub fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    pub fn send(&mut self, req: &Req) -> std::io::Result<Resp> {
        self.write_raw(&req.to_bytes())?;
        self.read_response(req.method == "HEAD")
    }

    fn fill(&mut self) -> std::io::Result<usize> {
        let mut tmp = [0u8; 16 * 1024];
        let n = self.stream.read(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    fn need(&mut self, n: usize) -> std::io::Result<()> {
        while self.buf.len() < n {
            if self.fill()? == 0 {
                return Err(std::io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!("connection closed after {} of {n} bytes", self.buf.len()),
                ));
            }
        }
        Ok(())
    }

    fn line(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let l = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return Ok(l);
            }
            if self.fill()? == 0 {
                return Err(std::io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "connection closed mid-line",
                ));
            }
        }
    }

    /// Reads one response (1xx interim responses skipped). A body without length is read to EOF;
    /// a body cut short is returned as far as it came (the error is dropped, `body` is shorter).
    pub fn read_response(&mut self, head_request: bool) -> std::io::Result<Resp> {
        loop {
            let end = loop {
                if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                if self.fill()? == 0 {
                    return Err(std::io::Error::new(
                        ErrorKind::UnexpectedEof,
                        format!(
                            "connection closed before a full response head ({} bytes: {:?})",
                            self.buf.len(),
                            String::from_utf8_lossy(&self.buf)
                        ),
                    ));
                }
            };
            let head: Vec<u8> = self.buf.drain(..end).collect();
            let text = String::from_utf8_lossy(&head).into_owned();
            let mut lines = text.split("\r\n");
            let status_line = lines.next().unwrap_or_default();
            let mut parts = status_line.splitn(3, ' ');
            let _version = parts.next();
            let status: u16 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| {
                std::io::Error::new(
                    ErrorKind::InvalidData,
                    format!("bad status line {status_line:?}"),
                )
            })?;
            let reason = parts.next().unwrap_or_default().to_string();
            // raw header values (bytes), from the raw head
            let mut headers = Vec::new();
            let body_start = head.windows(2).position(|w| w == b"\r\n").unwrap_or(0) + 2;
            for l in head[body_start..].split(|b| *b == b'\n') {
                let l = l.strip_suffix(b"\r").unwrap_or(l);
                if l.is_empty() {
                    continue;
                }
                if let Some(c) = l.iter().position(|b| *b == b':') {
                    let name = String::from_utf8_lossy(&l[..c]).trim().to_ascii_lowercase();
                    let mut v = &l[c + 1..];
                    while v.first() == Some(&b' ') || v.first() == Some(&b'\t') {
                        v = &v[1..];
                    }
                    headers.push((name, v.to_vec()));
                }
            }
            if (100..200).contains(&status) {
                continue;
            }
            let mut resp = Resp {
                status,
                reason,
                headers,
                body: Vec::new(),
                head,
            };
            if head_request || status == 204 || status == 304 {
                return Ok(resp);
            }
            let chunked = resp
                .header("transfer-encoding")
                .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
            if chunked {
                loop {
                    let l = match self.line() {
                        Ok(l) => l,
                        Err(_) => return Ok(resp),
                    };
                    let size_txt = String::from_utf8_lossy(&l);
                    let size =
                        usize::from_str_radix(size_txt.split(';').next().unwrap_or("").trim(), 16)
                            .map_err(|_| {
                                std::io::Error::new(ErrorKind::InvalidData, "bad chunk size")
                            })?;
                    if size == 0 {
                        // trailers until the empty line
                        while let Ok(t) = self.line() {
                            if t.is_empty() {
                                break;
                            }
                        }
                        return Ok(resp);
                    }
                    if self.need(size + 2).is_err() {
                        resp.body.extend_from_slice(&self.buf);
                        self.buf.clear();
                        return Ok(resp);
                    }
                    resp.body.extend(self.buf.drain(..size));
                    self.buf.drain(..2);
                }
            } else if let Some(len) = resp
                .header("content-length")
                .and_then(|l| l.trim().parse::<usize>().ok())
            {
                if self.need(len).is_err() {
                    resp.body = std::mem::take(&mut self.buf);
                    return Ok(resp);
                }
                resp.body = self.buf.drain(..len).collect();
            } else {
                loop {
                    match self.fill() {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                resp.body = std::mem::take(&mut self.buf);
            }
            return Ok(resp);
        }
    }

    /// Waits until the server closes (EOF or reset) or `deadline` passes, collecting what it wrote.
    pub fn wait_closed(&mut self, deadline: Duration) -> Closed {
        let start = Instant::now();
        let mut received = std::mem::take(&mut self.buf);
        loop {
            let left = deadline.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Closed {
                    after: start.elapsed(),
                    closed: false,
                    received,
                };
            }
            let _ = self
                .stream
                .set_read_timeout(Some(left.min(Duration::from_millis(200))));
            let mut tmp = [0u8; 8192];
            match self.stream.read(&mut tmp) {
                Ok(0) => {
                    return Closed {
                        after: start.elapsed(),
                        closed: true,
                        received,
                    }
                }
                Ok(n) => received.extend_from_slice(&tmp[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => {
                    return Closed {
                        after: start.elapsed(),
                        closed: true,
                        received,
                    }
                }
            }
        }
    }
}

/// One request on a fresh connection.
pub fn send(addr: &str, req: &Req) -> Resp {
    let mut c = Conn::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    c.send(req)
        .unwrap_or_else(|e| panic!("{} {}: {e}", req.method, req.target()))
}

// ---------------------------------------------------------------------------------------------
// tenants (need `mod common;` in the including test crate)

/// A tenant with one user: its key for the raw requester and an aws-sdk client.
pub struct Tenant {
    pub tenant_id: String,
    pub user_id: String,
    pub creds: Creds,
    pub s3: aws_sdk_s3::Client,
}

pub fn sdk_client(endpoint: &str, ak: &str, sk: &str) -> aws_sdk_s3::Client {
    let creds = aws_sdk_s3::config::Credentials::new(ak, sk, None, None, "test");
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version_latest()
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Tenant `name` (Cloud Director org `org-<name>`) with user `user-<name>`, through OSIS.
pub async fn onboard(o: &crate::common::Osprey, name: &str) -> Tenant {
    let api = crate::common::Osis::new(o.osis());
    let cd = format!("org-{name}");
    let tid = api.tenant(name, &cd).await;
    let (uid, ak, sk) = api.user(&tid, &cd, &format!("user-{name}")).await;
    Tenant {
        tenant_id: tid,
        user_id: uid,
        s3: sdk_client(&o.s3(), &ak, &sk),
        creds: Creds::new(&ak, &sk),
    }
}

/// `127.0.0.1:<s3 port>`: the address and the `Host` of path-style requests.
pub fn s3_addr(o: &crate::common::Osprey) -> String {
    format!("127.0.0.1:{}", o.s3_port)
}

pub fn osis_addr(o: &crate::common::Osprey) -> String {
    format!("127.0.0.1:{}", o.osis_port)
}

/// GET an object with the SDK: `Ok(bytes)` or `Err(code)`.
pub async fn sdk_get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    use aws_sdk_s3::error::ProvideErrorMetadata;
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => Ok(o.body.collect().await.unwrap().into_bytes().to_vec()),
        Err(e) => Err(e.code().map(str::to_string).unwrap_or_else(|| {
            format!(
                "HTTP{}",
                e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0)
            )
        })),
    }
}

/// Keys of a bucket (ListObjectsV2, all pages).
pub async fn sdk_keys(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let r = s3
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("list {bucket}: {e:?}"));
        out.extend(
            r.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
        match r.next_continuation_token() {
            Some(t) if r.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => break,
        }
    }
    out.sort();
    out
}

pub async fn sdk_put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
}

pub async fn sdk_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {bucket}: {e:?}"));
}

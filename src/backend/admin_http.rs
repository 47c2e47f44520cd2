//! Signed HTTP calls to backends' admin APIs (Ceph RGW Admin Ops, IAM), signed by Osprey's one
//! SigV4 signer (`s3::sigv4::sign`, issue 12) and sent with reqwest.
//!
//! Every failure is classified for the provisioning layer: a 4xx answer is `Refused` (retrying the
//! same call will not help), a 5xx, a time-out or a refused connection is `Unavailable` (a reconciler
//! may retry later).

use std::time::{Duration, SystemTime};

use sha2::Digest as _;

use super::{BackendError, SigningKey};
use crate::s3::sigv4::{self, Credentials, Outgoing};

/// Largest admin-API answer Osprey reads (4 MiB): user and bucket listings of one tenant fit easily;
/// a misbehaving endpoint must not make Osprey buffer without bound. Enforced while reading
/// (issue 12: it used to be checked after the whole body was in memory), and up front when the
/// answer's `Content-Length` already says it is larger.
pub const MAX_ADMIN_RESPONSE: usize = 4 * 1024 * 1024;

/// Why [`read_limited`] stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The body (or its announced `Content-Length`) is larger than the limit.
    TooLarge,
    /// The connection failed or timed out mid-body.
    Transport(reqwest::Error),
}

/// The body of `resp`, read chunk by chunk and abandoned as soon as it exceeds `limit` bytes: at
/// most `limit` plus one chunk is ever buffered, whatever the peer sends (issue 12). Dropping the
/// response closes the connection, so the rest is never read.
pub(crate) async fn read_limited(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ReadError> {
    let announced = resp.content_length();
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(ReadError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A client for one backend's admin API.
pub struct AdminClient {
    pub backend: String,
    pub http: reqwest::Client,
    pub key: SigningKey,
    pub region: String,
    /// SigV4 service name (`s3` for RGW Admin Ops, `iam` for IAM).
    pub service: &'static str,
}

/// `": cause: its cause …"` for every error under `e`.
fn causes(e: &dyn std::error::Error) -> String {
    std::iter::successors(e.source(), |s| s.source())
        .map(|s| format!(": {s}"))
        .collect()
}

/// The raw answer of an admin call.
pub struct AdminResponse {
    pub status: u16,
    pub body: String,
}

impl AdminClient {
    pub fn new(
        backend: &str,
        key: SigningKey,
        region: &str,
        service: &'static str,
        timeout: Duration,
    ) -> Result<Self, BackendError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| BackendError::Internal {
                backend: backend.to_string(),
                message: format!("HTTP client: {e}"),
            })?;
        Ok(AdminClient {
            backend: backend.to_string(),
            http,
            key,
            region: region.to_string(),
            service,
        })
    }

    fn unavailable(&self, message: String) -> BackendError {
        BackendError::Unavailable {
            backend: self.backend.clone(),
            message,
        }
    }

    /// Send a signed request. `url` must already be percent-encoded. Answers with any status are
    /// returned; only transport failures are errors.
    pub async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<AdminResponse, BackendError> {
        let internal = |message: String| BackendError::Internal {
            backend: self.backend.clone(),
            message,
        };
        let parsed =
            reqwest::Url::parse(url).map_err(|_| internal(format!("bad admin URL {url}")))?;
        let host = parsed
            .host_str()
            .map(|h| match parsed.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            })
            .ok_or_else(|| internal(format!("bad admin URL {url}")))?;
        let path_and_query = match parsed.query() {
            Some(q) => format!("{}?{q}", parsed.path()),
            None => parsed.path().to_string(),
        };
        let mut headers: Vec<(String, String)> = vec![("host".into(), host)];
        if let Some(ct) = content_type {
            headers.push(("content-type".into(), ct.to_string()));
        }
        let payload_hash = hex::encode(sha2::Sha256::digest(&body));
        let signed = sigv4::resign_for(
            &Outgoing {
                method: method.as_str(),
                path_and_query: &path_and_query,
                headers: &headers,
                payload_hash: &payload_hash,
            },
            Credentials {
                access_key: &self.key.access_key,
                secret_key: &self.key.secret_key,
            },
            &self.region,
            self.service,
            SystemTime::now(),
        )
        .map_err(|e| internal(format!("signing: {e}")))?;
        let mut req = self.http.request(method, url).body(body);
        for (k, v) in headers.iter().skip(1) {
            req = req.header(k.as_str(), v.as_str());
        }
        for (k, v) in &signed.headers {
            req = req.header(*k, v.as_str());
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                self.unavailable(format!("admin API did not answer in time ({e})"))
            } else {
                // reqwest's own text ("error sending request for url (…)") names no cause;
                // the chain says which: refused, reset, closed mid-answer, TLS …
                self.unavailable(format!("admin API unreachable ({e}{})", causes(&e)))
            }
        })?;
        let status = resp.status().as_u16();
        let bytes = read_limited(resp, MAX_ADMIN_RESPONSE)
            .await
            .map_err(|e| match e {
                ReadError::TooLarge => self.unavailable(format!(
                    "admin answer larger than {MAX_ADMIN_RESPONSE} bytes"
                )),
                ReadError::Transport(e) => self.unavailable(format!("reading admin answer: {e}")),
            })?;
        Ok(AdminResponse {
            status,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }

    /// Classify a non-2xx answer.
    pub fn failure(&self, what: &str, r: &AdminResponse) -> BackendError {
        let detail: String = r.body.chars().take(300).collect();
        let message = format!("{what}: HTTP {} {detail}", r.status);
        if r.status >= 500 {
            BackendError::Unavailable {
                backend: self.backend.clone(),
                message,
            }
        } else {
            BackendError::Refused {
                backend: self.backend.clone(),
                message,
            }
        }
    }
}

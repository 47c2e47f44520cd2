//! One S3 error type that knows its HTTP status, S3 code, message and XML body, where it came from
//! (Osprey itself or the backend) and whether the client may safely retry.
//!
//! Lower layers (SigV4, chunked decoding, store, routing, backend transport) are mapped into it
//! explicitly (garage: `api/common/generic_server.rs`), never through a catch-all `500`.

use std::borrow::Cow;

use http::StatusCode;

/// Who produced the error: a client needs to know whether Osprey refused the request or the storage
/// platform did (a backend's own errors are passed through unchanged and never wrapped in this type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Osprey rejected the request before or instead of forwarding it.
    Gateway,
    /// The backend could not be reached or failed mid-stream.
    Upstream,
}

#[derive(Debug, Clone)]
pub struct S3Error {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: Cow<'static, str>,
    /// The bucket/key path the error is about (`<Resource>`).
    pub resource: Option<String>,
    /// Extra elements AWS adds for some codes (e.g. `RequestTime`, `ServerTime`,
    /// `MaxAllowedSkewMilliseconds` for RequestTimeTooSkewed).
    pub extra: Vec<(&'static str, String)>,
    pub origin: Origin,
    /// Whether repeating the same request may succeed (503s, time-outs). Sent as a log field and used
    /// for the `Retry-After` header.
    pub retryable: bool,
}

impl S3Error {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        S3Error {
            status,
            code,
            message: message.into(),
            resource: None,
            extra: Vec::new(),
            origin: Origin::Gateway,
            retryable: false,
        }
    }

    pub fn with_resource(mut self, r: impl Into<String>) -> Self {
        self.resource = Some(r.into());
        self
    }

    pub fn with_extra(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    pub fn upstream(mut self) -> Self {
        self.origin = Origin::Upstream;
        self
    }

    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }

    // ---- the codes Osprey itself emits (docs/troubleshooting.md lists each with its remedy)

    pub fn access_denied(msg: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", msg)
    }
    pub fn invalid_access_key_id() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    }
    pub fn no_such_bucket(bucket: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        )
        .with_resource(format!("/{bucket}"))
    }
    /// BucketAlreadyExists: the name is someone else's.
    pub fn bucket_name_taken(bucket: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "BucketAlreadyExists",
            "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
        )
        .with_resource(format!("/{bucket}"))
    }

    pub fn bucket_already_exists(bucket: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
        )
        .with_resource(format!("/{bucket}"))
    }
    pub fn invalid_bucket_name(bucket: &str, why: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidBucketName",
            format!("The specified bucket is not valid: {why}"),
        )
        .with_resource(format!("/{bucket}"))
    }
    pub fn invalid_request(msg: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidRequest", msg)
    }
    pub fn invalid_argument(msg: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidArgument", msg)
    }
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        )
    }
    pub fn not_implemented(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("Osprey does not implement {what}."),
        )
    }
    pub fn internal(msg: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", msg)
    }
    /// The backend could not be reached or did not answer in time: never a hang, never an HTML page.
    pub fn service_unavailable(backend: &str, detail: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            format!("Backend `{backend}` is unavailable: {detail}. Please retry."),
        )
        .upstream()
        .retryable()
    }
    pub fn slow_down(backend: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            format!("Backend `{backend}` did not answer in time. Please reduce your request rate and retry."),
        )
        .upstream()
        .retryable()
    }

    /// The XML body AWS sends (`<Error><Code/><Message/><Resource/><RequestId/>…</Error>`).
    pub fn to_xml(&self, request_id: &str) -> String {
        use quick_xml::escape::escape;
        let mut s = String::with_capacity(256);
        s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
        s.push_str(self.code);
        s.push_str("</Code><Message>");
        s.push_str(&escape(self.message.as_ref()));
        s.push_str("</Message>");
        if let Some(r) = &self.resource {
            s.push_str("<Resource>");
            s.push_str(&escape(r.as_str()));
            s.push_str("</Resource>");
        }
        for (name, value) in &self.extra {
            s.push('<');
            s.push_str(name);
            s.push('>');
            s.push_str(&escape(value.as_str()));
            s.push_str("</");
            s.push_str(name);
            s.push('>');
        }
        s.push_str("<RequestId>");
        s.push_str(&escape(request_id));
        s.push_str("</RequestId></Error>");
        s
    }
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for S3Error {}

/// A signature failure as S3 answers it: its status, code and extra elements (e.g.
/// `RequestTimeTooSkewed`'s `RequestTime`/`ServerTime`).
impl From<super::sigv4::SigError> for S3Error {
    fn from(e: super::sigv4::SigError) -> Self {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::FORBIDDEN);
        let mut err = S3Error::new(status, e.s3_code(), e.to_string());
        for (n, v) in e.extra_elements() {
            err = err.with_extra(n, v);
        }
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_is_escaped_and_complete() {
        let e = S3Error::no_such_bucket("a<b").with_extra("BucketName", "a<b");
        let x = e.to_xml("req1");
        assert!(x.contains("<Code>NoSuchBucket</Code>"));
        assert!(x.contains("<Resource>/a&lt;b</Resource>"));
        assert!(x.contains("<BucketName>a&lt;b</BucketName>"));
        assert!(x.ends_with("<RequestId>req1</RequestId></Error>"));
        assert_eq!(e.status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn unavailable_is_upstream_and_retryable() {
        let e = S3Error::service_unavailable("ceph", "connection refused");
        assert_eq!(e.origin, Origin::Upstream);
        assert!(e.retryable);
        assert_eq!(e.status.as_u16(), 503);
    }
}

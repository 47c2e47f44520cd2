//! The one error type of request authentication and aws-chunked decoding.
//!
//! Each variant maps to exactly one S3 error code and HTTP status (AWS S3 API Reference,
//! "Error responses" → "List of error codes"), so the layer above can build the XML error body
//! without guessing. Messages never contain secrets or computed signatures: a client that could
//! read the expected signature of a forged request could use it.

/// Why a request's authentication or its aws-chunked body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// Neither an `Authorization` header nor presigned query parameters were sent.
    #[error("Request is missing authentication: no Authorization header or X-Amz-Signature query parameter")]
    MissingAuth,
    /// Both an `Authorization` header and presigned query parameters were sent.
    #[error("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified")]
    MultipleAuthMechanisms,
    /// The `Authorization` header could not be parsed (the text says which part and why).
    #[error("The authorization header is malformed: {0}")]
    MalformedAuth(String),
    /// The presigned-URL query parameters could not be parsed (the text says which and why).
    #[error("Error parsing the X-Amz-* query parameters: {0}")]
    MalformedPresign(String),
    /// An algorithm other than `AWS4-HMAC-SHA256` (e.g. SigV2 `AWS AKID:sig`, or SigV4a).
    #[error("The authorization mechanism you have provided ({0}) is not supported. Please use AWS4-HMAC-SHA256.")]
    UnsupportedAlgorithm(String),
    /// The access key is unknown to the credential store.
    #[error("The AWS Access Key Id you provided does not exist in our records.")]
    InvalidAccessKeyId,
    /// The signature over the request head did not match.
    #[error("The request signature we calculated does not match the signature you provided. Check your key and signing method.")]
    SignatureDoesNotMatch,
    /// `x-amz-*` headers were sent that are not covered by the signature; the text lists them.
    #[error("There were headers present in the request which were not signed: {0}")]
    HeadersNotSigned(String),
    /// Neither a valid `x-amz-date` nor `Date` header (or presigned `X-Amz-Date`).
    #[error("AWS authentication requires a valid Date or x-amz-date header: {0}")]
    InvalidDate(String),
    /// The request time is further from the server clock than the permitted skew.
    #[error("The difference between the request time and the current time is too large.")]
    RequestTimeTooSkewed {
        /// The request time as the client sent it.
        request_time: String,
        /// The server's clock, RFC 3339 UTC.
        server_time: String,
        /// The permitted skew in milliseconds (AWS `MaxAllowedSkewMilliseconds`).
        max_skew_ms: u64,
    },
    /// A presigned URL used after `X-Amz-Date + X-Amz-Expires`.
    #[error("Request has expired")]
    ExpiredPresign,
    /// A presigned URL used before `X-Amz-Date` (minus the permitted skew).
    #[error("Request is not valid yet")]
    PresignNotYetValid,
    /// `X-Amz-Expires` above [`super::MAX_PRESIGN_EXPIRES_SECS`] (or below 1, or negative):
    /// 403 AccessDenied, as RGW answers it (ceph/s3-tests `test_object_raw_get_x_amz_expires_out_*`).
    #[error("X-Amz-Expires must be between 1 and 604800 seconds (one week)")]
    PresignTooLong,
    /// Header-signed S3 requests must carry `x-amz-content-sha256`.
    #[error("Missing required header for this request: x-amz-content-sha256")]
    MissingContentSha256,
    /// `x-amz-content-sha256` is neither a SHA-256 hex digest nor one of the documented literals.
    #[error("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-UNSIGNED-PAYLOAD-TRAILER or a valid sha256 value")]
    InvalidContentSha256,
    /// The body's SHA-256 is not the one `x-amz-content-sha256` promised.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    XAmzContentSha256Mismatch,
    /// A documented feature Osprey does not implement (e.g. SigV4a ECDSA streaming).
    #[error("Osprey does not implement {0}")]
    NotImplemented(&'static str),
    /// The aws-chunked framing is broken (the text says where).
    #[error("The aws-chunked body is malformed: {0}")]
    MalformedChunk(String),
    /// A `chunk-signature` or `x-amz-trailer-signature` did not match.
    #[error("The chunk signature we calculated does not match the signature you provided.")]
    ChunkSignatureMismatch,
    /// The trailer section is missing, unexpected or not well-formed.
    #[error("The request contained trailing data that was not well-formed: {0}")]
    MalformedTrailer(String),
    /// The trailing (or header) checksum does not match the data received.
    #[error("The {algorithm} you specified did not match the calculated checksum.")]
    ChecksumMismatch {
        /// Header name of the checksum, e.g. `x-amz-checksum-crc32`.
        algorithm: &'static str,
    },
    /// The body ended early, or its decoded length differs from `x-amz-decoded-content-length`.
    #[error(
        "You did not provide the number of bytes specified by the Content-Length HTTP header."
    )]
    IncompleteBody,
    /// The body is longer than allowed (declared length or hard limit).
    #[error("Your proposed upload exceeds the maximum allowed size.")]
    BodyTooLarge,
}

impl SigError {
    /// The S3 error `<Code>` for this error.
    pub fn s3_code(&self) -> &'static str {
        match self {
            SigError::MissingAuth
            | SigError::HeadersNotSigned(_)
            | SigError::InvalidDate(_)
            | SigError::ExpiredPresign
            | SigError::PresignNotYetValid
            | SigError::PresignTooLong => "AccessDenied",
            SigError::MultipleAuthMechanisms | SigError::InvalidContentSha256 => "InvalidArgument",
            SigError::MalformedAuth(_) => "AuthorizationHeaderMalformed",
            SigError::MalformedPresign(_) => "AuthorizationQueryParametersError",
            SigError::UnsupportedAlgorithm(_)
            | SigError::MissingContentSha256
            | SigError::MalformedChunk(_) => "InvalidRequest",
            SigError::InvalidAccessKeyId => "InvalidAccessKeyId",
            SigError::SignatureDoesNotMatch | SigError::ChunkSignatureMismatch => {
                "SignatureDoesNotMatch"
            }
            SigError::RequestTimeTooSkewed { .. } => "RequestTimeTooSkewed",
            SigError::XAmzContentSha256Mismatch => "XAmzContentSHA256Mismatch",
            SigError::NotImplemented(_) => "NotImplemented",
            SigError::MalformedTrailer(_) => "MalformedTrailerError",
            SigError::ChecksumMismatch { .. } => "BadDigest",
            SigError::IncompleteBody => "IncompleteBody",
            SigError::BodyTooLarge => "EntityTooLarge",
        }
    }

    /// The HTTP status S3 sends with [`Self::s3_code`].
    pub fn http_status(&self) -> u16 {
        match self {
            SigError::MissingAuth
            | SigError::HeadersNotSigned(_)
            | SigError::InvalidDate(_)
            | SigError::ExpiredPresign
            | SigError::PresignNotYetValid
            | SigError::PresignTooLong
            | SigError::InvalidAccessKeyId
            | SigError::SignatureDoesNotMatch
            | SigError::ChunkSignatureMismatch
            | SigError::RequestTimeTooSkewed { .. } => 403,
            SigError::NotImplemented(_) => 501,
            SigError::MultipleAuthMechanisms
            | SigError::InvalidContentSha256
            | SigError::MalformedAuth(_)
            | SigError::MalformedPresign(_)
            | SigError::UnsupportedAlgorithm(_)
            | SigError::MissingContentSha256
            | SigError::MalformedChunk(_)
            | SigError::XAmzContentSha256Mismatch
            | SigError::MalformedTrailer(_)
            | SigError::ChecksumMismatch { .. }
            | SigError::IncompleteBody
            | SigError::BodyTooLarge => 400,
        }
    }

    /// Extra elements AWS adds to the error body for this code, e.g. `RequestTime`, `ServerTime`
    /// and `MaxAllowedSkewMilliseconds` for `RequestTimeTooSkewed`.
    pub fn extra_elements(&self) -> Vec<(&'static str, String)> {
        match self {
            SigError::RequestTimeTooSkewed {
                request_time,
                server_time,
                max_skew_ms,
            } => vec![
                ("RequestTime", request_time.clone()),
                ("ServerTime", server_time.clone()),
                ("MaxAllowedSkewMilliseconds", max_skew_ms.to_string()),
            ],
            SigError::HeadersNotSigned(list) => vec![("HeadersNotSigned", list.clone())],
            _ => Vec::new(),
        }
    }
}

/// Shorthand used throughout `sigv4` and `chunked`.
pub type Result<T, E = SigError> = std::result::Result<T, E>;

//! Which authentication scheme a request uses, decided in one place (issue 12: the gateway, the
//! SigV2 and the SigV4 modules each had a rule of their own, and they disagreed on requests that
//! carry only some of the parameters).
//!
//! The `Authorization` header decides when present (`AWS ` = SigV2, anything else is parsed as
//! SigV4 and refused there if it is not); otherwise any SigV4 presign parameter makes it a
//! SigV4 presigned URL, any SigV2 one a SigV2 presigned URL, and none an anonymous request. An
//! incomplete set is refused by the verifier, never treated as anonymous.

/// SigV4 presigned-URL parameters (any one makes the request a presigned one).
pub const V4_PRESIGN_PARAMS: &[&str] = &["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"];
/// SigV2 query-authentication parameters.
pub const V2_PRESIGN_PARAMS: &[&str] = &["AWSAccessKeyId", "Signature"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Anonymous,
    V4,
    V2,
}

/// Whether the raw query names any of `names` as a parameter (with or without a value).
pub fn query_has(raw_query: &str, names: &[&str]) -> bool {
    raw_query.split('&').any(|p| {
        let k = p.split_once('=').map_or(p, |(k, _)| k);
        names.contains(&k)
    })
}

/// The scheme of a request with this `Authorization` header (if any) and raw query.
pub fn scheme(authorization: Option<&str>, raw_query: &str) -> Scheme {
    match authorization {
        Some(a) if a.starts_with("AWS ") => Scheme::V2,
        Some(_) => Scheme::V4,
        None if query_has(raw_query, V4_PRESIGN_PARAMS) => Scheme::V4,
        None if query_has(raw_query, V2_PRESIGN_PARAMS) => Scheme::V2,
        None => Scheme::Anonymous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_for_every_scheme() {
        let cases = [
            (None, "", Scheme::Anonymous),
            (None, "prefix=a&list-type=2", Scheme::Anonymous),
            (None, "X-Amz-Signature=abc", Scheme::V4),
            (None, "a=1&X-Amz-Credential", Scheme::V4),
            (None, "Signature=x&AWSAccessKeyId=A&Expires=1", Scheme::V2),
            // an incomplete SigV2 set is SigV2 (refused by its verifier), never anonymous
            (None, "AWSAccessKeyId=A", Scheme::V2),
            (None, "Signature=x", Scheme::V2),
            (None, "XSignature=x&notAWSAccessKeyId=1", Scheme::Anonymous),
            (Some("AWS AK:sig"), "", Scheme::V2),
            (Some("AWS4-HMAC-SHA256 Credential=…"), "", Scheme::V4),
            (Some("Bearer x"), "", Scheme::V4),
        ];
        for (a, q, want) in cases {
            assert_eq!(scheme(a, q), want, "{a:?} {q}");
        }
    }
}

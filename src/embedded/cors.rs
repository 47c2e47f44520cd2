//! CORS from a bucket's rules (issue 11; AWS S3 user guide, "Using cross-origin resource
//! sharing (CORS)"; API reference, OPTIONS object). s3s 0.14.1 routes no `OPTIONS` request (its
//! router has no such method), so [`Service`] wraps the s3s service: it answers preflights
//! itself and adds `Access-Control-*` headers to ordinary responses to requests that carry
//! `Origin`.

use std::sync::Arc;

use futures::future::BoxFuture;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, StatusCode};
use s3s::dto::{CORSConfiguration, CORSRule};
use s3s::service::S3Service;
use s3s::{s3_error, Body, HttpError, S3Error};

use super::store::{from_xml, to_xml, Store};

/// The s3s service plus CORS.
#[derive(Clone)]
pub(crate) struct Service {
    pub s3: S3Service,
    pub store: Arc<Store>,
}

type Response = hyper::Response<Body>;

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for Service {
    type Response = Response;
    type Error = HttpError;
    type Future = BoxFuture<'static, Result<Response, HttpError>>;

    fn call(&self, req: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let origin = header(req.headers(), "origin");
            let bucket = bucket_of(req.uri().path());
            if req.method() == Method::OPTIONS {
                return Ok(this.preflight(bucket, origin, req.headers()).await);
            }
            let method = req.method().clone();
            let mut resp = hyper::service::Service::call(&this.s3, req).await?;
            if let (Some(origin), Some(bucket)) = (origin, bucket) {
                if let Some(conf) = this.rules(bucket).await {
                    if let Some(rule) = find_rule(&conf, &origin, method.as_str(), &[]) {
                        allow(resp.headers_mut(), rule, &origin, false, &[]);
                    }
                }
            }
            Ok(resp)
        })
    }
}

impl Service {
    /// The bucket's CORS configuration; `None` if it has none or cannot be read (an ordinary
    /// response is then sent without CORS headers, as for a bucket without rules).
    async fn rules(&self, bucket: String) -> Option<CORSConfiguration> {
        let store = self.store.clone();
        let xml = tokio::task::spawn_blocking(move || store.read_config(&bucket))
            .await
            .ok()?
            .ok()?
            .cors?;
        from_xml(&xml).ok()
    }

    async fn preflight(
        &self,
        bucket: Option<String>,
        origin: Option<String>,
        headers: &HeaderMap,
    ) -> Response {
        let Some(bucket) = bucket else {
            return error(s3_error!(MethodNotAllowed, "OPTIONS needs a bucket"));
        };
        let Some(origin) = origin else {
            return error(s3_error!(
                InvalidRequest,
                "Insufficient information. Origin request header needed."
            ));
        };
        let Some(method) = header(headers, "access-control-request-method") else {
            return error(s3_error!(
                InvalidRequest,
                "Invalid Access-Control-Request-Method: null"
            ));
        };
        let requested: Vec<String> = header(headers, "access-control-request-headers")
            .map(|h| {
                h.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let Some(conf) = self.rules(bucket).await else {
            return error(forbidden(
                "CORSResponse: CORS is not enabled for this bucket.",
            ));
        };
        let Some(rule) = find_rule(&conf, &origin, &method, &requested) else {
            return error(forbidden(
                "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
            ));
        };
        let mut resp = Response::new(Body::empty());
        allow(resp.headers_mut(), rule, &origin, true, &requested);
        resp
    }
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The bucket of a path-style request (how the gateway addresses the embedded store).
fn bucket_of(path: &str) -> Option<String> {
    let b = path.trim_start_matches('/').split('/').next()?;
    (!b.is_empty()).then(|| b.to_owned())
}

/// `403 AccessForbidden`, which s3s has no code for.
fn forbidden(msg: &'static str) -> S3Error {
    let mut e = S3Error::with_message(s3s::S3ErrorCode::Custom("AccessForbidden".into()), msg);
    e.set_status_code(StatusCode::FORBIDDEN);
    e
}

fn error(e: S3Error) -> Response {
    let status = e.status_code().unwrap_or(StatusCode::BAD_REQUEST);
    let body = to_xml(&e).unwrap_or_default();
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    resp
}

/// `*` matches anything; one `*` inside a pattern matches any run of characters (AWS allows
/// at most one per origin, `config::check_cors`). Case-insensitive when `fold`.
fn wildcard(pattern: &str, value: &str, fold: bool) -> bool {
    let (p, v) = if fold {
        (pattern.to_ascii_lowercase(), value.to_ascii_lowercase())
    } else {
        (pattern.to_owned(), value.to_owned())
    };
    match p.split_once('*') {
        None => p == v,
        Some((pre, post)) => {
            v.len() >= pre.len() + post.len() && v.starts_with(pre) && v.ends_with(post)
        }
    }
}

/// The first rule (S3 evaluates them in order) allowing this origin, method and headers.
fn find_rule<'a>(
    conf: &'a CORSConfiguration,
    origin: &str,
    method: &str,
    headers: &[String],
) -> Option<&'a CORSRule> {
    conf.cors_rules.iter().find(|r| {
        r.allowed_origins.iter().any(|o| wildcard(o, origin, false))
            && r.allowed_methods.iter().any(|m| m == method)
            && headers.iter().all(|h| {
                r.allowed_headers
                    .iter()
                    .flatten()
                    .any(|a| wildcard(a, h, true))
            })
    })
}

fn set(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(HeaderName::from_static(name), v);
    }
}

fn allow(h: &mut HeaderMap, rule: &CORSRule, origin: &str, preflight: bool, requested: &[String]) {
    let any = rule.allowed_origins.iter().any(|o| o == "*");
    set(
        h,
        "access-control-allow-origin",
        if any { "*" } else { origin },
    );
    if !any {
        set(h, "access-control-allow-credentials", "true");
    }
    set(
        h,
        "access-control-allow-methods",
        &rule.allowed_methods.join(", "),
    );
    if let Some(e) = rule.expose_headers.as_ref().filter(|e| !e.is_empty()) {
        set(h, "access-control-expose-headers", &e.join(", "));
    }
    if let Some(age) = rule.max_age_seconds {
        set(h, "access-control-max-age", &age.to_string());
    }
    if preflight && !requested.is_empty() {
        set(h, "access-control-allow-headers", &requested.join(", "));
    }
    set(
        h,
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CORSRule {
        CORSRule {
            allowed_origins: origins.iter().map(|s| (*s).to_owned()).collect(),
            allowed_methods: methods.iter().map(|s| (*s).to_owned()).collect(),
            allowed_headers: Some(headers.iter().map(|s| (*s).to_owned()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn matching() {
        let conf = CORSConfiguration {
            cors_rules: vec![
                rule(&["*suffix"], &["GET"], &[]),
                rule(&["start*end"], &["PUT"], &["x-amz-*"]),
                rule(&["*"], &["HEAD"], &[]),
            ],
        };
        assert!(find_rule(&conf, "foo.suffix", "GET", &[]).is_some());
        assert!(find_rule(&conf, "foo.suffix", "PUT", &[]).is_none());
        assert!(find_rule(&conf, "foo.bar", "GET", &[]).is_none());
        let h = vec!["x-amz-meta-a".to_owned()];
        assert!(find_rule(&conf, "start-mid-end", "PUT", &h).is_some());
        assert!(find_rule(&conf, "start-mid-end", "PUT", &["content-type".to_owned()]).is_none());
        assert!(find_rule(&conf, "anything", "HEAD", &[]).is_some());
        assert!(find_rule(&conf, "startend", "PUT", &[]).is_some());
        assert!(!wildcard("ab*ba", "aba", false));
    }

    #[test]
    fn buckets_of_paths() {
        assert_eq!(bucket_of("/b/k/x"), Some("b".into()));
        assert_eq!(bucket_of("/b"), Some("b".into()));
        assert_eq!(bucket_of("/"), None);
    }
}

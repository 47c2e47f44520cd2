//! The fast backend: a minimal S3 sink/source on hyper, run as a child process of the bench
//! binary (`load __sink`), so that its CPU is measured apart from the client's and the proxy's.
//!
//! No authentication, no storage. It answers:
//! * `GET`/`HEAD /bucket/…-<N>`: `N` bytes of a fixed pattern (the size is the key's trailing
//!   number; anything else is an empty 200);
//! * `PUT`: reads the whole body, then `200` with an `ETag`;
//! * `POST …?uploads`: an `InitiateMultipartUploadResult`; `POST …?uploadId=…`: reads the body,
//!   then a `CompleteMultipartUploadResult`;
//! * `DELETE`: `204`.

use std::convert::Infallible;
use std::io::Write;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// Frame size of streamed GET bodies.
pub const PIECE: usize = 1024 * 1024;

/// 1 MiB of a fixed byte pattern, shared by every response (cloning `Bytes` is a ref-count).
pub fn pattern() -> &'static Bytes {
    static DATA: OnceLock<Bytes> = OnceLock::new();
    DATA.get_or_init(|| Bytes::from((0..PIECE).map(|i| (i % 251) as u8).collect::<Vec<u8>>()))
}

/// A response body: `remaining` bytes of the pattern, or a small fixed body.
pub struct SinkBody {
    remaining: u64,
    fixed: Option<Bytes>,
}

impl SinkBody {
    fn empty() -> Self {
        SinkBody {
            remaining: 0,
            fixed: None,
        }
    }
    fn pattern(n: u64) -> Self {
        SinkBody {
            remaining: n,
            fixed: None,
        }
    }
    fn fixed(b: String) -> Self {
        SinkBody {
            remaining: 0,
            fixed: Some(Bytes::from(b)),
        }
    }
}

impl Body for SinkBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(b) = self.fixed.take() {
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(PIECE as u64) as usize;
        self.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(pattern().slice(..n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0 && self.fixed.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining + self.fixed.as_ref().map_or(0, |b| b.len() as u64))
    }
}

fn size_of_key(path: &str) -> u64 {
    let last = path.rsplit('/').next().unwrap_or("");
    let digits = last.rsplit('-').next().unwrap_or("");
    digits.parse().unwrap_or(0)
}

async fn drain(body: Incoming) -> u64 {
    let mut body = body;
    let mut n = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(d) = frame.data_ref() {
            n += d.len() as u64;
        }
    }
    n
}

fn bucket_and_key(path: &str) -> (&str, &str) {
    let p = path.trim_start_matches('/');
    p.split_once('/').unwrap_or((p, ""))
}

async fn handle(req: Request<Incoming>) -> Result<Response<SinkBody>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let ok = |b: http::response::Builder| {
        b.header("x-amz-request-id", "sink")
            .header("server", "bench-sink")
    };
    let resp = match method {
        Method::GET | Method::HEAD => {
            let n = size_of_key(&path);
            let r = ok(Response::builder())
                .header("content-type", "application/octet-stream")
                .header("etag", "\"0123456789abcdef0123456789abcdef\"")
                .header("content-length", n);
            if method == Method::HEAD {
                r.body(SinkBody::empty())
            } else {
                r.body(SinkBody::pattern(n))
            }
        }
        Method::PUT => {
            drain(req.into_body()).await;
            ok(Response::builder())
                .header("etag", "\"0123456789abcdef0123456789abcdef\"")
                .body(SinkBody::empty())
        }
        Method::POST => {
            drain(req.into_body()).await;
            let (bucket, key) = bucket_and_key(&path);
            let xml = if query.split('&').any(|p| p == "uploads" || p == "uploads=") {
                format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>{bucket}</Bucket><Key>{key}</Key><UploadId>bench-upload-1</UploadId></InitiateMultipartUploadResult>")
            } else {
                format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Location>http://sink/{bucket}/{key}</Location><Bucket>{bucket}</Bucket><Key>{key}</Key><ETag>\"0123456789abcdef0123456789abcdef-8\"</ETag></CompleteMultipartUploadResult>")
            };
            ok(Response::builder())
                .header("content-type", "application/xml")
                .body(SinkBody::fixed(xml))
        }
        Method::DELETE => ok(Response::builder())
            .status(StatusCode::NO_CONTENT)
            .body(SinkBody::empty()),
        _ => ok(Response::builder()).body(SinkBody::empty()),
    };
    Ok(resp.unwrap_or_else(|_| Response::new(SinkBody::empty())))
}

/// Entry point of the child process: bind a free loopback port, print it on stdout, serve forever.
pub fn run(threads: usize) -> ! {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .thread_name("sink")
        .build()
        .expect("sink runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{port}");
            let _ = out.flush();
        }
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service_fn(handle))
                    .await;
            });
        }
    });
    std::process::exit(0)
}

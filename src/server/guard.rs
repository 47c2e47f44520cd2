//! Connection limits in front of pingora's HTTP/1 server (issue 9, attack 4).
//!
//! pingora reads request headers with a fixed 1 MiB cap (`MAX_HEADER_SIZE` in pingora-core's
//! `protocols/http/v1/common.rs`) and a per-read timeout only, so a client trickling one byte a
//! minute keeps a connection forever and 200 clients sending 1 MB of unfinished headers pin
//! 200 MB. [`Guarded`] wraps the proxy app: for every request on a connection it reads the header
//! section itself, within [`Limits::max_header_bytes`] and [`Limits::header_timeout`] (and
//! [`Limits::idle_timeout`] between keep-alive requests), then hands pingora a [`GuardedStream`]
//! that replays those bytes first. Connections beyond [`Limits::max_connections`] are answered
//! 503 and closed. HTTP/2 (TLS ALPN `h2`) is handed over untouched: the S3 listener offers
//! HTTP/1.1 only.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::{Buf, BufMut, BytesMut};
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, Ssl, Stream, TimingDigest,
    UniqueID, UniqueIDType, ALPN,
};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Limits;

/// Bytes read from the socket at a time while looking for the end of the header section.
const READ_CHUNK: usize = 8 * 1024;

/// The proxy app behind the limits.
pub struct Guarded<A> {
    inner: Arc<A>,
    limits: Limits,
    permits: Arc<Semaphore>,
}

/// The S3 listener's connection slots, [`Limits::max_connections`] in all, shared by its
/// shards (`server::wiring`), so the limit holds for the listener and not per thread.
pub fn connection_slots(limits: Limits) -> Arc<Semaphore> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    crate::metrics::global().watch_connections("s3", permits.clone(), limits.max_connections);
    permits
}

impl<A> Guarded<A> {
    /// `permits` from [`connection_slots`].
    pub fn new(inner: A, limits: Limits, permits: Arc<Semaphore>) -> Self {
        Guarded {
            inner: Arc::new(inner),
            permits,
            limits,
        }
    }
}

/// How reading one header section ended.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadRead {
    /// `\r\n\r\n` seen: hand the connection to pingora.
    Complete,
    /// The client closed (or the connection broke) before a request began.
    Closed,
    /// No request began within the idle timeout.
    Idle,
    /// The header section grew beyond `max_header_bytes`.
    TooLarge,
    /// The header section did not complete within `header_timeout`.
    Timeout,
}

/// A client connection with the bytes Osprey read ahead of pingora, and its connection slot.
pub struct GuardedStream {
    inner: Stream,
    prefix: BytesMut,
    /// Released when the connection is dropped.
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for GuardedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedStream")
            .field("inner", &self.inner)
            .field("prefix_len", &self.prefix.len())
            .finish()
    }
}

/// Position just past the first `\r\n\r\n` in `buf`, searching from `from`.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    // memchr's vectorised search: a byte-by-byte window compare was 0.3 % of Osprey's CPU
    // under 4 KiB GETs (issue 13)
    memchr::memmem::find(buf.get(start..)?, b"\r\n\r\n").map(|i| start + i + 4)
}

impl GuardedStream {
    fn new(inner: Stream, permit: OwnedSemaphorePermit) -> Self {
        GuardedStream {
            inner,
            prefix: BytesMut::new(),
            _permit: permit,
        }
    }

    /// Read until one complete header section is buffered, within the limits. `fresh`: the
    /// connection has just been accepted (the header deadline runs from now); otherwise it is a
    /// keep-alive connection, which may idle up to `idle_timeout` before the next request begins.
    pub async fn read_head(&mut self, limits: &Limits, fresh: bool) -> HeadRead {
        // leading CRLFs before a request line are allowed (RFC 9112 §2.2)
        while self
            .prefix
            .first()
            .is_some_and(|b| *b == b'\r' || *b == b'\n')
        {
            self.prefix.advance(1);
        }
        let mut deadline =
            (fresh || !self.prefix.is_empty()).then(|| Instant::now() + limits.header_timeout);
        let mut scanned = 0;
        loop {
            if head_end(&self.prefix, scanned).is_some() {
                return HeadRead::Complete;
            }
            if self.prefix.len() > limits.max_header_bytes {
                return HeadRead::TooLarge;
            }
            scanned = self.prefix.len();
            let want = (limits.max_header_bytes + 1 - self.prefix.len()).min(READ_CHUNK);
            // straight into the buffer's spare capacity: no zeroed stack chunk, no second copy
            // (issue 13; the 8 KiB memset and the copy were per request)
            self.prefix.reserve(want);
            let mut spare = (&mut self.prefix).limit(want);
            let read = self.inner.read_buf(&mut spare);
            // pingora's timer wheel, not tokio's timer (issue 13): a tokio timer armed on a
            // runtime with no other timer pending unparks its driver, one eventfd write per
            // keep-alive request (0.23 per 4 KiB GET, `perf record -e syscalls:sys_enter_write`
            // under `--floor`). pingora's own reads use this one: armed only once the read is
            // pending, 10 ms ticks, one clock thread for the process.
            let n = match deadline {
                Some(d) => {
                    match pingora::time::timeout(d.saturating_duration_since(Instant::now()), read)
                        .await
                    {
                        Ok(r) => r,
                        Err(_) => return HeadRead::Timeout,
                    }
                }
                None => match pingora::time::timeout(limits.idle_timeout, read).await {
                    Ok(r) => r,
                    Err(_) => return HeadRead::Idle,
                },
            };
            match n {
                Ok(0) | Err(_) => return HeadRead::Closed,
                Ok(_) => {
                    if deadline.is_none() {
                        while self
                            .prefix
                            .first()
                            .is_some_and(|b| *b == b'\r' || *b == b'\n')
                        {
                            self.prefix.advance(1);
                        }
                        if !self.prefix.is_empty() {
                            deadline = Some(Instant::now() + limits.header_timeout);
                        }
                        scanned = 0;
                    }
                }
            }
        }
    }

    /// Write a complete error response and close (the client is not read any further).
    async fn refuse(&mut self, status: http::StatusCode, code: &'static str, message: String) {
        let request_id = crate::telemetry::new_request_id();
        let body = crate::s3::S3Error::new(status, code, message).to_xml(&request_id);
        let head = format!(
            "HTTP/1.1 {} {}\r\nserver: {}\r\nx-amz-request-id: {request_id}\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            crate::version::signature(),
            body.len()
        );
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            self.inner.write_all(head.as_bytes()).await?;
            self.inner.write_all(body.as_bytes()).await?;
            self.inner.flush().await
        })
        .await;
        Shutdown::shutdown(&mut *self.inner).await;
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> ServerApp for Guarded<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            tracing::warn!(
                max_connections = self.limits.max_connections,
                "connection refused: server.limits.max_connections reached"
            );
            let mut g = GuardedStream {
                inner: stream,
                prefix: BytesMut::new(),
                _permit: Arc::new(Semaphore::new(1)).try_acquire_owned().ok()?,
            };
            g.refuse(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
                "Osprey has reached its connection limit (server.limits.max_connections); retry later.".into(),
            )
            .await;
            return None;
        };
        let mut g = Box::new(GuardedStream::new(stream, permit));
        if matches!(g.inner.selected_alpn_proto(), Some(ALPN::H2)) {
            // HTTP/2 brings its own framing limits; pingora's h2 path handles it
            return ServerApp::process_new(&self.inner, g, shutdown).await;
        }
        // The HTTP/1 keep-alive loop of pingora's own `ServerApp` impl (pingora-core
        // `apps/mod.rs`), with every request's header section read here first.
        let mut fresh = true;
        let mut persistent: Option<HttpPersistentSettings> = None;
        loop {
            let mut stop = shutdown.clone();
            let outcome = tokio::select! {
                r = g.read_head(&self.limits, fresh) => r,
                _ = stop.changed() => return None,
            };
            fresh = false;
            match outcome {
                HeadRead::Complete => {}
                HeadRead::Closed | HeadRead::Idle => return None,
                HeadRead::TooLarge => {
                    tracing::info!(
                        limit = self.limits.max_header_bytes,
                        "request refused: header section larger than server.limits.max_header_bytes"
                    );
                    g.refuse(
                        http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                        "RequestHeaderSectionTooLarge",
                        format!(
                            "Your request header section exceeds the maximum allowed size ({} bytes).",
                            self.limits.max_header_bytes
                        ),
                    )
                    .await;
                    return None;
                }
                HeadRead::Timeout => {
                    tracing::info!(
                        secs = self.limits.header_timeout.as_secs(),
                        "connection closed: header section not complete within server.limits.header_timeout_secs"
                    );
                    g.refuse(
                        http::StatusCode::REQUEST_TIMEOUT,
                        "RequestTimeout",
                        "Your socket connection to the server was not read from or written to within the timeout period.".into(),
                    )
                    .await;
                    return None;
                }
            }
            let mut session = ServerSession::new_http1(g);
            if let Some(p) = persistent.take() {
                p.apply_to_session(&mut session);
            }
            if *shutdown.borrow() {
                session.set_keepalive(None);
            } else {
                // the keep-alive idle wait is Osprey's (read_head); pingora's applies only to
                // the header bytes already buffered, which it reads at once
                session.set_keepalive(Some(self.limits.idle_timeout.as_secs().max(1)));
            }
            let reused = self.inner.process_new_http(session, shutdown).await?;
            let (stream, settings) = reused.consume();
            persistent = settings;
            g = stream.into_any().downcast::<GuardedStream>().ok()?;
        }
    }

    async fn cleanup(&self) {
        self.inner.http_cleanup().await
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for GuardedStream {
    async fn shutdown(&mut self) {
        Shutdown::shutdown(&mut *self.inner).await
    }
}

impl UniqueID for GuardedStream {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for GuardedStream {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }
    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }
    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for GuardedStream {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }
    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }
    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for GuardedStream {
    fn get_proxy_digest(&self) -> Option<Arc<pingora::protocols::raw_connect::ProxyDigest>> {
        self.inner.get_proxy_digest()
    }
}

impl GetSocketDigest for GuardedStream {
    fn get_socket_digest(&self) -> Option<Arc<pingora::protocols::SocketDigest>> {
        self.inner.get_socket_digest()
    }
}

#[async_trait]
impl Peek for GuardedStream {
    async fn try_peek(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.len());
            buf[..n].copy_from_slice(&self.prefix[..n]);
            return Ok(true);
        }
        self.inner.try_peek(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_end_finds_the_terminator_across_reads() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\n", 0), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nhost: a\r\n", 0), None);
        // terminator split over the previous scan boundary
        let b = b"GET / HTTP/1.1\r\nh: a\r\n\r\nbody";
        assert_eq!(head_end(b, 22), Some(24));
        assert_eq!(head_end(b"", 0), None);
    }
}

// ---- the OSIS listener (axum-server on hyper) ----------------------------------------------

/// axum-server acceptor that holds one of [`Limits::max_connections`] slots per connection (a
/// connection beyond them is closed at once) and closes a connection that makes no progress for
/// [`Limits::idle_timeout`] or [`Limits::body_timeout`], whichever is longer. hyper itself enforces
/// the header limits (see [`configure_hyper`]).
#[derive(Clone)]
pub struct LimitAcceptor<A> {
    inner: A,
    permits: Arc<Semaphore>,
    stall: Duration,
}

impl<A> LimitAcceptor<A> {
    pub fn new(inner: A, limits: &Limits) -> Self {
        let permits = Arc::new(Semaphore::new(limits.max_connections));
        crate::metrics::global().watch_connections("osis", permits.clone(), limits.max_connections);
        LimitAcceptor {
            inner,
            permits,
            stall: limits.idle_timeout.max(limits.body_timeout),
        }
    }
}

impl<I, S, A> axum_server::accept::Accept<I, S> for LimitAcceptor<A>
where
    A: axum_server::accept::Accept<I, S> + Clone + Send + 'static,
    A::Future: Send,
    I: Send + 'static,
    S: Send + 'static,
{
    type Stream = Limited<A::Stream>;
    type Service = A::Service;
    type Future =
        futures::future::BoxFuture<'static, std::io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let permit = self.permits.clone().try_acquire_owned();
        let inner = self.inner.clone();
        let stall = self.stall;
        Box::pin(async move {
            let Ok(permit) = permit else {
                tracing::warn!("OSIS connection refused: server.limits.max_connections reached");
                return Err(std::io::Error::other("connection limit reached"));
            };
            let (s, svc) = inner.accept(stream, service).await?;
            Ok((
                Limited {
                    inner: s,
                    stall,
                    timer: Box::pin(tokio::time::sleep(stall)),
                    _permit: permit,
                },
                svc,
            ))
        })
    }
}

/// A connection with its slot and a no-progress timer, reset by every byte read or written.
pub struct Limited<S> {
    inner: S,
    stall: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    _permit: OwnedSemaphorePermit,
}

impl<S> Limited<S> {
    fn progressed(&mut self) {
        self.timer
            .as_mut()
            .reset(tokio::time::Instant::now() + self.stall);
    }
    fn stalled(&mut self, cx: &mut Context<'_>) -> bool {
        std::future::Future::poll(self.timer.as_mut(), cx).is_ready()
    }
}

fn stalled_error() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "no progress within server.limits (idle/body timeout)",
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for Limited<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.progressed();
                }
                Poll::Ready(r)
            }
            Poll::Pending if self.stalled(cx) => Poll::Ready(Err(stalled_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Limited<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    self.progressed();
                }
                Poll::Ready(r)
            }
            Poll::Pending if self.stalled(cx) => Poll::Ready(Err(stalled_error())),
            Poll::Pending => Poll::Pending,
        }
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// hyper's own header limits for the OSIS listener: the header section within
/// [`Limits::header_timeout`] (hyper answers nothing and closes) and at most
/// [`Limits::max_header_bytes`] buffered (hyper answers 431); HTTP/2 header lists likewise.
pub fn configure_hyper(
    b: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    limits: &Limits,
) {
    b.http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes);
    b.http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
}

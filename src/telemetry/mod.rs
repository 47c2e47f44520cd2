//! Logging: every line carries the release signature and, inside a request, its request id.
//!
//! Format: `<RFC 3339 UTC> <LEVEL> osprey/<version+date.commit> <span fields>: <message> <fields>`.
//! The partner-program guide requires the dated release signature in every log line; the request id
//! comes from the span each plane opens per request (`request_id = …`), which the default
//! formatter prints with the span's fields.
//!
//! Verbose mode (`--verbose` or `log.level = "debug"`) is off by default.
//!
//! `log.format = "json"` writes one JSON object per line instead (issue 14: log pipelines parse
//! it without a grok pattern), with the same signature in `release`. The per-request lines of
//! both planes have the target [`ACCESS_LOG_TARGET`] (`"target":"access"` in JSON), and
//! `log.access = false` silences them.
//!
//! Lines are written by a thread of their own ([`batch`], issue 13): a request formats its line
//! and appends it to a bounded buffer, it never waits for standard error (a slow journal or pipe
//! used to hold the request — 2.7 % of Osprey's CPU under 4 KiB GETs was the unbuffered write)
//! and never wakes the writer, which writes every [`batch::LOG_FLUSH_INTERVAL`]. Past
//! [`batch::LOG_BUFFER_BYTES`] waiting bytes new lines are dropped and counted
//! (`osprey_log_lines_dropped_total`) instead of blocking. [`flush`] writes what is waiting
//! (called before the process exits).

use std::fmt;
use std::sync::OnceLock;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{DefaultFields, Format, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

pub use crate::config::ACCESS_LOG_TARGET;
use crate::config::{LogConfig, LogFormat, LogLevel};

pub mod batch;

pub use batch::{LOG_BUFFER_BYTES, LOG_FLUSH_INTERVAL};

/// The writer thread over standard error, started by the first line; `None` if the thread could
/// not be started (lines are then written by the thread that logs them).
static SINK: OnceLock<Option<batch::Batcher<std::io::Stderr>>> = OnceLock::new();

fn sink() -> Option<&'static batch::Batcher<std::io::Stderr>> {
    SINK.get_or_init(|| batch::Batcher::start("osprey-log", std::io::stderr()).ok())
        .as_ref()
}

/// Write every waiting line and stop the writer thread (before the process exits; a line logged
/// after this is written by the thread that logs it).
pub fn flush() {
    if let Some(s) = SINK.get().and_then(Option::as_ref) {
        s.close();
    }
}

/// Lines dropped because [`LOG_BUFFER_BYTES`] were already waiting.
pub fn dropped_lines() -> u64 {
    SINK.get()
        .and_then(Option::as_ref)
        .map_or(0, batch::Batcher::dropped)
}

/// Now in RFC 3339, UTC, with milliseconds (`2026-12-04T04:15:43.123Z`), written to `w`. The
/// part up to the second is formatted once a second per thread and reused (issue 13: every log
/// line formatted a new `String` with chrono before).
fn write_now(w: &mut impl fmt::Write) -> fmt::Result {
    use std::cell::RefCell;
    use std::fmt::Write as _;
    thread_local! {
        static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let now = chrono::Utc::now();
    // a leap second's nanoseconds run past 10^9: shown as the second's last millisecond
    let (secs, millis) = (now.timestamp(), now.timestamp_subsec_millis().min(999));
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != secs {
            text.clear();
            write!(text, "{}", now.format("%Y-%m-%dT%H:%M:%S"))?;
            *second = secs;
        }
        write!(w, "{text}.{millis:03}Z")
    })
}

/// Set by [`init`] when it installed the text format: [`access_line`] then writes the line
/// itself, in that format, instead of through a tracing span and event.
static TEXT_FORMAT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The fields of one answered S3 request's access line (`s3 request …`, level INFO).
#[derive(Debug, Clone, Copy)]
pub struct AccessLine<'a> {
    pub request_id: &'a str,
    pub op: &'a str,
    pub bucket: &'a str,
    pub tenant: &'a str,
    pub backend: &'a str,
    pub status: u16,
    /// Milliseconds, rounded to the microsecond.
    pub ms: f64,
    pub bytes_in: u64,
    pub generation: u64,
}

/// `line` in the text format, byte for byte what the tracing formatter [`init`] installs writes
/// for the event `info!(target: "access", op, bucket, tenant, backend, status, ms, bytes_in,
/// generation, "s3 request")` inside the span `s3{request_id}` (the test
/// `access_line_is_what_tracing_writes` holds the two together): strings quoted and escaped as
/// `Debug` writes them, `ms` as `f64`'s `Debug`. `osprey explain`/`follow` and the log pipelines
/// in docs/operations.md parse this line.
pub fn format_access_line(out: &mut String, l: &AccessLine<'_>) -> fmt::Result {
    use std::fmt::Write as _;
    write_now(out)?;
    write!(
        out,
        " {:>5} osprey/{} s3{{request_id={}}}: s3 request op=",
        tracing::Level::INFO,
        crate::version::short(),
        l.request_id,
    )?;
    push_debug_str(out, l.op)?;
    out.push_str(" bucket=");
    push_debug_str(out, l.bucket)?;
    out.push_str(" tenant=");
    push_debug_str(out, l.tenant)?;
    out.push_str(" backend=");
    push_debug_str(out, l.backend)?;
    writeln!(
        out,
        " status={} ms={:?} bytes_in={} generation={}",
        l.status, l.ms, l.bytes_in, l.generation
    )
}

/// `s` as `{:?}` writes it: quoted, and escaped where it has a quote, a backslash or a byte
/// outside printable ASCII. The common name of printable ASCII is copied as it is (the `Debug`
/// writer checks every character for escaping, issue 13).
fn push_debug_str(out: &mut String, s: &str) -> fmt::Result {
    use std::fmt::Write as _;
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push('"');
        out.push_str(s);
        out.push('"');
        Ok(())
    } else {
        write!(out, "{s:?}")
    }
}

/// Writes `line` as the text format's access line and returns `true`, or returns `false` when
/// the caller must log it through tracing (the JSON format, or no [`init`]).
///
/// Issue 13: the span and the event (the registry's span slot, the span's formatted fields, the
/// subscriber dispatch, the field visitor, the whole-line redaction scan) cost ~3.5 µs per
/// request, 5 % of Osprey's CPU under 4 KiB GETs. This path is one `write!` into a buffer the
/// thread keeps. The filter still decides (`log.level`, `log.access = false`), and the line is
/// still redacted whenever a value could hold a secret marker (below).
pub fn access_line(line: &AccessLine<'_>) -> bool {
    use std::cell::RefCell;
    if !TEXT_FORMAT.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    if !tracing::enabled!(target: ACCESS_LOG_TARGET, tracing::Level::INFO) {
        return true;
    }
    thread_local! {
        static LINE: RefCell<String> = const { RefCell::new(String::new()) };
    }
    LINE.with_borrow_mut(|buf| {
        if let Ok(text) = redacted_access_line(buf, line) {
            emit(text.as_bytes());
        }
        if buf.capacity() > 4096 {
            // a line with a very long value does not keep its buffer for the thread's life
            *buf = String::new();
        }
    });
    true
}

/// `line` formatted into `buf` (cleared first), redacted as every log line is.
///
/// Every secret marker ends in `=` or a space, and every fixed part of the line next to a value
/// is a quote or a field name that ends no marker; so a marker can only be matched where a value
/// holds `=` or a space. The op, the request id and the numbers are Osprey's own text; the
/// bucket, tenant and backend are checked, and only a line where one holds such a byte pays for
/// the scan.
fn redacted_access_line<'b>(
    buf: &'b mut String,
    line: &AccessLine<'_>,
) -> Result<std::borrow::Cow<'b, str>, fmt::Error> {
    buf.clear();
    format_access_line(buf, line)?;
    let suspect = [line.bucket, line.tenant, line.backend]
        .iter()
        .any(|v| v.bytes().any(|b| b == b'=' || b == b' '));
    Ok(if suspect {
        redact(buf)
    } else {
        std::borrow::Cow::Borrowed(buf.as_str())
    })
}

/// `line` through tracing: the span `s3{request_id}` and the INFO event on [`ACCESS_LOG_TARGET`]
/// (the JSON format, and any subscriber other than [`init`]'s).
pub fn access_line_event(l: &AccessLine<'_>) {
    let span = tracing::info_span!("s3", request_id = %l.request_id);
    let _g = span.enter();
    tracing::info!(
        target: ACCESS_LOG_TARGET,
        op = l.op,
        bucket = l.bucket,
        tenant = l.tenant,
        backend = l.backend,
        status = l.status,
        ms = l.ms,
        bytes_in = l.bytes_in,
        generation = l.generation,
        "s3 request"
    );
}

/// One whole log line to the writer thread (lossy when full), or to standard error when the
/// thread could not be started.
fn emit(line: &[u8]) {
    use std::io::Write;
    match sink() {
        Some(s) => s.push(line),
        None => {
            let _ = std::io::stderr().write_all(line);
        }
    }
}

/// Wraps the standard formatter and prefixes the release signature.
struct SignedFormat {
    inner: Format<tracing_subscriber::fmt::format::Full, ()>,
}

impl<S, N> FormatEvent<S, N> for SignedFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write_now(&mut writer)?;
        write!(
            writer,
            " {:>5} osprey/{} ",
            event.metadata().level(),
            crate::version::short()
        )?;
        self.inner.format_event(ctx, writer, event)
    }
}

/// One JSON object per event: `time`, `level`, `release`, `target`, the fields of the spans
/// the event is in (`request_id`), the event's fields and `message`.
struct JsonFormat;

impl<S> FormatEvent<S, JsonFields> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        use serde_json::Value;
        let mut obj = serde_json::Map::new();
        let mut time = String::with_capacity(24);
        write_now(&mut time)?;
        obj.insert("time".into(), Value::String(time));
        obj.insert(
            "level".into(),
            Value::String(event.metadata().level().to_string()),
        );
        obj.insert(
            "release".into(),
            Value::String(crate::version::short().to_string()),
        );
        obj.insert(
            "target".into(),
            Value::String(event.metadata().target().to_string()),
        );
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                if let Some(f) = ext.get::<tracing_subscriber::fmt::FormattedFields<JsonFields>>() {
                    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&f.fields) {
                        obj.extend(m);
                    }
                }
            }
        }
        event.record(&mut JsonVisitor(&mut obj));
        writeln!(writer, "{}", Value::Object(obj))
    }
}

/// Event fields into a JSON object (numbers and booleans stay typed).
struct JsonVisitor<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl tracing::field::Visit for JsonVisitor<'_> {
    fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
        self.0.insert(f.name().into(), v.into());
    }
    fn record_u64(&mut self, f: &tracing::field::Field, v: u64) {
        self.0.insert(f.name().into(), v.into());
    }
    fn record_i64(&mut self, f: &tracing::field::Field, v: i64) {
        self.0.insert(f.name().into(), v.into());
    }
    fn record_f64(&mut self, f: &tracing::field::Field, v: f64) {
        self.0.insert(f.name().into(), v.into());
    }
    fn record_bool(&mut self, f: &tracing::field::Field, v: bool) {
        self.0.insert(f.name().into(), v.into());
    }
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn fmt::Debug) {
        self.0.insert(f.name().into(), format!("{v:?}").into());
    }
}

/// The filter directive for `log`: Osprey at its level, noisy dependency targets at `warn`
/// unless `trace` is asked for (so verbose mode shows Osprey's own decisions rather than every
/// pingora/hyper internal), and the access lines off when `log.access = false`.
fn directive(log: &LogConfig) -> String {
    let mut d = match log.level {
        LogLevel::Trace => "trace".to_string(),
        l => format!(
            "{lvl},pingora=warn,pingora_core=warn,pingora_proxy=warn,hyper=warn,h2=warn,rustls=warn,s3s=off,reqwest=warn",
            lvl = l.as_str()
        ),
    };
    if !log.access {
        d.push_str(&format!(",{ACCESS_LOG_TARGET}=off"));
    }
    d
}

/// The text format's layer over `writer`.
fn text_layer<S, W>(writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + 'static,
{
    let format = SignedFormat {
        inner: Format::default()
            .without_time()
            .with_level(false)
            .with_target(false),
    };
    tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(writer)
        .fmt_fields(DefaultFields::new())
        .event_format(format)
}

/// Install the global subscriber for `log` (level, format, access lines).
pub fn init(log: &LogConfig) {
    let filter = EnvFilter::try_new(directive(log)).unwrap_or_else(|_| EnvFilter::new("info"));
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = match log.format {
        LogFormat::Text => {
            let installed = tracing_subscriber::registry()
                .with(filter)
                .with(text_layer(RedactingStderr))
                .try_init();
            TEXT_FORMAT.store(installed.is_ok(), std::sync::atomic::Ordering::Relaxed);
            installed
        }
        LogFormat::Json => {
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(RedactingStderr)
                .fmt_fields(JsonFields::new())
                .event_format(JsonFormat);
            tracing_subscriber::registry()
                .with(filter)
                .with(layer)
                .try_init()
        }
    };
}

/// A request id: 16 lowercase hex digits from a CSPRNG-seeded counter mix. Unique per process run and
/// not guessable, so it can be shown to clients (`x-amz-request-id`, `X-Request-Id`).
/// Parameters and header parts whose values are never written to a log (issue 9: pingora's error
/// line carried presigned URLs' `X-Amz-Signature`). Matched case-insensitively, each followed by
/// `=` (query parameters, `Authorization` parts) or a space (auth schemes).
const SECRET_MARKERS: &[&str] = &[
    "x-amz-signature=",
    "x-amz-credential=",
    "x-amz-security-token=",
    "signature=",
    "credential=",
    "awsaccesskeyid=",
    "basic ",
    "bearer ",
];

/// The [`SECRET_MARKERS`] as one automaton (case-insensitive, the leftmost marker first, and of
/// two starting at one place the one listed first): one pass over a line finds them all, instead
/// of trying every marker at every byte (that was 2–3 % of Osprey's CPU on 4 KiB requests,
/// issue 13).
static MARKERS: std::sync::LazyLock<aho_corasick::AhoCorasick> = std::sync::LazyLock::new(|| {
    aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .match_kind(aho_corasick::MatchKind::LeftmostFirst)
        .build(SECRET_MARKERS)
        .unwrap_or_else(|e| unreachable!("the fixed markers build an automaton: {e}"))
});

/// `line` with every value after a [`SECRET_MARKERS`] entry replaced by `<redacted>` (the value
/// runs to the next `&`, `,`, `;`, whitespace or quote).
pub fn redact(line: &str) -> std::borrow::Cow<'_, str> {
    let bytes = line.as_bytes();
    // the common case — a line with no marker — is answered without allocating
    let Some(first) = MARKERS.find(line) else {
        return std::borrow::Cow::Borrowed(line);
    };
    let mut out = String::with_capacity(line.len());
    let mut copied = 0;
    let mut next = Some(first);
    while let Some(m) = next {
        // keep the marker itself; skip its value
        out.push_str(&line[copied..m.end()]);
        let mut j = m.end();
        while j < bytes.len()
            && !matches!(
                bytes[j],
                b'&' | b',' | b';' | b' ' | b'\t' | b'\n' | b'"' | b'\''
            )
        {
            j += 1;
        }
        if j > m.end() {
            out.push_str("<redacted>");
        }
        copied = j;
        // the value's end is an ASCII byte, so `j` is a char boundary
        next = MARKERS.find(aho_corasick::Input::new(line).span(j..line.len()));
    }
    out.push_str(&line[copied..]);
    std::borrow::Cow::Owned(out)
}

/// Standard error (through the writer thread), one log event at a time, with [`redact`] applied
/// to the whole formatted line — Osprey's own events and those of pingora, hyper and the other
/// crates alike, at every level.
struct RedactingStderr;

/// One event's bytes; written, redacted, when the event is complete (dropped).
struct RedactingLine(Vec<u8>);

impl std::io::Write for RedactingLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactingLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        // appended to the writer thread's buffer (it never blocks: lossy when full)
        emit(redact(&text).as_bytes());
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingLine;
    fn make_writer(&'a self) -> Self::Writer {
        RedactingLine(Vec::with_capacity(256))
    }
}

pub fn new_request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(rand::random::<u64>);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // splitmix64 of seed+n: a bijection, so ids never repeat within a run
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    format!("{z:016x}")
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn secrets_are_redacted_from_log_lines() {
        let line = "Fail to proxy: GET /b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261201%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=abcdef0123&x=1";
        let r = redact(line);
        assert!(!r.contains("AKID") && !r.contains("abcdef0123"), "{r}");
        assert!(r.contains("X-Amz-Signature=<redacted>&x=1"), "{r}");
        let h = r#""authorization": "AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=fe5f80f7""#;
        let r = redact(h);
        assert!(!r.contains("AKID") && !r.contains("fe5f80f7"), "{r}");
        assert!(r.contains("SignedHeaders=host;x-amz-date"), "{r}");
        assert_eq!(
            redact("authorization: Basic dGVzdDpwdw=="),
            "authorization: Basic <redacted>"
        );
        assert_eq!(
            redact("plain line, nothing secret"),
            "plain line, nothing secret"
        );
        assert_eq!(redact("ünïcode signature="), "ünïcode signature=");
        assert_eq!(
            redact("ünïcode Signature=ab ü"),
            "ünïcode Signature=<redacted> ü"
        );
        // the longer marker wins where two start together; a value may hold non-ASCII bytes;
        // markers match in any case
        assert_eq!(
            redact("X-Amz-Credential=AK/1&credential=x;SIGNATURE=aü b, BEARER tok"),
            "X-Amz-Credential=<redacted>&credential=<redacted>;SIGNATURE=<redacted> b, BEARER <redacted>"
        );
    }

    /// A writer that keeps what it is given (the tracing formatter's output, to compare).
    #[derive(Clone, Default)]
    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    /// The access line written directly (issue 13) is byte for byte the line the tracing
    /// formatter writes for the same event: quoting and escaping of odd bucket names, `f64`
    /// milliseconds, an empty tenant. Only the timestamps (the first 24 bytes) may differ.
    #[test]
    fn access_line_is_what_tracing_writes() {
        use tracing_subscriber::layer::SubscriberExt;
        let cases = [
            super::AccessLine {
                request_id: "23a4db0d67ffa952",
                op: "GetObject",
                bucket: "bench",
                tenant: "tfaf26604e636e68e",
                backend: "local",
                status: 200,
                ms: 9.866912000000001,
                bytes_in: 0,
                generation: 1,
            },
            super::AccessLine {
                request_id: "00",
                op: "-",
                bucket: "we\"ird\tname\u{7f}ü\n",
                tenant: "",
                backend: "",
                status: 403,
                ms: 1.0,
                bytes_in: u64::MAX,
                generation: 0,
            },
            super::AccessLine {
                request_id: "0123456789abcdef",
                op: "ObjectSubresource(\"acl\")",
                bucket: "a b\\c~!#$%&'()*+,-./:;<=>?@[]^_`{|}",
                tenant: "\u{1b}[31m",
                backend: "\u{200b}zero-width",
                status: 200,
                ms: 123456.789,
                bytes_in: 1,
                generation: 2,
            },
            super::AccessLine {
                request_id: "ff",
                op: "PutObject",
                bucket: "b",
                tenant: "t",
                backend: "ceph",
                status: 599,
                ms: 0.0,
                bytes_in: 4096,
                generation: u64::MAX,
            },
        ];
        for l in cases {
            let cap = Capture::default();
            let sub = tracing_subscriber::registry().with(super::text_layer(cap.clone()));
            tracing::subscriber::with_default(sub, || super::access_line_event(&l));
            let traced = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
            let mut direct = String::new();
            super::format_access_line(&mut direct, &l).unwrap();
            assert_eq!(&direct[24..], &traced[24..], "{l:?}");
            assert!(
                direct.ends_with('\n') && direct[..24].ends_with('Z'),
                "{direct}"
            );
        }
    }

    /// A value that could hold a secret marker sends the direct line through the redaction.
    #[test]
    fn access_line_values_with_markers_are_redacted() {
        let l = super::AccessLine {
            request_id: "1",
            op: "GetObject",
            bucket: "b",
            tenant: "x signature=abc",
            backend: "local",
            status: 200,
            ms: 1.5,
            bytes_in: 0,
            generation: 1,
        };
        let mut buf = String::new();
        let line = super::redacted_access_line(&mut buf, &l).unwrap();
        assert!(line.contains("signature=<redacted>"), "{line}");
        assert!(!line.contains("abc"), "{line}");
        let l = super::AccessLine {
            bucket: "Bearer tok",
            tenant: "t",
            ..l
        };
        let line = super::redacted_access_line(&mut buf, &l)
            .unwrap()
            .into_owned();
        assert!(
            line.contains("Bearer <redacted>") && !line.contains("tok"),
            "{line}"
        );
        // a plain line is the formatted text itself
        let l = super::AccessLine { bucket: "b", ..l };
        let line = super::redacted_access_line(&mut buf, &l)
            .unwrap()
            .into_owned();
        let mut plain = String::new();
        super::format_access_line(&mut plain, &l).unwrap();
        assert_eq!(line[24..], plain[24..]);
    }

    /// The cached second gives the text chrono gives, also after the second changes.
    #[test]
    fn timestamps_are_rfc3339_utc_millis() {
        let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
        let mut last = None;
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(1100) {
            let before = chrono::Utc::now();
            let mut t = String::new();
            super::write_now(&mut t).unwrap();
            let after = chrono::Utc::now();
            assert_eq!(t.len(), 24, "{t}");
            assert!(t.ends_with('Z') && t.as_bytes()[19] == b'.', "{t}");
            let at = parse(&t);
            let ms = |d: chrono::DateTime<chrono::Utc>| d.timestamp_millis();
            assert!(
                ms(before) <= at.timestamp_millis() && at.timestamp_millis() <= ms(after),
                "{t}"
            );
            if let Some(prev) = last.replace(at.timestamp_millis()) {
                assert!(prev <= at.timestamp_millis(), "{t}");
            }
            std::thread::sleep(std::time::Duration::from_millis(7));
        }
    }

    #[test]
    fn request_ids_are_unique_hex() {
        let ids: std::collections::HashSet<_> =
            (0..10_000).map(|_| super::new_request_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids
            .iter()
            .all(|i| i.len() == 16 && i.bytes().all(|b| b.is_ascii_hexdigit())));
    }
}

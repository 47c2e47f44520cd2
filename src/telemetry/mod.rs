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

/// Install the global subscriber for `log` (level, format, access lines).
pub fn init(log: &LogConfig) {
    let filter = EnvFilter::try_new(directive(log)).unwrap_or_else(|_| EnvFilter::new("info"));
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = match log.format {
        LogFormat::Text => {
            let format = SignedFormat {
                inner: Format::default()
                    .without_time()
                    .with_level(false)
                    .with_target(false),
            };
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(RedactingStderr)
                .fmt_fields(DefaultFields::new())
                .event_format(format);
            tracing_subscriber::registry()
                .with(filter)
                .with(layer)
                .try_init()
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
        use std::io::Write;
        let text = String::from_utf8_lossy(&self.0);
        let line = redact(&text);
        // appended to the writer thread's buffer (it never blocks: lossy when full)
        match sink() {
            Some(s) => s.push(line.as_bytes()),
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
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

//! The log writer: lines gathered in one bounded buffer, written by a thread of its own on a
//! tick (issue 13).
//!
//! A request formats its line and appends it here; it never waits for standard error, and it
//! never wakes the writer. tracing-appender's non-blocking writer, used before, handed each line
//! through a channel whose receiver parks when empty, so every line woke the writer thread: +1.4
//! context switches per request at one connection (docs/performance.md, "An access log that
//! never blocks a request"). Here the writer wakes every [`LOG_FLUSH_INTERVAL`], or early when
//! [`LOG_WAKE_BYTES`] are waiting, and writes everything waiting in one `write`. A tick that finds
//! nothing to write puts it to sleep until the next line: an idle Osprey is not woken 100 times a
//! second for nothing (issue 13, sixth session).
//!
//! Past [`LOG_BUFFER_BYTES`] waiting bytes new lines are dropped and counted, so a stalled
//! consumer (a full pipe, a blocked journal) never stalls requests or grows memory without bound.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

/// Most bytes of log lines waiting for the writer thread before new lines are dropped: 16 MiB
/// (default; ~65 000 typical access lines, what tracing-appender's 65 536-line bound held). Stops
/// a log consumer that stalls from stalling requests or growing Osprey's memory.
pub const LOG_BUFFER_BYTES: usize = 16 * 1024 * 1024;

/// Longest a line waits before the writer thread writes it: 10 ms (default). The writer wakes on
/// this tick instead of once per line (it stops the per-line thread wake-up that cost every
/// request a context switch), and sleeps while no line is waiting.
pub const LOG_FLUSH_INTERVAL: Duration = Duration::from_millis(10);

/// Waiting bytes at which a line wakes the writer before its tick: 1 MiB (default). A burst is
/// written while it grows instead of piling up until the next tick (and reaching the drop bound
/// sooner).
pub const LOG_WAKE_BYTES: usize = 1024 * 1024;

/// Longest [`Batcher::close`] waits for the writer's last pass: 1 s (default, as
/// tracing-appender's guard waited). Stops a stalled standard error (a full pipe nobody reads)
/// from holding the process at exit; what the writer had not written by then is lost.
pub const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Capacity a buffer keeps after a burst made it larger: 256 KiB (default). Stops one burst from
/// holding its peak memory for the rest of the process's life.
const KEEP_CAPACITY: usize = 256 * 1024;

struct Pending {
    buf: Vec<u8>,
    /// Set by the writer's last pass: lines from then on are written by their own thread.
    closed: bool,
    /// Set by a writer pass that found nothing to write: the writer sleeps until the next line
    /// wakes it (and clears this).
    asleep: bool,
}

struct Shared<W> {
    pending: Mutex<Pending>,
    dropped: AtomicU64,
    /// Passes the writer has made (what its wake-ups did; read by the tests).
    passes: AtomicU64,
    out: Mutex<W>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // a panic while holding the lock cannot leave the buffer inconsistent (bytes are appended
    // whole or not at all), so a poisoned lock is used as it is
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A bounded line buffer and the thread that drains it into `W`.
pub struct Batcher<W: Write + Send + 'static> {
    shared: Arc<Shared<W>>,
    thread: Thread,
    handle: Mutex<Option<JoinHandle<()>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl<W: Write + Send + 'static> Batcher<W> {
    /// Starts the writer thread (named `name`) over `out`.
    pub fn start(name: &str, out: W) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                buf: Vec::with_capacity(64 * 1024),
                closed: false,
                asleep: false,
            }),
            dropped: AtomicU64::new(0),
            passes: AtomicU64::new(0),
            out: Mutex::new(out),
        });
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, st) = (shared.clone(), stop.clone());
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || drain(&s, &st))?;
        Ok(Batcher {
            thread: handle.thread().clone(),
            shared,
            handle: Mutex::new(Some(handle)),
            stop,
        })
    }

    /// Appends one whole line; never blocks on the output. Dropped (and counted) when
    /// [`LOG_BUFFER_BYTES`] are already waiting.
    pub fn push(&self, line: &[u8]) {
        let wake = {
            let mut p = lock(&self.shared.pending);
            if p.closed {
                drop(p);
                // the writer has finished: the caller writes its own line
                let mut out = lock(&self.shared.out);
                let _ = out.write_all(line).and_then(|()| out.flush());
                return;
            }
            if p.buf.len() + line.len() > LOG_BUFFER_BYTES {
                drop(p);
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let before = p.buf.len();
            p.buf.extend_from_slice(line);
            // the first line for a sleeping writer wakes it (once: `asleep` is cleared here)
            let first = std::mem::take(&mut p.asleep);
            first || (before < LOG_WAKE_BYTES && p.buf.len() >= LOG_WAKE_BYTES)
        };
        if wake {
            self.thread.unpark();
        }
    }

    /// Lines dropped because [`LOG_BUFFER_BYTES`] were waiting.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Writes everything waiting and stops the writer thread; later lines are written by the
    /// thread that logs them. Waits at most [`CLOSE_WAIT`] for an output that does not take
    /// the bytes.
    pub fn close(&self) {
        self.stop.store(true, Ordering::Release);
        self.thread.unpark();
        let Some(h) = lock(&self.handle).take() else {
            return;
        };
        let deadline = std::time::Instant::now() + CLOSE_WAIT;
        while !h.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if h.is_finished() {
            let _ = h.join();
        }
    }
}

/// The writer thread: every tick (or wake-up), swap the waiting bytes out and write them; after
/// a tick with nothing to write, sleep until a line comes.
fn drain<W: Write>(shared: &Shared<W>, stop: &std::sync::atomic::AtomicBool) {
    let mut spare: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        let last = stop.load(Ordering::Acquire);
        let idle = {
            let mut p = lock(&shared.pending);
            std::mem::swap(&mut p.buf, &mut spare);
            // closed under the same lock as the last swap: a line is either in this pass or
            // written by its own thread, never left behind
            p.closed = last;
            // asleep under the same lock as the swap that found nothing: the next line sees it
            // and wakes the writer, so no line waits for a wake-up that never comes
            let idle = spare.is_empty();
            p.asleep = idle;
            idle
        };
        shared.passes.fetch_add(1, Ordering::Relaxed);
        if !spare.is_empty() {
            let mut out = lock(&shared.out);
            let _ = out.write_all(&spare).and_then(|()| out.flush());
            spare.clear();
        }
        if spare.capacity() > KEEP_CAPACITY {
            spare = Vec::with_capacity(64 * 1024);
        }
        if last {
            return;
        }
        if idle {
            // until a line clears `asleep` (or `close` stops the writer); `park` may also
            // return for a stale wake-up, which is checked here. The first line after an idle
            // spell is then written at once, and the lines after it on the tick again.
            while lock(&shared.pending).asleep && !stop.load(Ordering::Acquire) {
                std::thread::park();
            }
        } else {
            std::thread::park_timeout(LOG_FLUSH_INTERVAL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read, counting the `write_all` passes.
    #[derive(Clone, Default)]
    struct Out(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Out {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.write_all(buf)?;
            Ok(buf.len())
        }
        fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
            let mut g = lock(&self.0);
            g.0.extend_from_slice(buf);
            g.1 += 1;
            Ok(())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// An idle writer sleeps instead of ticking (an idle Osprey was woken 100 times a second by
    /// this thread alone), and the next line still comes out promptly and whole.
    #[test]
    fn idle_writer_sleeps_until_the_next_line() {
        let out = Out::default();
        let b = Batcher::start("test-log", out.clone()).expect("thread");
        b.push(b"first\n");
        std::thread::sleep(Duration::from_millis(100));
        let before = b.shared.passes.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(300));
        let idle_passes = b.shared.passes.load(Ordering::Relaxed) - before;
        // ticking every 10 ms would make ~30 passes here
        assert!(idle_passes <= 1, "{idle_passes} passes while idle");
        let sent = std::time::Instant::now();
        b.push(b"second\n");
        while lock(&out.0).0 != b"first\nsecond\n" {
            assert!(
                sent.elapsed() < Duration::from_secs(2),
                "the line after an idle spell was not written"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        // a burst after the wake-up still goes out in few writes
        let writes = lock(&out.0).1;
        for i in 0..1000 {
            b.push(format!("burst {i}\n").as_bytes());
        }
        b.close();
        let (text, n) = lock(&out.0).clone();
        assert!(String::from_utf8(text).unwrap().ends_with("burst 999\n"));
        assert!(n - writes <= 5, "{} writes for a burst", n - writes);
    }

    #[test]
    fn lines_come_out_whole_in_order_in_few_writes() {
        let out = Out::default();
        let b = Batcher::start("test-log", out.clone()).expect("thread");
        let lines: Vec<String> = (0..10_000).map(|i| format!("line {i}\n")).collect();
        for l in &lines {
            b.push(l.as_bytes());
        }
        b.close();
        let g = lock(&out.0);
        assert_eq!(String::from_utf8_lossy(&g.0), lines.concat());
        // 10 000 lines pushed within a few ticks: a handful of writes, not one per line
        assert!(g.1 < 100, "{} writes for 10 000 lines", g.1);
        assert_eq!(b.dropped(), 0);
    }

    #[test]
    fn waits_at_most_a_tick() {
        let out = Out::default();
        let b = Batcher::start("test-log", out.clone()).expect("thread");
        b.push(b"one\n");
        let t0 = std::time::Instant::now();
        while lock(&out.0).0.is_empty() {
            assert!(t0.elapsed() < Duration::from_secs(2), "line never written");
            std::thread::sleep(Duration::from_millis(1));
        }
        b.close();
    }

    #[test]
    fn a_stalled_output_drops_and_counts_instead_of_growing() {
        // the output blocks until released: the writer thread is stuck in its first write,
        // which holds one line (the flood starts only once the writer is stuck, so what the
        // first pass took does not depend on how the threads were scheduled)
        let gate = Arc::new(Mutex::new(()));
        let entered = Arc::new(std::sync::atomic::AtomicBool::new(false));
        struct Stalled(Arc<Mutex<()>>, Arc<std::sync::atomic::AtomicBool>, Out);
        impl Write for Stalled {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.1.store(true, Ordering::Release);
                let _g = lock(&self.0);
                self.2.write(buf)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let out = Out::default();
        let held = lock(&gate);
        let b = Batcher::start(
            "test-log",
            Stalled(gate.clone(), entered.clone(), out.clone()),
        )
        .expect("thread");
        let line = vec![b'x'; 1023]
            .into_iter()
            .chain([b'\n'])
            .collect::<Vec<u8>>();
        b.push(&line);
        let t0 = std::time::Instant::now();
        while !entered.load(Ordering::Acquire) {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "the writer never wrote"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        // 2 × the bound: everything past the bound is dropped and counted
        let n = 2 * LOG_BUFFER_BYTES / line.len();
        for _ in 0..n {
            b.push(&line);
        }
        let dropped = b.dropped();
        assert_eq!(
            dropped as usize,
            n - LOG_BUFFER_BYTES / line.len(),
            "the bound's worth of lines waits, the rest is dropped"
        );
        drop(held);
        b.close();
        let written = lock(&out.0).0.len() / line.len();
        assert_eq!(
            written as u64 + dropped,
            n as u64 + 1,
            "every line written or counted"
        );
    }

    #[test]
    fn close_does_not_wait_forever_for_a_stalled_output() {
        let gate = Arc::new(Mutex::new(()));
        struct Stalled(Arc<Mutex<()>>);
        impl Write for Stalled {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                let _g = lock(&self.0);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let held = lock(&gate);
        let b = Batcher::start("test-log", Stalled(gate.clone())).expect("thread");
        b.push(b"stuck\n");
        let t0 = std::time::Instant::now();
        b.close();
        let took = t0.elapsed();
        assert!(took >= CLOSE_WAIT && took < CLOSE_WAIT * 3, "{took:?}");
        drop(held);
    }

    #[test]
    fn lines_after_close_are_written_by_their_thread() {
        let out = Out::default();
        let b = Batcher::start("test-log", out.clone()).expect("thread");
        b.push(b"before\n");
        b.close();
        b.push(b"after\n");
        assert_eq!(lock(&out.0).0, b"before\nafter\n");
    }
}

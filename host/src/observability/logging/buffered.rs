//! [`LineBuffer`]: the writer of `plughost serve`'s log lines. A line is appended to a
//! memory buffer under a short lock; one background thread writes the buffer out in
//! large writes — as soon as it holds [`BATCH`] bytes, else [`INTERVAL`] after its first
//! line. So a request pays a memcpy for its access line, not a system call, and never
//! waits for a slow reader of stderr (a terminal, a full pipe)…
//!
//! …until the writer falls [`MAX_PENDING`] bytes behind: then the logging thread waits for
//! room. Lines are never dropped, and memory stays bounded.
//!
//! [`LineBuffer::flush`] returns once every line appended before it is written (bounded
//! in time): the end of the process and a panic call it through [`super::flush`]. (Lambda
//! does not buffer: an invocation's lines are out before it answers.)
//!
//! Why not `tracing-appender`'s non-blocking writer, the crate for this: it sends each
//! line through a channel as its own allocation and its worker writes each with its own
//! `write(2)`; here a line is a memcpy and the worker writes 64 KiB at a time, and
//! [`LineBuffer::flush`] waits for exactly the lines before it (the crate flushes only when
//! its guard drops). The access line as `serve` writes it, this buffer included, is
//! 0.33 µs (`make bench`, `observability.rs`: "access line alone (serve)") and 2.6% of a
//! hello request's CPU under load (README "Performance"); the crate has not been measured
//! side by side yet.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Write as soon as this much is waiting (one write per ~300 access lines).
pub const BATCH: usize = 64 * 1024;
/// The longest a line waits in the buffer when traffic is light.
pub const INTERVAL: Duration = Duration::from_millis(50);
/// When this much is waiting, loggers wait for the writer (nothing is dropped).
pub const MAX_PENDING: usize = 4 * 1024 * 1024;

/// Cheap to clone; every clone appends to the same buffer.
#[derive(Clone)]
pub struct LineBuffer {
    shared: Arc<Shared>,
}

struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the writer: a batch is full, a flush is wanted, or the buffer was empty.
    wake: Condvar,
    /// Wakes loggers and flushers: the writer wrote a batch.
    written: Condvar,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// Bytes appended / written since the start: a flush waits for `written` to reach
    /// the `appended` it saw.
    appended: u64,
    written: u64,
    flush_wanted: bool,
    /// The writer thread is gone (it could not be started, or its output failed for
    /// good): loggers write directly.
    writer_gone: bool,
}

impl LineBuffer {
    /// A buffer written to `out` by a new thread.
    pub fn spawn(out: impl Write + Send + 'static) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending { bytes: Vec::with_capacity(BATCH), ..Pending::default() }),
            wake: Condvar::new(),
            written: Condvar::new(),
        });
        let writer = shared.clone();
        std::thread::Builder::new().name("plughost-log".into()).spawn(move || writer.write_out(out))?;
        Ok(Self { shared })
    }

    /// Waits until every line appended before this call is written, or `bound` passed.
    pub fn flush(&self, bound: Duration) {
        let deadline = Instant::now() + bound;
        let mut pending = self.shared.lock();
        let target = pending.appended;
        while pending.written < target && !pending.writer_gone {
            pending.flush_wanted = true;
            self.shared.wake.notify_one();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            pending = self.shared.written.wait_timeout(pending, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    fn append(&self, line: &[u8]) -> std::io::Result<()> {
        let mut pending = self.shared.lock();
        while pending.bytes.len() + line.len() > MAX_PENDING && !pending.bytes.is_empty() && !pending.writer_gone {
            self.shared.wake.notify_one();
            pending = self.shared.written.wait(pending).unwrap_or_else(|p| p.into_inner());
        }
        if pending.writer_gone {
            drop(pending);
            return std::io::stderr().write_all(line);
        }
        let (was_empty, was_short) = (pending.bytes.is_empty(), pending.bytes.len() < BATCH);
        pending.bytes.extend_from_slice(line);
        pending.appended += line.len() as u64;
        // The writer sleeps while the buffer is empty, and waits out INTERVAL once it is
        // not; a full batch cuts that short. Woken once each (a wake is a system call, and
        // the lines that arrive before the writer runs need none).
        if was_empty || (was_short && pending.bytes.len() >= BATCH) {
            self.shared.wake.notify_one();
        }
        Ok(())
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The writer thread: waits for lines, lets a batch gather, swaps the buffer out and
    /// writes it without holding the lock.
    fn write_out(&self, mut out: impl Write) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let mut pending = self.lock();
            while pending.bytes.is_empty() {
                pending.flush_wanted = false;
                pending = self.wake.wait(pending).unwrap_or_else(|p| p.into_inner());
            }
            if pending.bytes.len() < BATCH && !pending.flush_wanted {
                pending = self.wake.wait_timeout(pending, INTERVAL).unwrap_or_else(|p| p.into_inner()).0;
            }
            std::mem::swap(&mut pending.bytes, &mut batch);
            let upto = pending.appended;
            pending.flush_wanted = false;
            drop(pending);

            let result = out.write_all(&batch).and_then(|()| out.flush());
            // A spike's big buffer is not kept for good.
            batch.clear();
            batch.shrink_to(BATCH);
            let mut pending = self.lock();
            pending.written = upto;
            if result.is_err() {
                // Nowhere to write (stderr closed): loggers stop waiting for this thread.
                pending.writer_gone = true;
            }
            self.written.notify_all();
            if pending.writer_gone {
                return;
            }
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LineBuffer {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(self)
    }
}

/// What the formatter writes one line through (it writes each line whole, once).
pub struct LineWriter<'a>(&'a LineBuffer);

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.append(bytes)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// An output that records each write it gets, optionally slowly.
    #[derive(Clone, Default)]
    struct Recorder {
        bytes: Arc<Mutex<Vec<u8>>>,
        writes: Arc<AtomicUsize>,
        largest_write: Arc<AtomicUsize>,
        delay: Duration,
    }

    impl Write for Recorder {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            std::thread::sleep(self.delay);
            self.writes.fetch_add(1, Ordering::Relaxed);
            self.largest_write.fetch_max(bytes.len(), Ordering::Relaxed);
            self.bytes.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_come_out_whole_in_order_in_few_writes_and_flush_waits_for_them() {
        let out = Recorder::default();
        let buffer = LineBuffer::spawn(out.clone()).unwrap();
        let lines: Vec<String> = (0..10_000).map(|i| format!("line {i} {}\n", "x".repeat(i % 50))).collect();
        for line in &lines {
            buffer.make_writer_for_test().write_all(line.as_bytes()).unwrap();
        }
        buffer.flush(Duration::from_secs(10));
        assert_eq!(String::from_utf8(out.bytes.lock().unwrap().clone()).unwrap(), lines.concat());
        let writes = out.writes.load(Ordering::Relaxed);
        assert!(writes < 100, "{writes} writes for 10,000 lines: they were not batched");
    }

    #[test]
    fn a_slow_output_makes_loggers_wait_but_loses_nothing() {
        let out = Recorder { delay: Duration::from_millis(20), ..Recorder::default() };
        let buffer = LineBuffer::spawn(out.clone()).unwrap();
        // More than MAX_PENDING from four threads at once.
        let line = format!("{}\n", "y".repeat(1023));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (buffer, line) = (buffer.clone(), line.clone());
                std::thread::spawn(move || {
                    for _ in 0..2048 {
                        buffer.make_writer_for_test().write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        buffer.flush(Duration::from_secs(30));
        let written = out.bytes.lock().unwrap().len();
        assert_eq!(written, 4 * 2048 * 1024);
        // Each write is one whole batch: none held more than MAX_PENDING, though 8 MiB
        // were logged faster than the output took them.
        let largest = out.largest_write.load(Ordering::Relaxed);
        assert!(largest <= MAX_PENDING, "a batch of {largest} bytes: the buffer grew past its bound");
        assert!(out.writes.load(Ordering::Relaxed) >= 2, "everything fit one batch: the bound was never tested");
    }

    #[test]
    fn a_line_is_written_within_the_interval_without_a_flush() {
        let out = Recorder::default();
        let buffer = LineBuffer::spawn(out.clone()).unwrap();
        buffer.make_writer_for_test().write_all(b"alone\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while out.bytes.lock().unwrap().is_empty() {
            assert!(Instant::now() < deadline, "a lone line was never written");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(out.bytes.lock().unwrap().as_slice(), b"alone\n");
    }

    impl LineBuffer {
        fn make_writer_for_test(&self) -> LineWriter<'_> {
            tracing_subscriber::fmt::MakeWriter::make_writer(self)
        }
    }
}

//! WASI stdout/stderr for plugins: bytes written by the guest go to its [`LogSink`] as
//! lines, never to the host's own stdout (which would interleave with the host's logs and
//! lose the plugin and request tags).

use super::{LogSink, MAX_STDIO_WRITE};
use bytes::Bytes;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// One of a request's two output streams (0 = stdout, 1 = stderr).
#[derive(Debug, Clone)]
pub struct StdioLog {
    sink: Arc<LogSink>,
    stream: usize,
}

impl StdioLog {
    pub fn stdout(sink: Arc<LogSink>) -> Self {
        Self { sink, stream: 0 }
    }

    pub fn stderr(sink: Arc<LogSink>) -> Self {
        Self { sink, stream: 1 }
    }
}

impl IsTerminal for StdioLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StdioLog {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

// Writes within `check-write`'s permit never fail and never block: output past the line
// budget is counted and dropped by the sink, so a guest's `println!` cannot panic because
// logging is saturated. A write larger than the permit breaks the WASI contract (wasmtime's
// own streams trap the same way); refusing it keeps every host call's work bounded.
impl OutputStream for StdioLog {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if bytes.len() > MAX_STDIO_WRITE {
            return Err(StreamError::Trap(wasmtime::Error::msg(format!(
                "plugin wrote {} bytes to {} at once; `check-write` permits {MAX_STDIO_WRITE}",
                bytes.len(),
                if self.stream == 0 { "stdout" } else { "stderr" }
            ))));
        }
        self.sink.write_stdio(self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_STDIO_WRITE)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for StdioLog {
    async fn ready(&mut self) {}
}

impl AsyncWrite for StdioLog {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        // A short write is how `AsyncWrite` bounds one call; the caller writes the rest.
        let accepted = &buf[..buf.len().min(MAX_STDIO_WRITE)];
        self.sink.write_stdio(self.stream, accepted);
        Poll::Ready(Ok(accepted.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

//! WASI stdout/stderr for plugins: bytes written by the guest go to its [`LogSink`] as
//! lines, never to the host's own stdout (which would interleave with the host's logs and
//! lose the plugin and request tags).

use super::LogSink;
use bytes::Bytes;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

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

// Writes never fail and never block: output past the line budget is counted and dropped
// by the sink, so a guest's `println!` cannot panic because logging is saturated.
impl OutputStream for StdioLog {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.sink.write_stdio(self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for StdioLog {
    async fn ready(&mut self) {}
}

impl AsyncWrite for StdioLog {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.sink.write_stdio(self.stream, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

//! The WASI sandbox. Plugins link against WASI only because Rust's `std` for wasm does;
//! the context built here gives them nothing: no preopened directories (so no files), no
//! environment variables, no arguments, no stdin, and sockets denied (TCP, UDP and name
//! lookup all off). Clocks and randomness work, as `std` expects.
//! stdout/stderr go to the request's log sink (see `capability/log/stdio.rs`).

use super::log::{LogSink, StdioLog};
use std::sync::Arc;
use wasmtime::component::Linker;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiView};

/// The empty WASI context for one request.
pub fn sandboxed_ctx(sink: &Arc<LogSink>) -> WasiCtx {
    WasiCtxBuilder::new()
        .stdout(StdioLog::stdout(sink.clone()))
        .stderr(StdioLog::stderr(sink.clone()))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

pub fn add_to_linker<T: WasiView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    Ok(())
}

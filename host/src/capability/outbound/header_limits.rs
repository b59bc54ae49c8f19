//! A header set over its size limit is an error the plugin can handle, never a trap.
//!
//! wasmtime-wasi-http 48 traps when a `fields` grows past its limit (the total size of
//! names and values, or the count): WASI 0.2's `header-error` has no case for it (0.3 adds
//! `size-exceeded`). A plugin building headers from input it does not control — a long
//! cookie, a forwarded header set — would take its whole request down with it. So the
//! three calls that grow a `fields` (`from-list`, `set`, `append`) are redefined here over
//! wasmtime's own implementation: the same result, except that the size or count limit
//! answers `invalid-syntax`, with a WARN line naming the plugin and the request. Every
//! other trap stays a trap.

use super::OutboundView;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi_http::FieldMap;
use wasmtime_wasi_http::FieldMapError;
use wasmtime_wasi_http::p2::bindings::http::types::{HeaderError, HostFields};

/// The `wasi:http/types` instance as wasmtime-wasi-http 48 defines it (components importing
/// any 0.2.x resolve to it).
const TYPES: &str = "wasi:http/types@0.2.12";

type Outcome<T> = wasmtime::Result<(Result<T, HeaderError>,)>;

/// Redefines the three calls; after `wasmtime_wasi_http`'s own `add_to_linker`.
pub fn add_to_linker<T: OutboundView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    linker.allow_shadowing(true);
    let mut types = linker.instance(TYPES)?;
    types.func_wrap("[static]fields.from-list", |mut store, (entries,): (Vec<(String, Vec<u8>)>,)| -> Outcome<_> {
        let data: &mut T = store.data_mut();
        let result = HostFields::from_list(&mut data.http(), entries);
        handled(data, result)
    })?;
    types.func_wrap(
        "[method]fields.set",
        |mut store, (fields, name, values): (Resource<FieldMap>, String, Vec<Vec<u8>>)| -> Outcome<()> {
            let data: &mut T = store.data_mut();
            let result = HostFields::set(&mut data.http(), fields, name, values);
            handled(data, result)
        },
    )?;
    types.func_wrap(
        "[method]fields.append",
        |mut store, (fields, name, value): (Resource<FieldMap>, String, Vec<u8>)| -> Outcome<()> {
            let data: &mut T = store.data_mut();
            let result = HostFields::append(&mut data.http(), fields, name, value);
            handled(data, result)
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// wasmtime's result as the plugin receives it: its header errors as they are, the size
/// and count limits as `invalid-syntax`, any other trap as the trap.
fn handled<T, V: OutboundView>(view: &V, result: wasmtime_wasi_http::p2::HeaderResult<T>) -> Outcome<T> {
    let error = match result {
        Ok(value) => return Ok((Ok(value),)),
        Err(error) => error,
    };
    match error.downcast() {
        Ok(header_error) => Ok((Err(header_error),)),
        Err(trap) => match trap.downcast_ref::<FieldMapError>() {
            Some(limit @ (FieldMapError::TotalSizeTooBig | FieldMapError::TooManyFields)) => {
                let sink = view.outbound_log();
                tracing::warn!(
                    plugin = %sink.plugin(),
                    request_id = sink.request_id(),
                    "outgoing headers refused: {limit}; the plugin gets invalid-syntax"
                );
                Ok((Err(HeaderError::InvalidSyntax),))
            }
            _ => Err(trap),
        },
    }
}

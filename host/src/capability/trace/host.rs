//! `plughost:plugin/trace` over a [`TraceCtx`].

use super::{PluginSpan, TraceCtx};
use crate::bindings::plughost::plugin::trace::{Host, HostSpan};
use wasmtime::component::Resource;

impl Host for &TraceCtx {}

impl HostSpan for &TraceCtx {
    fn new(&mut self, name: String) -> Resource<PluginSpan> {
        Resource::new_own(self.start(&name))
    }

    fn set_attribute(&mut self, span: Resource<PluginSpan>, key: String, value: String) {
        TraceCtx::set_attribute(self, span.rep(), &key, &value);
    }

    fn drop(&mut self, span: Resource<PluginSpan>) -> wasmtime::Result<()> {
        self.end(span.rep());
        Ok(())
    }
}

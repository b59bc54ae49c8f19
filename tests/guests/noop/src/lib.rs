//! Bench guest: a request handler and an event handler that do nothing, so `make bench`
//! measures what the host adds per request and per event, not what a plugin does.

use plughost_sdk::events::Event;
use plughost_sdk::{Request, StatusCode};

fn handle(_req: Request) -> StatusCode {
    StatusCode::OK
}

fn on_event(_event: Event) -> Result<(), String> {
    Ok(())
}

plughost_sdk::plugin!(handle);
plughost_sdk::events!(on_event);

//! Whether this process runs inside a Lambda function, and where that function's runtime
//! API is: read once from `AWS_LAMBDA_RUNTIME_API`, which the Lambda runtime (and
//! cargo-lambda's emulator) sets for `bootstrap`. The one place that asks — `main.rs`
//! (what to run with no command), the outbound fence (the API is refused to plugins) and
//! the traces (the invocation's `_X_AMZN_TRACE_ID`, looked up only inside a function).
//!
//! A leaf: it uses nothing of the host's, so anything may ask it without a module cycle.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;

/// `AWS_LAMBDA_RUNTIME_API`'s value, if set.
fn variable() -> Option<&'static str> {
    static VALUE: OnceLock<Option<String>> = OnceLock::new();
    VALUE.get_or_init(|| std::env::var("AWS_LAMBDA_RUNTIME_API").ok()).as_deref()
}

/// Inside a Lambda function (or its emulator).
pub fn in_function() -> bool {
    variable().is_some()
}

/// The Lambda runtime API's address, inside a function.
pub fn runtime_api() -> Option<SocketAddr> {
    static ADDRESS: OnceLock<Option<SocketAddr>> = OnceLock::new();
    *ADDRESS.get_or_init(|| parse_runtime_api(variable()?))
}

/// `127.0.0.1:9001` (AWS), or with a scheme and path (`http://127.0.0.1:9000/.rt`, as
/// cargo-lambda's emulator sets it).
fn parse_runtime_api(value: &str) -> Option<SocketAddr> {
    let value = value.strip_prefix("http://").unwrap_or(value);
    let authority = value.split('/').next()?;
    authority.parse().ok().or_else(|| {
        // `localhost:9001`: the loopback address it means.
        let port = authority.strip_prefix("localhost:")?.parse().ok()?;
        Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_api_is_read_as_aws_and_the_emulator_write_it() {
        let api: SocketAddr = "127.0.0.1:9001".parse().unwrap();
        assert_eq!(parse_runtime_api("127.0.0.1:9001"), Some(api));
        assert_eq!(parse_runtime_api("127.0.0.1:9000/.rt"), Some("127.0.0.1:9000".parse().unwrap()));
        assert_eq!(parse_runtime_api("http://127.0.0.1:9000/.rt"), Some("127.0.0.1:9000".parse().unwrap()));
        assert_eq!(parse_runtime_api("localhost:9001"), Some(api));
        assert_eq!(parse_runtime_api("nonsense"), None);
    }
}

//! Tasks: a plugin run as one step of a workflow — a Step Functions `Task` state in AWS,
//! `plughost invoke <plugin> --input <json>` locally. The task takes the state's input
//! (any JSON, parsed into your type) and returns its output (serialised to JSON):
//!
//! ```ignore
//! use plughost_sdk::task::Failure;
//!
//! #[derive(serde::Deserialize)]
//! struct Order { id: String, items: Vec<Item> }
//!
//! fn validate(order: Order) -> Result<serde_json::Value, Failure> {
//!     if order.items.is_empty() {
//!         // `Catch` / `Retry` in the state machine match the name.
//!         return Err(Failure::new("OrderRejected", "an order needs items"));
//!     }
//!     Ok(serde_json::json!({ "id": order.id, "valid": true }))
//! }
//!
//! plughost_sdk::task!(validate);
//! ```
//!
//! Input that does not parse as the task's type fails with `InvalidInput`; a
//! [`crate::Error`] or storage error returned with `?` fails with its code as the name
//! (`unavailable`, `not_found`, ...). Step Functions retries as the state machine says, so
//! a task should be idempotent.

use crate::bindings::task_world::exports::plughost::plugin::task::Failure as WitFailure;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a task failed: a `name` the state machine matches, and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub name: String,
    pub message: String,
}

impl Failure {
    /// `name`: letters, digits, `.`, `_`, `-` (others become `_` on the way out).
    pub fn new(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self { name: name.into(), message: message.into() }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl From<crate::Error> for Failure {
    fn from(error: crate::Error) -> Self {
        Self::new(error.code().to_owned(), error.message().to_owned())
    }
}

impl From<crate::kv::StorageError> for Failure {
    fn from(error: crate::kv::StorageError) -> Self {
        crate::Error::from(error).into()
    }
}

/// Runs `handler` on the JSON `input`; what the `task!` macro's export calls.
#[doc(hidden)]
pub fn run<I, O, F>(input: String, handler: impl FnOnce(I) -> Result<O, F>) -> Result<String, WitFailure>
where
    I: DeserializeOwned,
    O: Serialize,
    F: Into<Failure>,
{
    let outcome = serde_json::from_str::<I>(&input)
        .map_err(|e| Failure::new("InvalidInput", format!("the task's input does not fit: {e}")))
        .and_then(|input| handler(input).map_err(Into::into))
        .and_then(|output| {
            serde_json::to_string(&output)
                .map_err(|e| Failure::new("InvalidOutput", format!("the output could not be serialised: {e}")))
        });
    outcome.map_err(|failure| WitFailure { name: failure.name, message: failure.message })
}

/// Exports `handler` as this component's task: any `fn(I) -> Result<O, F>` where `I`
/// deserialises from the input JSON, `O` serialises to the output JSON and `F` converts
/// into [`Failure`] (`Failure`, [`crate::Error`]). Use it once, at the crate root.
#[macro_export]
macro_rules! task {
    ($handler:path) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __PlughostTask;

            impl $crate::bindings::task_world::exports::plughost::plugin::task::Guest for __PlughostTask {
                fn run(
                    input: ::std::string::String,
                ) -> ::core::result::Result<
                    ::std::string::String,
                    $crate::bindings::task_world::exports::plughost::plugin::task::Failure,
                > {
                    $crate::task::run(input, $handler)
                }
            }

            $crate::bindings::task_world::__export_task!(__PlughostTask);
        };
        // Natively (unit tests) nothing is exported; the handler still counts as used.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _ = $handler;
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Input {
        n: u32,
    }

    fn double(input: Input) -> Result<serde_json::Value, Failure> {
        if input.n == 0 {
            return Err(Failure::new("Zero", "nothing to double"));
        }
        Ok(serde_json::json!({ "n": input.n * 2 }))
    }

    #[test]
    fn input_is_parsed_output_serialised_and_failures_keep_their_name() {
        assert_eq!(run(r#"{"n": 2}"#.into(), double), Ok(r#"{"n":4}"#.into()));
        let zero = run(r#"{"n": 0}"#.into(), double).unwrap_err();
        assert_eq!((zero.name.as_str(), zero.message.as_str()), ("Zero", "nothing to double"));
        let bad = run(r#"{"m": 1}"#.into(), double).unwrap_err();
        assert_eq!(bad.name, "InvalidInput");
        let http: Failure = crate::Error::unprocessable("no").into();
        assert_eq!(http.name, "unprocessable");
    }
}

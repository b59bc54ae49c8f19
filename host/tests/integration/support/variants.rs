//! Distinct versions of one real plugin, for hot-swap tests and benchmarks: `hello.wasm`
//! holds its default greeting ("Hello") once, in its data segment; replacing those five
//! bytes gives a valid component with another digest that answers differently.

/// `hello` (the bytes of `hello.wasm`) answering with `greeting` instead of "Hello".
pub fn hello_with_greeting(hello: &[u8], greeting: &[u8; 5]) -> Vec<u8> {
    let at: Vec<usize> = hello.windows(5).enumerate().filter(|(_, w)| w == b"Hello").map(|(i, _)| i).collect();
    assert_eq!(at.len(), 1, "hello.wasm should hold its default greeting exactly once");
    let mut bytes = hello.to_vec();
    bytes[at[0]..at[0] + 5].copy_from_slice(greeting);
    bytes
}

//! `GET /hello/{name}` → `{"message":"Hello, {name}!"}` over plain wasi:http, for
//! `wasmtime serve` in the load benchmark (`host/benches/load.rs`).

use std::io::Write as _;
use wasip2::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

wasip2::http::proxy::export!(Hello);

struct Hello;

impl wasip2::exports::http::incoming_handler::Guest for Hello {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let name = path.strip_prefix("/hello/").filter(|name| !name.is_empty()).unwrap_or("world");
        let body = format!("{{\"message\":\"Hello, {name}!\"}}");
        let headers = Fields::from_list(&[("content-type".to_owned(), b"application/json".to_vec())])
            .expect("a valid header");
        let response = OutgoingResponse::new(headers);
        let outgoing = response.body().expect("the body, taken once");
        ResponseOutparam::set(response_out, Ok(response));
        let mut stream = outgoing.write().expect("the stream, taken once");
        stream.write_all(body.as_bytes()).expect("written");
        stream.flush().expect("flushed");
        drop(stream);
        OutgoingBody::finish(outgoing, None).expect("finished");
    }
}

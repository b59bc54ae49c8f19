//! [`Router`]: dispatch inside one plugin by the manifest route that matched.
//!
//! The host has already matched the path against the manifest, so this router only
//! compares the matched route pattern (`Request::route`) and the method — no path parsing.

use crate::error::Error;
use crate::request::{Method, Request};
use crate::response::{IntoResponse, Response};
use http::StatusCode;

type BoxedHandler = Box<dyn Fn(Request) -> Response>;

/// Maps (method, route pattern) to handlers. Route patterns must be written exactly as in
/// the manifest (`/users/{id}`).
///
/// ```
/// use plughost_sdk::{Json, Method, Request, Router};
///
/// fn router() -> Router {
///     Router::new().get("/hello/{name}", |req: Request| {
///         Json(serde_json::json!({ "hello": req.param("name") }))
///     })
/// }
///
/// let req = Request::builder(Method::Get, "/hello/{name}").param("name", "ada").build();
/// let res = router().handle(req);
/// assert_eq!(res.body_json().unwrap()["hello"], "ada");
/// ```
#[derive(Default)]
pub struct Router {
    routes: Vec<(Option<Method>, String, BoxedHandler)>,
}

impl Router {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` for `method` (or every method when `None`) on `route`.
    pub fn route<H, R>(mut self, method: Option<Method>, route: &str, handler: H) -> Self
    where
        H: Fn(Request) -> R + 'static,
        R: IntoResponse,
    {
        let boxed: BoxedHandler = Box::new(move |req| handler(req).into_response());
        self.routes.push((method, route.to_owned(), boxed));
        self
    }

    pub fn get<H: Fn(Request) -> R + 'static, R: IntoResponse>(self, route: &str, h: H) -> Self {
        self.route(Some(Method::Get), route, h)
    }

    pub fn post<H: Fn(Request) -> R + 'static, R: IntoResponse>(self, route: &str, h: H) -> Self {
        self.route(Some(Method::Post), route, h)
    }

    pub fn put<H: Fn(Request) -> R + 'static, R: IntoResponse>(self, route: &str, h: H) -> Self {
        self.route(Some(Method::Put), route, h)
    }

    pub fn patch<H: Fn(Request) -> R + 'static, R: IntoResponse>(self, route: &str, h: H) -> Self {
        self.route(Some(Method::Patch), route, h)
    }

    pub fn delete<H: Fn(Request) -> R + 'static, R: IntoResponse>(self, route: &str, h: H) -> Self {
        self.route(Some(Method::Delete), route, h)
    }

    /// Any method on `route`.
    pub fn any<H: Fn(Request) -> R + 'static, R: IntoResponse>(self, route: &str, h: H) -> Self {
        self.route(None, route, h)
    }

    /// Runs the handler registered for the request's route and method.
    ///
    /// A route the plugin does not handle is a 404, a known route with another method a
    /// 405 with `allow` — both mean the manifest and the plugin disagree.
    pub fn handle(&self, req: Request) -> Response {
        let mut allowed: Vec<&Method> = Vec::new();
        for (method, route, handler) in &self.routes {
            if route != req.route() {
                continue;
            }
            match method {
                None => return handler(req),
                Some(m) if m == req.method() => return handler(req),
                Some(m) => allowed.push(m),
            }
        }
        if allowed.is_empty() {
            return Error::not_found(format!("no handler for route `{}`", req.route())).into_response();
        }
        let allow = allowed.iter().map(|m| method_name(m)).collect::<Vec<_>>().join(", ");
        Error::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed")
            .into_response()
            .header("allow", allow)
    }
}

/// The method as it appears on the wire (`GET`, or the raw token for other methods).
pub fn method_name(method: &Method) -> &str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Patch => "PATCH",
        Method::Options => "OPTIONS",
        Method::Other(other) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Json;

    fn router() -> Router {
        Router::new()
            .get("/items/{id}", |req: Request| Json(req.param("id").unwrap_or("").to_owned()))
            .delete("/items/{id}", |_req: Request| StatusCode::NO_CONTENT)
            .any("/any", |_req: Request| "any")
    }

    #[test]
    fn dispatches_on_route_and_method() {
        let req = Request::builder(Method::Get, "/items/{id}").param("id", "7").build();
        let res = router().handle(req);
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.body_bytes(), br#""7""#);

        let req = Request::builder(Method::Delete, "/items/{id}").build();
        assert_eq!(router().handle(req).status(), StatusCode::NO_CONTENT);
    }

    #[test]
    fn any_matches_every_method() {
        let req = Request::builder(Method::Other("PROPFIND".into()), "/any").build();
        assert_eq!(router().handle(req).body_bytes(), b"any");
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        let req = Request::builder(Method::Post, "/items/{id}").build();
        let res = router().handle(req);
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.header_value("allow"), Some("GET, DELETE"));
    }

    #[test]
    fn unknown_route_is_404_json() {
        let res = router().handle(Request::builder(Method::Get, "/nope").build());
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(res.body_json().unwrap()["error"]["code"], "not_found");
    }
}

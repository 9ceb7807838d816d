//! What every request goes through before any route sees it: no NUL in the path or the query
//! string (PostgreSQL refuses it in text, which used to surface as a 500), and an honest
//! `Connection: close` when an answer leaves the request's body unread.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Query, Request};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::domain::ErrorCode;

/// A NUL (`%00`) in the path is 404 (no id holds one), and so is a path that does not decode
/// to UTF-8 (`%FF`), which axum's `Path` would answer with a plain-text 400; in the query
/// string, a NUL is 422 naming the parameter. Form fields and JSON bodies are checked where
/// they are read (the pages' form reader, [`super::extract::parse_json`]).
pub async fn refuse_nul(req: Request, next: Next) -> Response {
    let uri = req.uri();
    if uri.path().contains("%00") || !decodes_to_utf8(uri.path()) {
        return ApiError::not_found("resource").into_response();
    }
    if uri.query().is_some_and(|q| q.contains("%00")) {
        let field = Query::<Vec<(String, String)>>::try_from_uri(uri)
            .ok()
            .and_then(|Query(pairs)| {
                pairs
                    .into_iter()
                    .find(|(k, v)| k.contains('\0') || v.contains('\0'))
                    .map(|(k, _)| k.replace('\0', "\\u0000"))
            })
            .unwrap_or_default();
        return ApiError::field(
            ErrorCode::InvalidQuery,
            &field,
            "must not contain the NUL character (U+0000)",
        )
        .into_response();
    }
    next.run(req).await
}

/// Whether a path's percent-escapes decode to UTF-8 text.
fn decodes_to_utf8(path: &str) -> bool {
    if !path.contains('%') {
        return true;
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&out).is_ok()
}

/// hyper drops a keep-alive connection whose request body was not read to its end when the
/// answer went out (a 401, 403 or 415 answered before the body), without telling the client,
/// which then sends its next request into a closed socket. This says `Connection: close` on
/// exactly those answers, so the client opens a new connection instead. (Reading the rest of
/// the body instead would make the server read up to the body limit for callers it has
/// already refused.)
pub async fn close_unread(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let done = Arc::new(AtomicBool::new(body.is_end_stream()));
    let body = Body::new(Tracked {
        inner: body,
        done: done.clone(),
    });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if !done.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that records when it has been read to its end.
struct Tracked {
    inner: Body,
    done: Arc<AtomicBool>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            _ => false,
        };
        if ended {
            self.done.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

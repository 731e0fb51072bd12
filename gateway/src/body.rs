//! Request bodies on their way to a backend.
//!
//! The gateway reads up to [`BUFFER`] bytes of a body before it connects to
//! a backend, as nginx buffers request bodies: a malformed chunked body is
//! then answered 400 before anything reaches a backend, a small body's
//! length is known (so a GET with a chunked body keeps it), and a request
//! read whole can be retried on another member. A larger body streams:
//! the buffered part first, then the rest as it arrives.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};

/// How much of a request body is read before forwarding.
pub const BUFFER: usize = 64 * 1024;

/// A request body, read as far as [`read`] went.
#[derive(Debug)]
pub enum RequestBody {
    /// The whole body (possibly empty): replayable, length known.
    Whole(Bytes),
    /// The first [`BUFFER`] bytes or more, and the rest still to come.
    Streaming { head: Bytes, rest: Incoming },
}

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// The client sent a malformed body (bad chunk framing) or left early.
    Malformed,
    /// The client stopped sending within the deadline.
    Stalled,
}

/// Reads `body` until it ends or [`BUFFER`] bytes are in, within
/// `deadline`.
pub async fn read(mut body: Incoming, deadline: std::time::Duration) -> Result<RequestBody, BodyError> {
    if body.is_end_stream() {
        return Ok(RequestBody::Whole(Bytes::new()));
    }
    let mut buf = BytesMut::new();
    let fill = async {
        while buf.len() < BUFFER {
            match body.frame().await {
                None => return Ok(true),
                Some(Err(_)) => return Err(BodyError::Malformed),
                Some(Ok(frame)) => {
                    // Trailers are hop-by-hop here and dropped, as the
                    // request's `TE`/`Trailer` headers are.
                    if let Ok(data) = frame.into_data() {
                        buf.extend_from_slice(&data);
                    }
                }
            }
        }
        Ok(body.is_end_stream())
    };
    let ended = tokio::time::timeout(deadline, fill)
        .await
        .map_err(|_| BodyError::Stalled)??;
    let head = buf.freeze();
    if ended {
        Ok(RequestBody::Whole(head))
    } else {
        Ok(RequestBody::Streaming { head, rest: body })
    }
}

/// A body that yields `head`, then everything from `rest`.
#[derive(Debug)]
pub struct Chained {
    head: Option<Bytes>,
    rest: Incoming,
}

impl Chained {
    pub fn new(head: Bytes, rest: Incoming) -> Chained {
        Chained {
            head: (!head.is_empty()).then_some(head),
            rest,
        }
    }
}

impl Body for Chained {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        if let Some(head) = self.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let head = self.head.as_ref().map_or(0, |h| h.len() as u64);
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower().saturating_add(head));
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(head));
        }
        hint
    }
}

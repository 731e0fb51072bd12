//! What a backend reports about itself.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// A request as the backend received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    pub method: String,
    pub uri: String,
    /// Header names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
}

impl SeenRequest {
    /// The first value of `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is a health probe (probes send `wsgate-probe/1`).
    pub fn is_probe(&self) -> bool {
        self.header("user-agent") == Some(gateway::probe::USER_AGENT)
    }
}

/// Which way a message went, from the backend's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// Received from the client (through the gateway).
    In,
    /// Sent towards the client.
    Out,
}

/// Something a backend did or saw. Sessions are named by the client's
/// `Sec-WebSocket-Key`, which the client records too, so the two sides of
/// one session can be matched.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendEvent {
    /// A TCP connection arrived.
    Accepted { peer: SocketAddr },
    /// A request head arrived (plain, probe or upgrade).
    Request(SeenRequest),
    /// A WebSocket session was opened.
    SessionOpened {
        key: Arc<str>,
        path: String,
        subprotocol: Option<String>,
    },
    /// A data message, with the FNV-1a digest of its payload bytes.
    Message {
        key: Arc<str>,
        direction: Direction,
        binary: bool,
        len: usize,
        digest: u64,
    },
    /// The backend sent a Close frame with this code (its script's close).
    CloseSent { key: Arc<str>, code: u16 },
    /// A Close frame arrived; `code` is absent for a frame without one.
    CloseReceived { key: Arc<str>, code: Option<u16> },
    /// The session ended.
    SessionClosed { key: Arc<str>, received: u64, sent: u64 },
    /// What the backend's application (SignalR, socket.io) did with a
    /// request.
    App(crate::app::AppEvent),
}

impl fmt::Display for BackendEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendEvent::Accepted { peer } => write!(f, "accepted connection from {peer}"),
            BackendEvent::Request(r) => write!(f, "request {} {}", r.method, r.uri),
            BackendEvent::SessionOpened { path, subprotocol, .. } => match subprotocol {
                Some(p) => write!(f, "session opened {path} subprotocol={p}"),
                None => write!(f, "session opened {path}"),
            },
            BackendEvent::Message {
                direction, binary, len, ..
            } => {
                let kind = if *binary { "binary" } else { "text" };
                match direction {
                    Direction::In => write!(f, "recv {kind} {len}B"),
                    Direction::Out => write!(f, "sent {kind} {len}B"),
                }
            }
            BackendEvent::CloseSent { code, .. } => write!(f, "sent close {code}"),
            BackendEvent::CloseReceived { code: Some(c), .. } => write!(f, "close received code={c}"),
            BackendEvent::CloseReceived { code: None, .. } => f.write_str("close received without a code"),
            BackendEvent::SessionClosed { received, sent, .. } => {
                write!(f, "session closed after {received} messages in, {sent} out")
            }
            BackendEvent::App(e) => e.fmt(f),
        }
    }
}

/// A 64-bit FNV-1a digest of a payload: the same bytes give the same
/// digest on every side of a run, so payloads can be compared without
/// being stored.
pub fn digest(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_tell_payloads_apart() {
        assert_eq!(digest(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(digest(b"hello"), digest(b"hello"));
        assert_ne!(digest(b"hello"), digest(b"hellp"));
        assert_ne!(digest(b"ab"), digest(b"ba"));
    }
}

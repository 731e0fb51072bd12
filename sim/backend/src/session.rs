//! One WebSocket session on the backend: echo every data message, and run
//! the script (push, ping, close) beside it.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::event::{digest, BackendEvent, Direction};
use crate::script::{push_payload, SessionScript};

/// tungstenite zeroes its whole read buffer on every read; 8 KiB instead of
/// its 128 KiB default keeps that cheap. Larger messages take several reads.
const READ_BUFFER: usize = 8 * 1024;

/// The digest, length and kind of a data message.
fn summary(msg: &Message) -> Option<(bool, usize, u64)> {
    match msg {
        Message::Text(t) => Some((false, t.len(), digest(t.as_bytes()))),
        Message::Binary(b) => Some((true, b.len(), digest(b))),
        _ => None,
    }
}

/// Runs a session until either side closes it, or the backend halts (a
/// crash: the connection just drops, with no Close frame and no report).
pub(crate) async fn run<S>(
    stream: S,
    key: Arc<str>,
    script: SessionScript,
    observer: &(dyn Fn(BackendEvent) + Send + Sync),
    halted: impl std::future::Future<Output = ()>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    tokio::select! {
        biased;
        () = halted => {}
        () = echo(stream, key, script, observer) => {}
    }
}

async fn echo<S>(stream: S, key: Arc<str>, script: SessionScript, observer: &(dyn Fn(BackendEvent) + Send + Sync))
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let mut ws = WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await;
    let opened = Instant::now();
    let mut next_push = script.push.map(|p| opened + p.every);
    let mut next_ping = script.ping_interval.map(|i| opened + i);
    let mut close_at = script.close.map(|c| opened + c.after);
    let (mut received, mut sent, mut pushed) = (0u64, 0u64, 0u64);
    let record = |direction: Direction, msg: &Message| {
        if let Some((binary, len, digest)) = summary(msg) {
            observer(BackendEvent::Message {
                key: Arc::clone(&key),
                direction,
                binary,
                len,
                digest,
            });
        }
    };
    loop {
        let wake = [next_push, next_ping, close_at].into_iter().flatten().min();
        let timer = async {
            match wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let incoming = tokio::select! {
            biased;
            msg = ws.next() => Some(msg),
            () = timer => None,
        };
        match incoming {
            Some(Some(Ok(msg @ (Message::Text(_) | Message::Binary(_))))) => {
                received += 1;
                record(Direction::In, &msg);
                record(Direction::Out, &msg);
                if ws.send(msg).await.is_err() {
                    break;
                }
                sent += 1;
            }
            Some(Some(Ok(Message::Close(frame)))) => {
                observer(BackendEvent::CloseReceived {
                    key: Arc::clone(&key),
                    code: frame.map(|f| u16::from(f.code)),
                });
                // tungstenite queues the reply; the next read flushes it and
                // ends the stream.
                close_at = None;
                next_push = None;
                next_ping = None;
            }
            // Pongs are sent by tungstenite itself.
            Some(Some(Ok(_))) => {}
            Some(Some(Err(_)) | None) => break,
            None => {
                let now = Instant::now();
                if close_at.is_some_and(|at| now >= at) {
                    let code = script.close.map_or(1000, |c| c.code);
                    close_at = None;
                    next_push = None;
                    next_ping = None;
                    observer(BackendEvent::CloseSent {
                        key: Arc::clone(&key),
                        code,
                    });
                    let frame = CloseFrame {
                        code: CloseCode::from(code),
                        reason: "".into(),
                    };
                    if ws.close(Some(frame)).await.is_err() {
                        break;
                    }
                    continue;
                }
                if let (Some(at), Some(push)) = (next_push, script.push) {
                    if now >= at {
                        pushed += 1;
                        let msg = Message::Binary(Bytes::from(push_payload(push.size, pushed)));
                        record(Direction::Out, &msg);
                        if ws.send(msg).await.is_err() {
                            break;
                        }
                        sent += 1;
                        next_push = Some(at + push.every);
                    }
                }
                if let (Some(at), Some(every)) = (next_ping, script.ping_interval) {
                    if now >= at {
                        if ws.send(Message::Ping(Bytes::from_static(b"server"))).await.is_err() {
                            break;
                        }
                        next_ping = Some(at + every);
                    }
                }
            }
        }
    }
    observer(BackendEvent::SessionClosed { key, received, sent });
}

//! The upgraded session: bytes relayed both ways, frames never parsed.
//!
//! Each direction is a pump that reads and writes until end-of-stream, then
//! half-closes its writer, so a FIN from one side reaches the other. An error
//! on either side (reset, broken pipe) ends the whole session at once:
//! dropping both streams closes both connections.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::event::{CloseReason, Side};

/// Bytes a direction buffers per read. Matches tokio's `copy`; frames larger
/// than this simply take several reads.
const CHUNK: usize = 8 * 1024;

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Who ended it: the side whose stream ended or failed first.
    pub by: Side,
    pub reason: CloseReason,
    pub bytes_from_client: u64,
    pub bytes_from_backend: u64,
}

/// How one direction ended.
#[derive(Debug)]
enum PumpEnd {
    /// The reader reached end-of-stream and the writer was half-closed.
    Eof,
    /// A read or write failed; `Side` says where.
    Failed(Side, std::io::Error),
}

async fn pump<R, W>(
    mut from: R,
    mut to: W,
    from_side: Side,
    to_side: Side,
    count: &mut u64,
) -> PumpEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return PumpEnd::Failed(from_side, e),
        };
        *count += n as u64;
        if let Err(e) = to.write_all(&buf[..n]).await {
            return PumpEnd::Failed(to_side, e);
        }
        if let Err(e) = to.flush().await {
            return PumpEnd::Failed(to_side, e);
        }
    }
    match to.shutdown().await {
        Ok(()) => PumpEnd::Eof,
        // The other side already went away; that is its end, not ours.
        Err(e) => PumpEnd::Failed(to_side, e),
    }
}

/// Relays between an upgraded client and backend until both directions end
/// or one fails.
pub async fn relay<C, B>(client: C, backend: B) -> Outcome
where
    C: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let (client_r, client_w) = tokio::io::split(client);
    let (backend_r, backend_w) = tokio::io::split(backend);
    let (mut up_bytes, mut down_bytes) = (0u64, 0u64);
    // The pumps borrow the counters; they are dropped (closing both
    // connections) at the end of this block, before the counts are read.
    let (by, reason) = {
        let up = pump(
            client_r,
            backend_w,
            Side::Client,
            Side::Backend,
            &mut up_bytes,
        );
        let down = pump(
            backend_r,
            client_w,
            Side::Backend,
            Side::Client,
            &mut down_bytes,
        );
        tokio::pin!(up, down);

        let mut up_done = false;
        let mut down_done = false;
        let mut first_eof: Option<Side> = None;
        let failure = loop {
            let (end, eof_side) = tokio::select! {
                biased;
                end = &mut up, if !up_done => { up_done = true; (end, Side::Client) }
                end = &mut down, if !down_done => { down_done = true; (end, Side::Backend) }
                else => break None,
            };
            match end {
                PumpEnd::Eof => {
                    first_eof.get_or_insert(eof_side);
                }
                PumpEnd::Failed(side, e) => break Some((side, e)),
            }
        };
        match failure {
            Some((side, e)) => (side, CloseReason::Error(e.kind().to_string())),
            None => (first_eof.unwrap_or(Side::Client), CloseReason::Closed),
        }
    };
    Outcome {
        by,
        reason,
        bytes_from_client: up_bytes,
        bytes_from_backend: down_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    #[tokio::test]
    async fn relays_both_ways_and_half_closes() {
        let (mut client, gw_client) = duplex(64);
        let (gw_backend, mut backend) = duplex(64);
        let relay = tokio::spawn(relay(gw_client, gw_backend));

        client.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        backend.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");

        // The client half-closes: the backend sees EOF but can still answer.
        client.shutdown().await.unwrap();
        let mut rest = Vec::new();
        backend.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        backend.write_all(b"bye").await.unwrap();
        backend.shutdown().await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"bye");

        let outcome = relay.await.unwrap();
        assert_eq!(outcome.by, Side::Client);
        assert_eq!(outcome.reason, CloseReason::Closed);
        assert_eq!(
            (outcome.bytes_from_client, outcome.bytes_from_backend),
            (5, 3)
        );
    }

    #[tokio::test]
    async fn a_vanished_backend_ends_the_session() {
        let (mut client, gw_client) = duplex(64);
        let (gw_backend, backend) = duplex(64);
        let relay = tokio::spawn(relay(gw_client, gw_backend));
        drop(backend);
        // The client is closed too: it reads end-of-stream.
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        let _ = client.write_all(b"late").await;
        drop(client);
        let outcome = relay.await.unwrap();
        assert_eq!(outcome.by, Side::Backend);
    }
}

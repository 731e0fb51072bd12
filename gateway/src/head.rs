//! Reading the first request head of a connection under a deadline.
//!
//! hyper closes a connection silently when its header read timeout fires,
//! but a client that sends its head too slowly should get `408 Request
//! Timeout`, and one whose head is too large `431`. So the gateway reads the
//! first head itself, answers those two cases, and hands the bytes it read
//! to hyper. Later heads on a keep-alive connection are hyper's, under the
//! same limits (an idle keep-alive connection is closed without a response,
//! as nginx and HAProxy do).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// What reading the first head produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Head {
    /// A complete head arrived; the bytes read so far (head and anything
    /// after it) are returned to be replayed.
    Complete(Vec<u8>),
    /// The head exceeded the limit: answer 431.
    TooLarge,
    /// The deadline passed first: answer 408.
    TimedOut,
    /// The peer closed or reset before sending a whole head: nothing to
    /// answer.
    Closed,
}

/// The byte offset just past the end of a request head (`\r\n\r\n`, or a
/// bare `\n\n`, which HTTP parsers tolerate), if `buf` holds one.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(2).enumerate().find_map(|(i, w)| match w {
        b"\n\n" => Some(i + 2),
        b"\n\r" if buf.get(i + 2) == Some(&b'\n') => Some(i + 3),
        _ => None,
    })
}

/// Reads until a complete head, at most `limit` bytes, within `timeout`.
pub async fn read_head<S: AsyncRead + Unpin>(stream: &mut S, limit: usize, timeout: Duration) -> Head {
    let mut buf = Vec::with_capacity(1024);
    let read = async {
        let mut chunk = [0u8; 2048];
        loop {
            let n = match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return Head::Closed,
                Ok(n) => n,
            };
            // Only the new bytes (and three before them) can complete a head.
            let scan_from = buf.len().saturating_sub(3);
            buf.extend_from_slice(&chunk[..n]);
            match head_end(&buf[scan_from..]) {
                Some(end) if scan_from + end <= limit => return Head::Complete(std::mem::take(&mut buf)),
                Some(_) => return Head::TooLarge,
                None if buf.len() > limit => return Head::TooLarge,
                None => {}
            }
        }
    };
    tokio::time::timeout(timeout, read).await.unwrap_or(Head::TimedOut)
}

/// A minimal response the gateway writes itself before hyper is involved.
pub fn bare_response(status: u16, reason: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status} {reason}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_the_end_of_a_head() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody"), Some(27));
        assert_eq!(head_end(b"GET / HTTP/1.1\nHost: a\n\n"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n"), None);
        // A CR after a line end that is not followed by LF ends nothing.
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\rX: b"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_heads_time_out() {
        let (mut client, mut server) = tokio::io::duplex(64);
        use tokio::io::AsyncWriteExt;
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        assert_eq!(
            read_head(&mut server, 1024, Duration::from_secs(10)).await,
            Head::TimedOut
        );
    }

    #[tokio::test]
    async fn large_heads_are_refused() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(4096));
        let mut reader = big.as_bytes();
        assert_eq!(
            read_head(&mut reader, 1024, Duration::from_secs(10)).await,
            Head::TooLarge
        );
    }

    #[tokio::test]
    async fn a_complete_head_one_byte_over_the_limit_is_refused_at_the_limit_accepted() {
        // Both arrive whole in one read, so only the complete-head check
        // decides: 431 one byte over, replayed at exactly the limit.
        let head = |len: usize| {
            let mut h = b"GET / HTTP/1.1\r\nX: ".to_vec();
            h.resize(len - 4, b'a');
            h.extend_from_slice(b"\r\n\r\n");
            h
        };
        let over = head(1025);
        assert_eq!(
            read_head(&mut over.as_slice(), 1024, Duration::from_secs(10)).await,
            Head::TooLarge
        );
        let at = head(1024);
        assert_eq!(
            read_head(&mut at.as_slice(), 1024, Duration::from_secs(10)).await,
            Head::Complete(at.clone())
        );
    }

    #[tokio::test]
    async fn a_peer_that_leaves_early_is_closed() {
        let mut reader: &[u8] = b"GET / HT";
        assert_eq!(
            read_head(&mut reader, 1024, Duration::from_secs(10)).await,
            Head::Closed
        );
    }

    proptest! {
        /// However the bytes are split across reads, a head within the
        /// limit is found and every byte is kept for replay.
        #[test]
        fn complete_heads_survive_any_split(extra in proptest::collection::vec(any::<u8>(), 0..64), split in 1usize..40) {
            let mut data = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n".to_vec();
            data.extend_from_slice(&extra);
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            let (mut tx, mut rx) = tokio::io::duplex(8);
            let chunks: Vec<Vec<u8>> = data.chunks(split).map(<[u8]>::to_vec).collect();
            let got = rt.block_on(async move {
                use tokio::io::AsyncWriteExt;
                // The writer drops its end when done, so the reader sees EOF.
                tokio::spawn(async move {
                    for c in chunks { if tx.write_all(&c).await.is_err() { break; } }
                });
                let head = read_head(&mut rx, 4096, Duration::from_secs(10)).await;
                if let Head::Complete(mut bytes) = head {
                    let mut rest = Vec::new();
                    rx.read_to_end(&mut rest).await.unwrap();
                    bytes.extend_from_slice(&rest);
                    Some(bytes)
                } else { None }
            });
            prop_assert_eq!(got, Some(data));
        }
    }
}

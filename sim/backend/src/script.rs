//! What a backend's WebSocket sessions do besides echoing: push messages
//! on a schedule, ping, and close with a code of their own. Data, fixed for
//! the backend's life.

use std::time::Duration;

/// Server-initiated messages: one binary message of `size` bytes every
/// `every`, its first 8 bytes a sequence number from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Push {
    pub every: Duration,
    pub size: usize,
}

/// A server-initiated close `after` the session opened, with `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Close {
    pub after: Duration,
    pub code: u16,
}

/// A session's script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionScript {
    pub push: Option<Push>,
    /// Send a Ping this often (the 000 Note's "server-defined ping/pong
    /// interval").
    pub ping_interval: Option<Duration>,
    pub close: Option<Close>,
}

/// A pushed message: `size` bytes (at least 8), the sequence number first.
pub fn push_payload(size: usize, seq: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; size.max(8)];
    bytes[..8].copy_from_slice(&seq.to_be_bytes());
    // The rest varies with the sequence, so a swapped or stale payload has
    // another digest.
    for (i, b) in bytes[8..].iter_mut().enumerate() {
        *b = (seq as u8).wrapping_add(i as u8);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushed_payloads_carry_their_sequence_and_differ() {
        let a = push_payload(16, 1);
        assert_eq!(&a[..8], &1u64.to_be_bytes());
        assert_ne!(a, push_payload(16, 2));
        assert_eq!(push_payload(2, 7).len(), 8, "at least the sequence number");
    }
}

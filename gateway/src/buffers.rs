//! The relay's read buffers: two sizes, lent per thread, only while bytes
//! are in flight.
//!
//! A session that is idle holds no buffer at all, so memory follows
//! traffic, not the number of open sessions. A direction starts each burst
//! with a small buffer, which suits chat-sized frames. When a read fills the
//! whole buffer, more is probably waiting, so the next read takes a large
//! buffer: one 64 KiB read and one write then move what would have taken
//! eight 8 KiB round trips through the kernel. When a large read comes back
//! mostly empty, the direction goes back to small buffers. The choice is
//! [`next_size`], a pure function; the pools are the I/O edge.

use std::cell::RefCell;

/// A buffer size class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// 8 KiB: tokio's `copy` buffer, and enough for most messages.
    Small,
    /// 64 KiB: sustained large transfers.
    Large,
}

impl Size {
    pub const fn bytes(self) -> usize {
        match self {
            Size::Small => 8 * 1024,
            Size::Large => 64 * 1024,
        }
    }

    /// Buffers of this size kept per thread for reuse; beyond this they are
    /// freed. 64 small and 8 large: 512 KiB each at most.
    const fn pooled(self) -> usize {
        match self {
            Size::Small => 64,
            Size::Large => 8,
        }
    }
}

/// The size of the next read, given the size of the last one and how many
/// bytes it returned. Pure.
///
/// - A read that filled its buffer suggests more is queued: go large.
/// - A large read that returned no more than a small buffer holds means the
///   burst is over: go small, so a trickle does not pin 64 KiB.
/// - Otherwise keep the size, so a transfer that alternates between full
///   and nearly full reads does not flap.
pub fn next_size(last: Size, filled: usize) -> Size {
    if filled >= last.bytes() {
        Size::Large
    } else if filled <= Size::Small.bytes() {
        Size::Small
    } else {
        last
    }
}

thread_local! {
    static SMALL: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
    static LARGE: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

fn with_pool<T>(size: Size, f: impl FnOnce(&mut Vec<Box<[u8]>>) -> T) -> T {
    let pool = match size {
        Size::Small => &SMALL,
        Size::Large => &LARGE,
    };
    pool.with(|p| f(&mut p.borrow_mut()))
}

/// A buffer of `size`, from the pool if one is free.
pub fn borrow(size: Size) -> Box<[u8]> {
    with_pool(size, Vec::pop).unwrap_or_else(|| vec![0u8; size.bytes()].into_boxed_slice())
}

/// Gives a buffer back; its length says which pool it belongs to.
pub fn give_back(buf: Box<[u8]>) {
    let size = if buf.len() == Size::Large.bytes() {
        Size::Large
    } else {
        Size::Small
    };
    with_pool(size, |pool| {
        if pool.len() < size.pooled() {
            pool.push(buf);
        }
    });
}

/// Buffers waiting in this thread's pools (small, large). For tests.
#[cfg(test)]
pub fn pooled() -> (usize, usize) {
    (with_pool(Size::Small, |p| p.len()), with_pool(Size::Large, |p| p.len()))
}

/// Empties this thread's pools. For tests.
#[cfg(test)]
pub fn clear() {
    with_pool(Size::Small, Vec::clear);
    with_pool(Size::Large, Vec::clear);
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: usize = Size::Small.bytes();
    const LARGE: usize = Size::Large.bytes();

    #[test]
    fn a_full_read_grows_the_next_one() {
        assert_eq!(next_size(Size::Small, SMALL), Size::Large);
        assert_eq!(next_size(Size::Large, LARGE), Size::Large);
    }

    #[test]
    fn a_short_read_keeps_small_buffers_small() {
        assert_eq!(next_size(Size::Small, 1), Size::Small);
        assert_eq!(next_size(Size::Small, SMALL - 1), Size::Small);
    }

    #[test]
    fn a_large_buffer_shrinks_only_when_a_small_one_would_have_done() {
        assert_eq!(next_size(Size::Large, SMALL), Size::Small);
        assert_eq!(next_size(Size::Large, SMALL + 1), Size::Large);
        assert_eq!(next_size(Size::Large, LARGE - 1), Size::Large);
        assert_eq!(next_size(Size::Large, 0), Size::Small);
    }

    #[test]
    fn buffers_go_back_to_their_own_pool_up_to_its_limit() {
        clear();
        let small: Vec<_> = (0..70).map(|_| borrow(Size::Small)).collect();
        let large: Vec<_> = (0..10).map(|_| borrow(Size::Large)).collect();
        assert!(small.iter().all(|b| b.len() == SMALL));
        assert!(large.iter().all(|b| b.len() == LARGE));
        small.into_iter().chain(large).for_each(give_back);
        assert_eq!(pooled(), (64, 8));
        assert_eq!(borrow(Size::Large).len(), LARGE);
        assert_eq!(pooled(), (64, 7));
        clear();
    }
}

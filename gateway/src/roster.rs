//! A roster of waiters that are all released at once, in the order they
//! joined.
//!
//! tokio's `watch` and `Notify::notify_waiters` wake waiters in an order
//! that depends on tokio's own randomness and on task ids, which are
//! process-wide; in the simulator that would make two runs with one seed
//! close connections in different orders. A roster releases its members one
//! by one in join order, so the tasks they belong to run, and close their
//! connections, in that order on every run.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

#[derive(Debug)]
struct Members<T> {
    next: u64,
    waiting: BTreeMap<u64, (Arc<Slot<T>>, u8)>,
}

impl<T> Default for Members<T> {
    fn default() -> Self {
        Members {
            next: 0,
            waiting: BTreeMap::new(),
        }
    }
}

/// Where a member's release lands: the value with its rank, and the task
/// waiting for it. One slot may be in several rosters (a session is in
/// every-session's and its group's), so a member costs one small
/// allocation however many rosters can release it.
#[derive(Debug)]
struct Slot<T> {
    state: Mutex<SlotState<T>>,
}

#[derive(Debug)]
struct SlotState<T> {
    value: Option<(u8, T)>,
    waiter: Option<Waker>,
}

impl<T> Slot<T> {
    fn new() -> Slot<T> {
        Slot {
            state: Mutex::new(SlotState {
                value: None,
                waiter: None,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SlotState<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Leaves `value` unless one of a higher rank is already waiting to
    /// be taken, and wakes the waiter.
    fn offer(&self, rank: u8, value: T) {
        let waiter = {
            let mut state = self.state();
            if state.value.as_ref().is_none_or(|(held, _)| *held < rank) {
                state.value = Some((rank, value));
            }
            state.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }
}

/// Waiters released together, in join order, each handed a copy of the
/// release's value (why they were released).
#[derive(Debug)]
pub struct Roster<T = ()> {
    members: Arc<Mutex<Members<T>>>,
}

impl<T> Clone for Roster<T> {
    fn clone(&self) -> Self {
        Roster {
            members: Arc::clone(&self.members),
        }
    }
}

impl<T> Default for Roster<T> {
    fn default() -> Self {
        Roster {
            members: Arc::new(Mutex::new(Members::default())),
        }
    }
}

/// Leaves the roster when dropped.
#[derive(Debug)]
pub struct Membership<T = ()> {
    members: Arc<Mutex<Members<T>>>,
    id: u64,
}

impl<T> Drop for Membership<T> {
    fn drop(&mut self) {
        lock(&self.members).waiting.remove(&self.id);
    }
}

fn lock<T>(m: &Mutex<Members<T>>) -> std::sync::MutexGuard<'_, Members<T>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<T: Clone + Send + 'static> Roster<T> {
    pub fn new() -> Roster<T> {
        Roster::default()
    }

    /// Joins the roster. The future completes, with the release's value,
    /// when the roster is released; dropping the membership leaves it.
    pub fn join(&self) -> (Membership<T>, Released<T>) {
        let released = Released::new();
        (self.join_ranked(&released, 0), released)
    }

    /// Joins the roster with a wait that another roster may release too.
    /// When both release it before it is polled, the higher `rank` wins.
    pub fn join_ranked(&self, released: &Released<T>, rank: u8) -> Membership<T> {
        let mut m = lock(&self.members);
        let id = m.next;
        m.next += 1;
        m.waiting.insert(id, (Arc::clone(&released.slot), rank));
        Membership {
            members: Arc::clone(&self.members),
            id,
        }
    }

    /// Releases every current member, oldest first, with `value`; returns
    /// how many.
    pub fn release_all_with(&self, value: T) -> usize {
        let waiting = std::mem::take(&mut lock(&self.members).waiting);
        let count = waiting.len();
        for (_, (slot, rank)) in waiting {
            slot.offer(rank, value.clone());
        }
        count
    }

    /// Members waiting now.
    pub fn len(&self) -> usize {
        lock(&self.members).waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A member's wait for the release: a plain struct rather than an `async`
/// block, so every open session pays for one pointer, not for an async
/// state machine. Nothing releases a member of a roster that is gone: it
/// waits forever, as a session outlives nothing that could drop it.
#[derive(Debug)]
pub struct Released<T> {
    slot: Arc<Slot<T>>,
}

impl<T> Released<T> {
    /// A wait that no roster releases yet: join it to some with
    /// [`Roster::join_ranked`].
    pub fn new() -> Released<T> {
        Released {
            slot: Arc::new(Slot::new()),
        }
    }
}

impl<T> Default for Released<T> {
    fn default() -> Self {
        Released::new()
    }
}

impl<T> Future for Released<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut state = self.slot.state();
        match state.value.take() {
            Some((_, value)) => Poll::Ready(value),
            None => {
                if !state.waiter.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    state.waiter = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl Roster<()> {
    /// Releases every current member, oldest first; returns how many.
    pub fn release_all(&self) -> usize {
        self.release_all_with(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn members_are_released_in_join_order() {
        let roster: Roster = Roster::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        let mut memberships = Vec::new();
        for i in 0..5 {
            let (m, released) = roster.join();
            memberships.push(m);
            let order = Arc::clone(&order);
            tasks.push(tokio::spawn(async move {
                released.await;
                order.lock().unwrap().push(i);
            }));
        }
        // One leaves before the release.
        memberships.remove(2);
        assert_eq!(roster.len(), 4);
        assert_eq!(roster.release_all(), 4);
        for (i, t) in tasks.into_iter().enumerate() {
            if i != 2 {
                t.await.unwrap();
            }
        }
        assert_eq!(*order.lock().unwrap(), [0, 1, 3, 4]);
        assert!(roster.is_empty());
    }

    #[tokio::test]
    async fn a_member_of_a_dropped_roster_waits_forever() {
        let roster: Roster<u8> = Roster::new();
        let (_membership, released) = roster.join();
        drop(roster);
        // The membership keeps the members alive; release them by hand
        // from a clone instead to show the value arrives.
        let roster: Roster<u8> = Roster::new();
        let (_m, second) = roster.join();
        roster.release_all_with(7);
        assert_eq!(second.await, 7);
        let waited = tokio::time::timeout(std::time::Duration::from_millis(5), released).await;
        assert!(waited.is_err(), "nothing releases it");
    }

    #[tokio::test]
    async fn a_wait_in_two_rosters_takes_the_higher_rank_on_a_tie() {
        let (low, high): (Roster<&str>, Roster<&str>) = (Roster::new(), Roster::new());
        let (_m, released) = low.join();
        let _high = high.join_ranked(&released, 1);
        // Released by the higher rank first, then the lower: the higher
        // stays. Then the other way round.
        high.release_all_with("high");
        low.release_all_with("low");
        assert_eq!(released.await, "high");

        let (low, high): (Roster<&str>, Roster<&str>) = (Roster::new(), Roster::new());
        let (_m, released) = low.join();
        let _high = high.join_ranked(&released, 1);
        low.release_all_with("low");
        high.release_all_with("high");
        assert_eq!(released.await, "high");
    }

    #[tokio::test]
    async fn a_release_wakes_a_waiting_member() {
        let roster: Roster<u8> = Roster::new();
        let (_m, released) = roster.join();
        let waiting = tokio::spawn(released);
        tokio::task::yield_now().await;
        assert_eq!(roster.release_all_with(3), 1);
        assert_eq!(waiting.await.unwrap(), 3);
    }

    #[test]
    fn a_wait_is_one_pointer() {
        assert_eq!(std::mem::size_of::<Released<u64>>(), std::mem::size_of::<usize>());
    }
}

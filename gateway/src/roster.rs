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
use std::task::{Context, Poll};

use tokio::sync::oneshot;

#[derive(Debug)]
struct Members<T> {
    next: u64,
    waiting: BTreeMap<u64, oneshot::Sender<T>>,
}

impl<T> Default for Members<T> {
    fn default() -> Self {
        Members {
            next: 0,
            waiting: BTreeMap::new(),
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
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut m = lock(&self.members);
            let id = m.next;
            m.next += 1;
            m.waiting.insert(id, tx);
            id
        };
        (
            Membership {
                members: Arc::clone(&self.members),
                id,
            },
            Released { rx },
        )
    }

    /// Releases every current member, oldest first, with `value`; returns
    /// how many.
    pub fn release_all_with(&self, value: T) -> usize {
        let waiting = std::mem::take(&mut lock(&self.members).waiting);
        let count = waiting.len();
        for (_, tx) in waiting {
            let _ = tx.send(value.clone());
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
/// block, so every open session (which holds two) pays for one pointer,
/// not for an async state machine.
#[derive(Debug)]
pub struct Released<T> {
    rx: oneshot::Receiver<T>,
}

impl<T> Future for Released<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Ready(Ok(value)) => Poll::Ready(value),
            // The roster is gone; nothing will release this member.
            Poll::Ready(Err(_)) | Poll::Pending => Poll::Pending,
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

    #[test]
    fn a_wait_is_one_pointer() {
        assert_eq!(std::mem::size_of::<Released<u64>>(), std::mem::size_of::<usize>());
    }
}

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
use std::sync::{Arc, Mutex};

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
    pub fn join(&self) -> (Membership<T>, impl Future<Output = T> + Send + 'static) {
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut m = lock(&self.members);
            let id = m.next;
            m.next += 1;
            m.waiting.insert(id, tx);
            id
        };
        let released = async move {
            match rx.await {
                Ok(value) => value,
                // The roster is gone; nothing will release this member.
                Err(_) => std::future::pending::<T>().await,
            }
        };
        (
            Membership {
                members: Arc::clone(&self.members),
                id,
            },
            released,
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
}

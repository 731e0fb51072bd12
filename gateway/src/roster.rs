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

#[derive(Debug, Default)]
struct Members {
    next: u64,
    waiting: BTreeMap<u64, oneshot::Sender<()>>,
}

/// Waiters released together, in join order.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    members: Arc<Mutex<Members>>,
}

/// Leaves the roster when dropped.
#[derive(Debug)]
pub struct Membership {
    members: Arc<Mutex<Members>>,
    id: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        lock(&self.members).waiting.remove(&self.id);
    }
}

fn lock(m: &Mutex<Members>) -> std::sync::MutexGuard<'_, Members> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Roster {
    pub fn new() -> Roster {
        Roster::default()
    }

    /// Joins the roster. The future completes when the roster is released;
    /// dropping the membership leaves it.
    pub fn join(&self) -> (Membership, impl Future<Output = ()> + Send + 'static) {
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut m = lock(&self.members);
            let id = m.next;
            m.next += 1;
            m.waiting.insert(id, tx);
            id
        };
        let released = async move {
            if rx.await.is_err() {
                // The roster is gone; nothing will release this member.
                std::future::pending::<()>().await;
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

    /// Releases every current member, oldest first; returns how many.
    pub fn release_all(&self) -> usize {
        let waiting = std::mem::take(&mut lock(&self.members).waiting);
        let count = waiting.len();
        for (_, tx) in waiting {
            let _ = tx.send(());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn members_are_released_in_join_order() {
        let roster = Roster::new();
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

//! The frontend in front of several gateway instances: which instances
//! take new connections. Application Gateway updates its instances one
//! update domain at a time and sends new connections to the instances in
//! other domains meanwhile; a client group with `gateway = "any"` connects
//! through this rotation, so its reconnects land on an instance that is up.

use std::collections::BTreeSet;
use std::sync::Mutex;

/// Instance hosts, and those out of rotation now.
#[derive(Debug, Default)]
pub struct Rotation {
    out: Mutex<BTreeSet<String>>,
}

impl Rotation {
    pub fn new() -> Rotation {
        Rotation::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes `host` out: new connections go elsewhere.
    pub fn take_out(&self, host: &str) {
        self.lock().insert(host.to_string());
    }

    /// Puts `host` back.
    pub fn put_back(&self, host: &str) {
        self.lock().remove(host);
    }

    /// The first of `hosts` in rotation, starting at `preferred` and
    /// wrapping around; `preferred` itself when every host is out (a
    /// connection must go somewhere). Pure given the set.
    pub fn pick(&self, hosts: &[&str], preferred: usize) -> usize {
        let out = self.lock();
        pick(hosts, preferred, &out)
    }
}

fn pick(hosts: &[&str], preferred: usize, out: &BTreeSet<String>) -> usize {
    let n = hosts.len().max(1);
    (0..n)
        .map(|step| (preferred + step) % n)
        .find(|&i| hosts.get(i).is_some_and(|h| !out.contains(*h)))
        .unwrap_or(preferred % n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_preferred_instance_unless_it_is_out() {
        let r = Rotation::new();
        let hosts = ["gateway-1", "gateway-2", "gateway-3"];
        assert_eq!(r.pick(&hosts, 1), 1);
        r.take_out("gateway-2");
        assert_eq!(r.pick(&hosts, 1), 2);
        r.take_out("gateway-3");
        assert_eq!(r.pick(&hosts, 1), 0, "wraps around");
        r.take_out("gateway-1");
        assert_eq!(r.pick(&hosts, 1), 1, "all out: the preferred one");
        r.put_back("gateway-2");
        assert_eq!(r.pick(&hosts, 0), 1);
    }
}

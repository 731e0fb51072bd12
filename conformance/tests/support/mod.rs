//! What the tests that run the `wsgate` binary share: starting it, reading
//! the addresses it prints, and killing it when the test ends.

#![allow(dead_code)] // each test file uses its own part
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const WSGATE: &str = env!("CARGO_BIN_EXE_wsgate");

/// A child process killed on drop.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `wsgate args…` and returns it with the first address printed on a
/// stdout line containing "listening on".
pub fn start(args: &[&str]) -> (Running, SocketAddr) {
    let (running, addrs) = start_with(args, &["listening on "]);
    (running, addrs[0])
}

/// Starts `wsgate args…` and returns the address printed after each marker,
/// in the order of `markers`.
pub fn start_with(args: &[&str], markers: &[&'static str]) -> (Running, Vec<SocketAddr>) {
    let mut child = Command::new(WSGATE)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("wsgate starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let wanted: Vec<&'static str> = markers.to_vec();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            for (i, marker) in wanted.iter().enumerate() {
                if let Some(rest) = line.split(marker).nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default().to_string();
                    let _ = tx.send((i, addr));
                }
            }
        }
    });
    let mut addrs = vec![None; markers.len()];
    while addrs.iter().any(Option::is_none) {
        let (i, addr) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("wsgate printed its addresses");
        addrs[i].get_or_insert(addr.parse::<SocketAddr>().expect("a socket address"));
    }
    (Running(child), addrs.into_iter().flatten().collect())
}

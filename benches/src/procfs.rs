//! What `/proc` says about processes: resident memory of a process and its
//! descendants (nginx's workers are children of its master), and this
//! process's open-files limit. Linux only, like the peers bench.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::time::Duration;

/// `VmRSS` of one process, in KiB.
pub fn rss_kib(pid: u32) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vm_rss(&status).ok_or_else(|| io::Error::other(format!("no VmRSS for pid {pid}")))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// The parent pid from a `/proc/PID/stat` line. The command name sits in
/// parentheses and may itself contain spaces or parentheses, so the fields
/// are read after the last `)`.
fn parse_ppid(stat: &str) -> Option<u32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// `pid` and every process descending from it, ordered by pid.
pub fn process_tree(pid: u32) -> io::Result<Vec<u32>> {
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for entry in fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        // Processes come and go while we scan; a vanished one is skipped.
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some(parent) = parse_ppid(&stat) {
            children.entry(parent).or_default().push(child);
        }
    }
    let mut tree = vec![pid];
    let mut next = 0;
    while next < tree.len() {
        if let Some(kids) = children.get(&tree[next]) {
            tree.extend(kids);
        }
        next += 1;
    }
    tree.sort_unstable();
    Ok(tree)
}

/// Summed `VmRSS` of `pid` and its descendants, in KiB.
pub fn tree_rss_kib(pid: u32) -> io::Result<u64> {
    let mut total = 0;
    for p in process_tree(pid)? {
        // A worker that exits mid-scan no longer holds memory.
        total += rss_kib(p).unwrap_or(0);
    }
    Ok(total)
}

/// CPU time (user + system, all threads) of one process. `/proc` counts it
/// in USER_HZ ticks, which Linux fixes at 100 per second for userspace.
pub fn cpu_time(pid: u32) -> io::Result<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu_ticks(&stat)
        .map(|ticks| Duration::from_millis(ticks * 10))
        .ok_or_else(|| io::Error::other(format!("no utime/stime for pid {pid}")))
}

/// utime + stime: fields 14 and 15 of `stat`, 12th and 13th after the `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Summed CPU time of `pid` and its descendants.
pub fn tree_cpu_time(pid: u32) -> io::Result<Duration> {
    let mut total = Duration::ZERO;
    for p in process_tree(pid)? {
        total += cpu_time(p).unwrap_or_default();
    }
    Ok(total)
}

/// This process's soft limit on open files (`ulimit -n`), if readable.
pub fn open_files_limit() -> Option<u64> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_rss_and_parent_fields() {
        assert_eq!(parse_vm_rss("Name:\tx\nVmRSS:\t   1234 kB\nVmSwap: 0 kB\n"), Some(1234));
        assert_eq!(parse_ppid("42 (nginx: worker (x)) S 41 42 42 0"), Some(41));
        let stat = "7 (a b) S 1 7 7 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 1 0";
        assert_eq!(parse_cpu_ticks(stat), Some(280));
    }

    #[test]
    fn this_process_is_readable() {
        let me = std::process::id();
        assert!(rss_kib(me).unwrap() > 0);
        assert!(process_tree(me).unwrap().contains(&me));
        assert!(open_files_limit().unwrap() > 0);
        assert!(tree_cpu_time(me).is_ok());
    }
}

//! Resident memory of a process tree, from `/proc` (Linux only).
//!
//! A server may fork workers (or run under a wrapper such as `prosodyctl`),
//! so the RSS of the given PID and all its descendants is summed.

use std::collections::HashMap;
use std::fs;

/// RSS in KiB of `pid` plus all its descendants; `Err` if `pid` itself
/// cannot be read (no such process, not Linux).
pub fn tree_rss_kib(pid: u32) -> Result<u64, String> {
    let own = process_rss_kib(pid).ok_or_else(|| format!("cannot read /proc/{pid}/status"))?;
    let children = children_map();
    let mut total = own;
    let mut stack = children.get(&pid).cloned().unwrap_or_default();
    // A process can only have one parent, so the walk cannot loop; the
    // bound is a guard against a /proc changing under our feet.
    let mut visited = 0;
    while let Some(child) = stack.pop() {
        visited += 1;
        if visited > 1_000_000 {
            break;
        }
        // A child may exit between listing and reading: skip it.
        total += process_rss_kib(child).unwrap_or(0);
        if let Some(grandchildren) = children.get(&child) {
            stack.extend(grandchildren);
        }
    }
    Ok(total)
}

/// `VmRSS` of one process in KiB.
fn process_rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Parent PID → child PIDs, from `/proc/*/stat`.
fn children_map() -> HashMap<u32, Vec<u32>> {
    let mut map: HashMap<u32, Vec<u32>> = HashMap::new();
    let Ok(entries) = fs::read_dir("/proc") else { return map };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else { continue };
        if let Some(ppid) = parse_ppid(&stat) {
            map.entry(ppid).or_default().push(pid);
        }
    }
    map
}

/// The 4th field of `/proc/PID/stat`. The 2nd, `(comm)`, may contain spaces
/// and parentheses, so fields are counted after its last `)`.
fn parse_ppid(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        assert_eq!(parse_ppid("123 (a (b) c) S 45 123 123 0"), Some(45));
        assert_eq!(parse_vm_rss("Name:\tx\nVmRSS:\t  1234 kB\n"), Some(1234));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn own_process() {
        assert!(tree_rss_kib(std::process::id()).unwrap() > 0);
    }
}

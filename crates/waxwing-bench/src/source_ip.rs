//! `--source-ips`: local addresses to bind outgoing sockets to.
//!
//! Each (source IP, destination) pair has one ephemeral port range (about
//! 28k ports on Linux by default), so beyond ~25k connections to one server
//! a single source address runs dry. Loopback has all of 127.0.0.0/8, so
//! `127.0.0.1-127.0.0.250` gives 250 times the ports locally.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Addresses handed out round-robin.
#[derive(Debug)]
pub struct SourceIps {
    ips: Vec<IpAddr>,
    next: AtomicUsize,
}

/// More addresses than this in one range is surely a typo.
const MAX_ADDRESSES: u128 = 1 << 20;

impl SourceIps {
    /// Parses `a.b.c.d-a.b.c.e`, `ip1,ip2`, or a comma list mixing both
    /// (IPv4 or IPv6; a range's ends must be of the same family).
    pub fn parse(spec: &str) -> Result<SourceIps, String> {
        let mut ips = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('-') {
                None => ips.push(parse_ip(part)?),
                Some((first, last)) => expand_range(parse_ip(first.trim())?, parse_ip(last.trim())?, &mut ips)?,
            }
        }
        if ips.is_empty() {
            return Err(format!("--source-ips {spec:?}: no addresses"));
        }
        Ok(SourceIps { ips, next: AtomicUsize::new(0) })
    }

    /// The next address, round-robin.
    pub fn next(&self) -> IpAddr {
        self.ips[self.next.fetch_add(1, Ordering::Relaxed) % self.ips.len()]
    }

    pub fn len(&self) -> usize {
        self.ips.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ips.is_empty()
    }
}

fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| format!("--source-ips: {s:?} is not an IP address"))
}

fn expand_range(first: IpAddr, last: IpAddr, out: &mut Vec<IpAddr>) -> Result<(), String> {
    let (a, b) = match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b))),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b)),
        _ => return Err(format!("--source-ips: {first}-{last} mixes IPv4 and IPv6")),
    };
    if a > b {
        return Err(format!("--source-ips: range {first}-{last} is backwards"));
    }
    if b - a >= MAX_ADDRESSES {
        return Err(format!("--source-ips: range {first}-{last} is too large"));
    }
    for n in a..=b {
        out.push(match first {
            IpAddr::V4(_) => IpAddr::V4((n as u32).into()),
            IpAddr::V6(_) => IpAddr::V6(n.into()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_lists() {
        let ips = SourceIps::parse("127.0.0.1-127.0.0.3, 10.0.0.1").unwrap();
        assert_eq!(ips.len(), 4);
        let picked: Vec<String> = (0..5).map(|_| ips.next().to_string()).collect();
        assert_eq!(picked, ["127.0.0.1", "127.0.0.2", "127.0.0.3", "10.0.0.1", "127.0.0.1"]);
        assert_eq!(SourceIps::parse("::1-::2").unwrap().len(), 2);
    }

    #[test]
    fn bad_input() {
        assert!(SourceIps::parse("").is_err());
        assert!(SourceIps::parse("127.0.0.5-127.0.0.1").is_err());
        assert!(SourceIps::parse("127.0.0.1-::1").is_err());
        assert!(SourceIps::parse("nope").is_err());
        assert!(SourceIps::parse("0.0.0.0-255.255.255.255").is_err());
    }
}

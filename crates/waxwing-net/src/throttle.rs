//! Throttling of failed authentication, per source address and per account.
//!
//! RFC 6120 §6.4.5 lets a server limit retries; we go further and refuse
//! attempts (with `temporary-auth-failure`) from an address or for an account
//! that failed too often recently, so that password guessing is slow whether
//! it comes from one address against many accounts or from many addresses
//! against one account.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// Failures allowed per key within `window` before attempts are refused.
    pub max_failures: u32,
    pub window: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig { max_failures: 5, window: Duration::from_secs(60) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Address(IpAddr),
    Account(String),
}

/// Bounded so a flood of distinct addresses cannot grow it without limit.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Default)]
pub struct AuthThrottle {
    config: ThrottleConfig,
    failures: Mutex<HashMap<Key, (u32, Instant)>>,
}

impl AuthThrottle {
    pub fn new(config: ThrottleConfig) -> AuthThrottle {
        AuthThrottle { config, failures: Mutex::new(HashMap::new()) }
    }

    /// Whether an attempt from `addr` for `account` may proceed now.
    pub fn allows(&self, addr: IpAddr, account: Option<&str>) -> bool {
        let now = Instant::now();
        let failures = self.failures.lock().expect("throttle lock poisoned");
        let over = |key: &Key| {
            failures.get(key).is_some_and(|(n, since)| {
                *n >= self.config.max_failures && now.duration_since(*since) < self.config.window
            })
        };
        !over(&Key::Address(addr)) && !account.is_some_and(|a| over(&Key::Account(a.to_string())))
    }

    pub fn record_failure(&self, addr: IpAddr, account: Option<&str>) {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("throttle lock poisoned");
        if failures.len() >= MAX_ENTRIES {
            let window = self.config.window;
            failures.retain(|_, (_, since)| now.duration_since(*since) < window);
        }
        let mut bump = |key: Key| {
            let entry = failures.entry(key).or_insert((0, now));
            if now.duration_since(entry.1) >= self.config.window {
                *entry = (0, now);
            }
            entry.0 += 1;
        };
        bump(Key::Address(addr));
        if let Some(account) = account {
            bump(Key::Account(account.to_string()));
        }
    }

    /// A success clears the address's record (not the account's: a success from
    /// one place must not reset an attack on the account from elsewhere).
    pub fn record_success(&self, addr: IpAddr) {
        self.failures.lock().expect("throttle lock poisoned").remove(&Key::Address(addr));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_max_failures_per_address_and_account() {
        let t = AuthThrottle::new(ThrottleConfig { max_failures: 2, window: Duration::from_secs(60) });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(t.allows(a, Some("juliet@x")));
        t.record_failure(a, Some("juliet@x"));
        t.record_failure(a, Some("juliet@x"));
        assert!(!t.allows(a, None));
        // Another address is refused for the same account…
        assert!(!t.allows(b, Some("juliet@x")));
        // …but may try another account.
        assert!(t.allows(b, Some("romeo@x")));
    }

    #[test]
    fn window_expiry_forgives() {
        let t = AuthThrottle::new(ThrottleConfig { max_failures: 1, window: Duration::from_millis(1) });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        t.record_failure(a, None);
        std::thread::sleep(Duration::from_millis(5));
        assert!(t.allows(a, None));
    }
}

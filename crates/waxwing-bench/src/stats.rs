//! Latency recording: a log-linear histogram of microseconds.
//!
//! A sorted vector of samples would be exact but grows with the run (a long
//! `messages` run records tens of millions of samples); this histogram is a
//! fixed ~30 KiB per recorder with a relative error below 1.6%, and merging
//! the per-task recorders is a cheap addition.

use std::time::Duration;

use serde::Serialize;

/// Values below this are recorded exactly (one bucket per microsecond).
const LINEAR: u64 = 128;
/// Sub-buckets per power of two above [`LINEAR`].
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;

/// A histogram of durations in microseconds.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum_us: u128,
    max_us: u64,
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram::default()
    }

    pub fn record(&mut self, d: Duration) {
        self.record_us(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn record_us(&mut self, us: u64) {
        let i = index(us);
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.count += 1;
        self.sum_us += u128::from(us);
        self.max_us = self.max_us.max(us);
    }

    pub fn merge(&mut self, other: &Histogram) {
        if other.counts.len() > self.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum_us += other.sum_us;
        self.max_us = self.max_us.max(other.max_us);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The value at percentile `p` (0–100), in microseconds: the midpoint
    /// of the bucket holding the sample of that rank, capped at the maximum
    /// seen. 0 when empty.
    pub fn percentile_us(&self, p: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * self.count as f64).ceil().clamp(1.0, self.count as f64) as u64;
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let (low, high) = bounds(i);
                return (low + (high - low) / 2).min(self.max_us);
            }
        }
        self.max_us
    }

    /// p50/p95/p99/max/mean in milliseconds, for the report.
    pub fn summary_ms(&self) -> LatencyMs {
        let ms = |us: u64| round3(us as f64 / 1000.0);
        LatencyMs {
            p50: ms(self.percentile_us(50.0)),
            p95: ms(self.percentile_us(95.0)),
            p99: ms(self.percentile_us(99.0)),
            max: ms(self.max_us),
            mean: if self.count == 0 { 0.0 } else { round3(self.sum_us as f64 / self.count as f64 / 1000.0) },
        }
    }
}

/// Latency percentiles in milliseconds, as reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencyMs {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// Rounds to three decimals: microsecond resolution for milliseconds, and
/// readable rates.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn index(us: u64) -> usize {
    if us < LINEAR {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros(); // ≥ 7
    let shift = exp - SUB_BITS;
    let top = us >> shift; // in [SUB, 2·SUB)
    (LINEAR + u64::from(exp - 7) * SUB + (top - SUB)) as usize
}

/// Inclusive value range of bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < LINEAR {
        return (i, i);
    }
    let exp = (i - LINEAR) / SUB + 7;
    let top = (i - LINEAR) % SUB + SUB;
    let shift = exp - u64::from(SUB_BITS);
    let low = top << shift;
    (low, low + ((1u64 << shift) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values() {
        for v in [0, 1, 127, 128, 129, 1000, 65_535, 1 << 40, u64::MAX] {
            let (low, high) = bounds(index(v));
            assert!(low <= v && v <= high, "{v} not in [{low}, {high}]");
            assert!(high - low <= v / 64, "bucket of {v} too wide");
        }
    }

    #[test]
    fn percentiles() {
        let mut h = Histogram::new();
        for us in 1..=1000 {
            h.record_us(us);
        }
        let p50 = h.percentile_us(50.0);
        assert!((490..=510).contains(&p50), "{p50}");
        let p99 = h.percentile_us(99.0);
        assert!((975..=1000).contains(&p99), "{p99}");
        assert_eq!(h.percentile_us(100.0), 1000);
        let mut other = Histogram::new();
        other.record_us(5000);
        h.merge(&other);
        assert_eq!(h.count(), 1001);
        assert_eq!(h.summary_ms().max, 5.0);
    }

    #[test]
    fn empty() {
        assert_eq!(Histogram::new().summary_ms(), LatencyMs::default());
    }
}

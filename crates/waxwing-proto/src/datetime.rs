//! XEP-0082 date-time strings (`2026-11-25T17:26:36Z`), as used by delayed
//! delivery (XEP-0203), entity time (XEP-0202) and the archive.
//!
//! Always UTC; formatting by hand keeps a date library out of the build for
//! the one conversion the server needs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Formats seconds since the Unix epoch as an XEP-0082 DateTime in UTC.
pub fn format_unix(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The current time as an XEP-0082 DateTime, with millisecond precision.
pub fn now() -> String {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let whole = format_unix(since.as_secs() as i64);
    format!("{}.{:03}Z", &whole[..whole.len() - 1], since.subsec_millis())
}

/// Seconds since the epoch now.
pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(format_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_unix(1_795_627_596), "2026-11-25T17:26:36Z");
        assert_eq!(format_unix(-1), "1969-12-31T23:59:59Z");
        assert_eq!(format_unix(4_107_542_399), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn now_has_milliseconds() {
        let now = now();
        assert_eq!(now.len(), "2026-11-25T17:26:36.123Z".len(), "{now}");
        assert!(now.ends_with('Z'));
    }
}

//! RFC 3339 timestamps in UTC without a date crate: the exporters' log lines (milliseconds), the
//! agent's fire-drill alert (`startsAt`/`endsAt`, seconds) and the test kit's Docker records
//! (nanoseconds, as Docker writes them) all format through [`rfc3339`].

use std::time::{SystemTime, UNIX_EPOCH};

/// `t` as `YYYY-MM-DDTHH:MM:SS[.fraction]Z` with `digits` fraction digits (0 = none, at most
/// 9: more are cut to 9). Times before the epoch print as the epoch.
pub fn rfc3339(t: SystemTime, digits: u32) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since the epoch (Howard Hinnant's civil_from_days).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let digits = digits.min(9);
    if digits == 0 {
        return format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z");
    }
    let fraction = d.subsec_nanos() / 10u32.pow(9 - digits);
    let width = digits as usize;
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{fraction:0width$}Z")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn fraction_digits_cut_not_round() {
        let t = UNIX_EPOCH + Duration::new(1_796_119_200, 123_456_789);
        assert_eq!(rfc3339(t, 0), "2026-12-01T10:00:00Z");
        assert_eq!(rfc3339(t, 3), "2026-12-01T10:00:00.123Z");
        assert_eq!(rfc3339(t, 9), "2026-12-01T10:00:00.123456789Z");
        assert_eq!(rfc3339(t, 12), "2026-12-01T10:00:00.123456789Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(5), 0),
            "1970-01-01T00:00:00Z"
        );
    }
}

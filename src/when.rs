//! Moments and spans as an operator types them: `-15m`, `03:12`,
//! `03:12:05`, `2026-11-30T03:12:00Z`, `now` (`:at`, `snapshot --at`);
//! `1h`, `90s`, `2d` (`--since`).

use chrono::{DateTime, Duration, FixedOffset, NaiveTime, TimeZone, Utc};

/// A span: a number and a unit (s, m, h, d), or several (`1h30m`).
pub fn span(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?}: give a span such as 90s, 15m, 1h30m or 2d");
    let mut total = Duration::zero();
    let mut digits = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total += match c {
            's' => Duration::seconds(n),
            'm' => Duration::minutes(n),
            'h' => Duration::hours(n),
            'd' => Duration::days(n),
            _ => return Err(bad()),
        };
    }
    if !digits.is_empty() || total <= Duration::zero() {
        return Err(bad());
    }
    Ok(total)
}

/// A moment: `now`, `-SPAN` (before now), `HH:MM[:SS]` in local time
/// (the latest such moment not after now), or RFC 3339.
pub fn moment(s: &str, now: DateTime<Utc>, local: FixedOffset) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if s == "now" {
        return Ok(now);
    }
    if let Some(ago) = s.strip_prefix('-') {
        return span(ago).map(|d| now - d);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let time = NaiveTime::parse_from_str(s, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
        .map_err(|_| format!("{s:?}: give -15m, 03:12, 03:12:05, an RFC 3339 time, or now"))?;
    let today = now.with_timezone(&local).date_naive();
    let at = |day: chrono::NaiveDate| {
        local
            .from_local_datetime(&day.and_time(time))
            .single()
            .map(|t| t.with_timezone(&Utc))
    };
    match at(today) {
        Some(t) if t <= now => Ok(t),
        _ => at(today - Duration::days(1)).ok_or_else(|| format!("{s:?}: no such local time")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_moments_as_typed() {
        assert_eq!(span("15m"), Ok(Duration::minutes(15)));
        assert_eq!(span("1h30m"), Ok(Duration::minutes(90)));
        assert_eq!(span("2d"), Ok(Duration::days(2)));
        assert!(span("15").is_err() && span("m").is_err() && span("0s").is_err());
        assert!(span("1w").is_err());
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 3, 20, 0).unwrap();
        let utc = FixedOffset::east_opt(0).unwrap();
        assert_eq!(moment("now", now, utc), Ok(now));
        assert_eq!(moment("-15m", now, utc), Ok(now - Duration::minutes(15)));
        assert_eq!(
            moment("03:12", now, utc),
            Ok(Utc.with_ymd_and_hms(2026, 11, 30, 3, 12, 0).unwrap())
        );
        // Later than now today: yesterday's.
        assert_eq!(
            moment("03:25:05", now, utc),
            Ok(Utc.with_ymd_and_hms(2026, 11, 29, 3, 25, 5).unwrap())
        );
        // Local time: 04:12 at UTC+1 is 03:12 UTC.
        let cet = FixedOffset::east_opt(3600).unwrap();
        assert_eq!(
            moment("04:12", now, cet),
            Ok(Utc.with_ymd_and_hms(2026, 11, 30, 3, 12, 0).unwrap())
        );
        assert_eq!(
            moment("2026-11-30T01:00:00Z", now, utc),
            Ok(Utc.with_ymd_and_hms(2026, 11, 30, 1, 0, 0).unwrap())
        );
        assert!(moment("yesterday", now, utc).is_err());
    }
}

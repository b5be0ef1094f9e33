//! Report time: the center's UTC offset, interval lengths and buckets in
//! local time, and the window bounds a person types (`2026-11-25`,
//! `today`, RFC 3339). Pure functions; "now" is an argument.

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

const DAY_MS: i64 = 86_400_000;

/// A fixed offset from UTC (China: `+08:00`, no daylight saving time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tz {
    /// Seconds east of UTC.
    secs: i32,
}

impl Tz {
    /// UTC+8, the default.
    pub const CHINA: Tz = Tz { secs: 8 * 3600 };

    /// Parses `+08:00`, `-05:30`, `+0800`, `Z` or `UTC`.
    pub fn parse(s: &str) -> Result<Tz, String> {
        let bad = || format!("{s:?} is not a UTC offset like \"+08:00\"");
        let t = s.trim();
        if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
            return Ok(Tz { secs: 0 });
        }
        let (sign, rest) = match t.as_bytes().first() {
            Some(b'+') => (1, &t[1..]),
            Some(b'-') => (-1, &t[1..]),
            _ => return Err(bad()),
        };
        let (h, m) = match rest.split_once(':') {
            Some((h, m)) => (h, m),
            None if rest.len() == 4 => rest.split_at(2),
            None => return Err(bad()),
        };
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: i32 = h.parse().map_err(|_| bad())?;
        let m: i32 = m.parse().map_err(|_| bad())?;
        if h > 14 || m > 59 || (h == 14 && m > 0) {
            return Err(format!("{s:?} is out of range (-14:00 to +14:00)"));
        }
        Ok(Tz {
            secs: sign * (h * 3600 + m * 60),
        })
    }

    /// Milliseconds to add to a Unix time to get local wall-clock time.
    pub fn offset_ms(self) -> i64 {
        i64::from(self.secs) * 1000
    }

    fn offset(self) -> UtcOffset {
        UtcOffset::from_whole_seconds(self.secs).unwrap_or(UtcOffset::UTC)
    }

    /// `ms` as local RFC 3339 time, e.g. `2026-11-25T00:00:00+08:00`.
    pub fn format(self, ms: i64) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .map(|t| t.to_offset(self.offset()))
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| ms.to_string())
    }

    /// The Unix time of local midnight starting the day that holds `ms`.
    pub fn day_start(self, ms: i64) -> i64 {
        Interval::Day.bucket_start(ms, self)
    }
}

impl std::fmt::Display for Tz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.secs < 0 { '-' } else { '+' };
        let a = self.secs.abs();
        write!(f, "{sign}{:02}:{:02}", a / 3600, a % 3600 / 60)
    }
}

/// The length of a report interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Interval {
    #[serde(rename = "15m")]
    Min15,
    #[serde(rename = "1h")]
    Hour,
    #[serde(rename = "1d")]
    Day,
}

impl Interval {
    /// Parses `15m`, `1h`, `1d` (also `15min`, `hour`, `day`).
    pub fn parse(s: &str) -> Result<Interval, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "15m" | "15min" | "15" => Ok(Interval::Min15),
            "1h" | "60m" | "hour" | "hourly" => Ok(Interval::Hour),
            "1d" | "24h" | "day" | "daily" => Ok(Interval::Day),
            _ => Err(format!("interval {s:?}: use 15m, 1h or 1d")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Min15 => "15m",
            Interval::Hour => "1h",
            Interval::Day => "1d",
        }
    }

    /// The interval's length in milliseconds.
    pub fn ms(self) -> i64 {
        match self {
            Interval::Min15 => 15 * 60_000,
            Interval::Hour => 3_600_000,
            Interval::Day => DAY_MS,
        }
    }

    /// The local-time bucket number of `ms`: what the SQL computes as
    /// `(t + offset) / length` (times are after 1970, so this is a floor).
    pub fn bucket(self, ms: i64, tz: Tz) -> i64 {
        (ms + tz.offset_ms()).div_euclid(self.ms())
    }

    /// The Unix time at which bucket number `b` starts.
    pub fn bucket_to_ms(self, b: i64, tz: Tz) -> i64 {
        b * self.ms() - tz.offset_ms()
    }

    /// The start of the interval holding `ms`, in local time.
    pub fn bucket_start(self, ms: i64, tz: Tz) -> i64 {
        self.bucket_to_ms(self.bucket(ms, tz), tz)
    }
}

/// Which end of the window a bound is: a date as `--to` means the end of
/// that day, so `--from 2026-11-01 --to 2026-11-30` is all of November.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    From,
    To,
}

/// Parses a window bound: `2026-11-25` (local midnight; as [`End::To`],
/// the next midnight), `today`, `yesterday`, `now`, an RFC 3339 time
/// (`2026-11-25T08:00:00+08:00`) or Unix milliseconds.
pub fn parse_bound(s: &str, tz: Tz, now_ms: i64, end: End) -> Result<i64, String> {
    let t = s.trim();
    let day_bound = |start: i64| match end {
        End::From => start,
        End::To => start + DAY_MS,
    };
    match t.to_ascii_lowercase().as_str() {
        "now" => return Ok(now_ms),
        "today" => return Ok(day_bound(tz.day_start(now_ms))),
        "yesterday" => return Ok(day_bound(tz.day_start(now_ms) - DAY_MS)),
        _ => {}
    }
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse()
            .map_err(|_| format!("{t:?} is too large for Unix milliseconds"));
    }
    if let Ok(d) = Date::parse(t, time::macros::format_description!("[year]-[month]-[day]")) {
        let local = PrimitiveDateTime::new(d, Time::MIDNIGHT).assume_offset(tz.offset());
        let start = (local.unix_timestamp_nanos() / 1_000_000) as i64;
        return Ok(day_bound(start));
    }
    OffsetDateTime::parse(t, &Rfc3339)
        .map(|v| (v.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| {
            format!("{t:?} is not a date: use 2026-11-25, today, yesterday, now, or RFC 3339 (2026-11-25T08:00:00+08:00)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIDNIGHT_25_CN: i64 = 1_795_536_000_000; // 2026-11-25T00:00:00+08:00

    #[test]
    fn offsets_parse_and_print() {
        assert_eq!(Tz::parse("+08:00"), Ok(Tz::CHINA));
        assert_eq!(Tz::parse("+0800"), Ok(Tz::CHINA));
        assert_eq!(Tz::parse("-05:30").map(|t| t.offset_ms()), Ok(-19_800_000));
        assert_eq!(Tz::parse("UTC").map(|t| t.to_string()), Ok("+00:00".into()));
        assert!(Tz::parse("Asia/Shanghai").is_err());
        assert!(Tz::parse("+15:00").is_err());
        assert!(Tz::parse("8").is_err());
        assert_eq!(Tz::CHINA.to_string(), "+08:00");
        assert_eq!(
            Tz::CHINA.format(MIDNIGHT_25_CN),
            "2026-11-25T00:00:00+08:00"
        );
    }

    #[test]
    fn buckets_follow_local_midnight() {
        let tz = Tz::CHINA;
        let before = MIDNIGHT_25_CN - 10_000; // 23:59:50 local, 15:59:50Z
        assert_eq!(
            Interval::Day.bucket_start(before, tz),
            MIDNIGHT_25_CN - DAY_MS
        );
        assert_eq!(
            Interval::Day.bucket_start(MIDNIGHT_25_CN, tz),
            MIDNIGHT_25_CN
        );
        // In UTC both are the same day.
        let utc = Tz::parse("Z").unwrap();
        assert_eq!(
            Interval::Day.bucket(before, utc),
            Interval::Day.bucket(MIDNIGHT_25_CN, utc)
        );
        assert_eq!(
            Interval::Min15.bucket_start(MIDNIGHT_25_CN + 14 * 60_000 + 59_999, tz),
            MIDNIGHT_25_CN
        );
        assert_eq!(
            Interval::Hour.bucket_start(MIDNIGHT_25_CN - 1, tz),
            MIDNIGHT_25_CN - 3_600_000
        );
        let b = Interval::Hour.bucket(MIDNIGHT_25_CN + 5, tz);
        assert_eq!(Interval::Hour.bucket_to_ms(b, tz), MIDNIGHT_25_CN);
        assert_eq!(Interval::parse("15min"), Ok(Interval::Min15));
        assert!(Interval::parse("2h").unwrap_err().contains("15m, 1h or 1d"));
    }

    #[test]
    fn bounds_as_people_type_them() {
        let tz = Tz::CHINA;
        let now = MIDNIGHT_25_CN + 9 * 3_600_000; // 09:00 local
        assert_eq!(
            parse_bound("2026-11-25", tz, now, End::From),
            Ok(MIDNIGHT_25_CN)
        );
        assert_eq!(
            parse_bound("2026-11-25", tz, now, End::To),
            Ok(MIDNIGHT_25_CN + DAY_MS)
        );
        assert_eq!(parse_bound("today", tz, now, End::From), Ok(MIDNIGHT_25_CN));
        assert_eq!(
            parse_bound("today", tz, now, End::To),
            Ok(MIDNIGHT_25_CN + DAY_MS)
        );
        assert_eq!(
            parse_bound("yesterday", tz, now, End::From),
            Ok(MIDNIGHT_25_CN - DAY_MS)
        );
        assert_eq!(parse_bound("now", tz, now, End::To), Ok(now));
        assert_eq!(
            parse_bound("2026-11-24T16:00:00Z", tz, now, End::To),
            Ok(MIDNIGHT_25_CN)
        );
        assert_eq!(
            parse_bound("1795536000000", tz, now, End::From),
            Ok(MIDNIGHT_25_CN)
        );
        let e = parse_bound("25/11/2026", tz, now, End::From).unwrap_err();
        assert!(e.contains("2026-11-25, today"), "{e}");
    }
}

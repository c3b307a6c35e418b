//! Time values: instants in milliseconds since the Unix epoch and business days.
//!
//! No clock is read here: instants come from the caller (the shell's clock or a test).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// China's offset from UTC in minutes (UTC+8), the campus default when nothing names another.
pub const CHINA_UTC_OFFSET_MINUTES: i32 = 480;

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const fn from_secs(s: i64) -> Self {
        Timestamp(s * 1000)
    }
    pub const fn millis(self) -> i64 {
        self.0
    }
    /// This instant moved by `ms` milliseconds (negative moves back).
    pub const fn plus_ms(self, ms: i64) -> Self {
        Timestamp(self.0 + ms)
    }
    pub const fn plus_minutes(self, m: i64) -> Self {
        Timestamp(self.0 + m * 60_000)
    }
    /// Milliseconds from `earlier` to `self` (negative when `earlier` is later).
    pub const fn since(self, earlier: Timestamp) -> i64 {
        self.0 - earlier.0
    }
    /// The business day this instant falls on at a fixed UTC offset (China: +480 minutes).
    pub fn day(self, utc_offset_minutes: i32) -> Day {
        let local_ms = self.0 + i64::from(utc_offset_minutes) * 60_000;
        Day::from_days_since_epoch(local_ms.div_euclid(86_400_000) as i32)
    }
    /// This instant as the standard library's `SystemTime` (for certificates and registries).
    pub fn to_system_time(self) -> std::time::SystemTime {
        let d = std::time::Duration::from_millis(self.0.unsigned_abs());
        if self.0 >= 0 { std::time::UNIX_EPOCH + d } else { std::time::UNIX_EPOCH - d }
    }
    /// Local "HH:MM" at a fixed UTC offset, for tickets and pages.
    pub fn local_hm(self, utc_offset_minutes: i32) -> String {
        let local_ms = self.0 + i64::from(utc_offset_minutes) * 60_000;
        let mins = local_ms.div_euclid(60_000).rem_euclid(1440);
        format!("{:02}:{:02}", mins / 60, mins % 60)
    }
}

/// A calendar day (the business day of a hall), proleptic Gregorian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Day {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Day {
    /// A valid day, or `None` for e.g. 2026-02-30.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Day> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Day { year, month, day })
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    pub fn days_since_epoch(self) -> i32 {
        let y = if self.month <= 2 { self.year - 1 } else { self.year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i32::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i32::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The inverse of [`Day::days_since_epoch`].
    pub fn from_days_since_epoch(z: i32) -> Day {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let y = yoe + era * 400 + i32::from(m <= 2);
        Day { year: y, month: m, day: d }
    }

    /// The ISO weekday: 1 Monday … 7 Sunday.
    pub fn weekday(self) -> u8 {
        // 1970-01-01 was a Thursday.
        ((self.days_since_epoch() + 3).rem_euclid(7) + 1) as u8
    }

    /// The day `n` days later (earlier when negative).
    pub fn plus_days(self, n: i32) -> Day {
        Day::from_days_since_epoch(self.days_since_epoch() + n)
    }

    pub fn next(self) -> Day {
        Day::from_days_since_epoch(self.days_since_epoch() + 1)
    }

    /// Local midnight of this day at a fixed UTC offset.
    pub fn start(self, utc_offset_minutes: i32) -> Timestamp {
        Timestamp(i64::from(self.days_since_epoch()) * 86_400_000 - i64::from(utc_offset_minutes) * 60_000)
    }

    /// "YYYYMM", the month key of the cases document.
    pub fn month_key(self) -> String {
        format!("{:04}{:02}", self.year, self.month)
    }

    /// "YYYYMMDD", used inside case numbers.
    pub fn compact(self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A day that could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{0}' is not a date: write it as YYYY-MM-DD, e.g. 2026-11-26")]
pub struct BadDay(pub String);

impl FromStr for Day {
    type Err = BadDay;
    fn from_str(s: &str) -> Result<Day, BadDay> {
        let bad = || BadDay(s.to_string());
        let mut parts = s.splitn(3, '-');
        let (y, m, d) = (parts.next(), parts.next(), parts.next());
        let (Some(y), Some(m), Some(d)) = (y, m, d) else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let y: i32 = y.parse().map_err(|_| bad())?;
        let m: u8 = m.parse().map_err(|_| bad())?;
        let d: u8 = d.parse().map_err(|_| bad())?;
        Day::new(y, m, d).ok_or_else(bad)
    }
}

impl TryFrom<String> for Day {
    type Error = BadDay;
    fn try_from(s: String) -> Result<Day, BadDay> {
        s.parse()
    }
}

impl From<Day> for String {
    fn from(d: Day) -> String {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_days() {
        assert_eq!(Day::from_days_since_epoch(0).to_string(), "1970-01-01");
        let d: Day = "2026-11-26".parse().unwrap();
        assert_eq!(d.days_since_epoch(), 20_783);
        assert_eq!("2024-02-29".parse::<Day>().unwrap().next().to_string(), "2024-03-01");
        assert_eq!(d.weekday(), 4, "2026-11-26 is a Thursday");
        assert_eq!(d.plus_days(3).weekday(), 7);
        assert_eq!(d.plus_days(-3).to_string(), "2026-11-23");
        assert!("2026-02-29".parse::<Day>().is_err());
        assert!("2026-1-05".parse::<Day>().is_err());
        assert_eq!(
            "26/11/2026".parse::<Day>().unwrap_err().to_string(),
            "'26/11/2026' is not a date: write it as YYYY-MM-DD, e.g. 2026-11-26"
        );
    }

    #[test]
    fn business_day_uses_the_offset() {
        // 2026-11-25T16:30Z is 00:30 on the 26th in Beijing.
        let t = Day::new(2026, 11, 25).unwrap().start(0).plus_minutes(16 * 60 + 30);
        assert_eq!(t.day(480).to_string(), "2026-11-26");
        assert_eq!(t.day(0).to_string(), "2026-11-25");
        assert_eq!(t.local_hm(480), "00:30");
        assert_eq!(Day::new(2026, 11, 26).unwrap().start(480).day(480).to_string(), "2026-11-26");
    }

    proptest! {
        #[test]
        fn days_round_trip(z in -800_000i32..800_000) {
            let d = Day::from_days_since_epoch(z);
            prop_assert_eq!(d.days_since_epoch(), z);
            prop_assert_eq!(d.to_string().parse::<Day>().ok().filter(|_| d.year >= 0 && d.year < 10000).unwrap_or(d), d);
        }
    }
}

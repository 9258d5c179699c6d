//! Wall-clock instants as feeds store them (epoch milliseconds, like the alarms feed's
//! `dateChanged`) and as READ shows them (ISO 8601, UTC).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// `2024-05-06T07:08:09.010Z`.
pub fn iso_utc(epoch_ms: u64) -> String {
    let seconds = epoch_ms / 1000;
    let (year, month, day) = civil_date(i64::try_from(seconds / 86_400).unwrap_or(i64::MAX));
    let of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        epoch_ms % 1000
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01, by 400-year eras (each era
/// has the same 146,097 days, counted from March so the leap day ends the year).
fn civil_date(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days from 0000-03-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// Reads an ISO 8601 instant as epoch milliseconds: `2024-05-06`, `2024-05-06T07:08`,
/// `2024-05-06T07:08:09`, with an optional fraction of a second and `Z`, `+hh:mm`, `-hhmm` or
/// `+hh`; `T` may be a space. Without an offset the time is UTC (JavaScript's `Date` reads a
/// date alone as UTC too; a date-time without an offset it reads in the host's zone, which on
/// OpenWhisk is UTC). `None` for anything else, or an instant before 1970.
pub fn parse_iso_utc(text: &str) -> Option<u64> {
    let text = text.trim();
    let (date, rest) = text.split_at(text.len().min(10));
    let date = date.as_bytes();
    if date.len() != 10 || date[4] != b'-' || date[7] != b'-' {
        return None;
    }
    let year = digits(&date[..4])?;
    let month = digits(&date[5..7])?;
    let day = digits(&date[8..])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut of_day_ms = 0;
    let mut offset_minutes: i64 = 0;
    if !rest.is_empty() {
        let rest = rest.strip_prefix(['T', 't', ' '])?;
        let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
        let (time, zone) = rest.split_at(zone_at);
        of_day_ms = time_of_day_ms(time)?;
        offset_minutes = offset(zone)?;
    }
    let days = days_from_civil(year, month, day);
    let ms = days * 86_400_000 + of_day_ms - offset_minutes * 60_000;
    u64::try_from(ms).ok()
}

/// `hh:mm`, `hh:mm:ss` or `hh:mm:ss.fff...` (a fraction past milliseconds is cut).
fn time_of_day_ms(time: &str) -> Option<i64> {
    let (clock, fraction) = time.split_once(['.', ',']).unwrap_or((time, ""));
    let mut parts = clock.split(':');
    let hours = digits(parts.next()?.as_bytes())?;
    let minutes = digits(parts.next()?.as_bytes())?;
    let seconds = parts.next().map_or(Some(0), |s| digits(s.as_bytes()))?;
    let two = |part: Option<&str>| part.is_none_or(|p| p.len() == 2);
    let mut again = clock.split(':');
    if parts.next().is_some() || !(two(again.next()) && two(again.next()) && two(again.next())) {
        return None;
    }
    if hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    let millis = if fraction.is_empty() {
        if time.len() != clock.len() {
            return None;
        }
        0
    } else {
        let first = &fraction.as_bytes()[..fraction.len().min(3)];
        digits(fraction.as_bytes())?;
        digits(first)? * 10_i64.pow(3 - first.len() as u32)
    };
    Some(((hours * 60 + minutes) * 60 + seconds) * 1000 + millis)
}

/// `""` (UTC), `Z`, `+hh`, `+hh:mm` or `+hhmm` (and `-`), in minutes east of UTC.
fn offset(zone: &str) -> Option<i64> {
    let sign = match zone.as_bytes().first() {
        None => return Some(0),
        Some(b'Z' | b'z') => return (zone.len() == 1).then_some(0),
        Some(b'+') => 1,
        Some(b'-') => -1,
        Some(_) => return None,
    };
    let zone = zone[1..].replace(':', "");
    let (hours, minutes) = match zone.len() {
        2 => (digits(zone.as_bytes())?, 0),
        4 => (
            digits(&zone.as_bytes()[..2])?,
            digits(&zone.as_bytes()[2..])?,
        ),
        _ => return None,
    };
    (hours <= 23 && minutes <= 59).then_some(sign * (hours * 60 + minutes))
}

/// A run of ASCII digits as a number (none, or anything else, is `None`).
fn digits(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 9 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        bytes
            .iter()
            .fold(0, |number, digit| number * 10 + i64::from(digit - b'0')),
    )
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date: [`civil_date`] backwards.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso_utc(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso_utc(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn reads_iso_instants() {
        let read = |text: &str| parse_iso_utc(text);
        assert_eq!(read("1970-01-01"), Some(0));
        assert_eq!(read("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        assert_eq!(read("2023-11-14T22:13:20.123Z"), Some(1_700_000_000_123));
        assert_eq!(read("2023-11-14 22:13:20.1234567"), Some(1_700_000_000_123));
        assert_eq!(
            read("2023-11-14T23:13:20.123+01:00"),
            Some(1_700_000_000_123)
        );
        assert_eq!(
            read("2023-11-14T21:13:20.123-0100"),
            Some(1_700_000_000_123)
        );
        assert_eq!(read("2023-11-14T22:13"), Some(1_699_999_980_000));
        assert_eq!(read("2099-12-31T23:59:59.999Z"), Some(4_102_444_799_999));
        for bad in [
            "",
            "2023",
            "2023-13-01",
            "2023-02-29",
            "2023-11-14T24:00",
            "2023-11-14T22:13:20Q",
            "2023-11-14T22",
            "2023-11-14T22:13:20.",
            "2023-11-14T2:13",
            "1969-12-31",
            "2023-11-14T22:13:20+1",
            "2023-11-14T22:13:20Zulu",
            "next tuesday",
            "2023-11-14x",
        ] {
            assert_eq!(read(bad), None, "{bad}");
        }
        for ms in [0, 951_782_400_000, 1_700_000_000_123, 4_102_444_799_999] {
            assert_eq!(read(&iso_utc(ms)), Some(ms));
        }
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now_ms() > 1_577_836_800_000);
    }
}

//! Feed dates read into one form: ISO 8601 in UTC, as READ shows its own dates
//! (`2024-05-06T07:08:09.000Z`).
//!
//! RSS dates are RFC 822 (`Tue, 10 Jun 2003 04:00:00 GMT`, with RFC 2822's obsolete forms:
//! named US zones, two-digit years, no seconds, no day name); Atom's and Dublin Core's are RFC
//! 3339 / W3C-DTF (`2024-05-01T09:30:00+02:00`, `2024-05-01`). Publishers mix them up, so either
//! is tried for every date. Written here rather than taken from chrono, whose parser and
//! formatter alone cost 12 KB of every poll zip, which has no such room (see the notes).

use feedkit::iso_utc;

/// A feed's date as ISO 8601 UTC, or the text as written when it is no date these formats
/// allow (or before 1970).
pub fn normalize(text: &str) -> String {
    let text = text.trim();
    rfc822(text)
        .or_else(|| rfc3339(text))
        .and_then(|ms| u64::try_from(ms).ok())
        .map_or_else(|| text.to_owned(), iso_utc)
}

/// Milliseconds since the epoch of an RFC 822 / 2822 date.
fn rfc822(text: &str) -> Option<i64> {
    let mut words = text.split([' ', '\t', ',']).filter(|word| !word.is_empty());
    let mut word = words.next()?;
    // The day name, if any, is only a hint.
    if word.starts_with(|c: char| c.is_ascii_alphabetic()) {
        word = words.next()?;
    }
    let day = number(word, 1, 2)?;
    let month_word = words.next()?;
    let month = MONTHS.iter().position(|name| {
        month_word
            .get(..3)
            .is_some_and(|m| m.eq_ignore_ascii_case(name))
    })? as u32
        + 1;
    let year_word = words.next()?;
    let year = match year_word.len() {
        4 => number(year_word, 4, 4)?,
        // RFC 2822 4.3: two-digit years before 50 are in the 2000s.
        2 => number(year_word, 2, 2).map(|y| if y < 50 { 2000 + y } else { 1900 + y })?,
        _ => return None,
    };
    let mut clock = words.next()?.split(':');
    let hour = number(clock.next()?, 1, 2)?;
    let minute = number(clock.next()?, 2, 2)?;
    let second = clock.next().map_or(Some(0), |s| number(s, 2, 2))?;
    if clock.next().is_some() {
        return None;
    }
    let offset = match words.next() {
        None => 0,
        Some(zone) => zone_minutes(zone)?,
    };
    if words.next().is_some() {
        return None;
    }
    epoch_ms(year, month, day, hour, minute, second, 0, offset)
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// A zone's offset east of UTC in minutes: `+0200`, `GMT`, or a named US zone.
fn zone_minutes(zone: &str) -> Option<i64> {
    if let Some(sign) = zone
        .strip_prefix('+')
        .map(|_| 1)
        .or(zone.strip_prefix('-').map(|_| -1))
    {
        let digits = &zone[1..];
        let hours = number(digits.get(..2)?, 2, 2)?;
        let minutes = number(digits.get(2..)?.trim_start_matches(':'), 2, 2)?;
        return Some(sign * i64::from(hours * 60 + minutes));
    }
    let hours = match zone.to_ascii_uppercase().as_str() {
        "GMT" | "UT" | "UTC" | "Z" => 0,
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        // RFC 2822 4.3: military zones were used wrongly so often that they mean nothing.
        military if military.len() == 1 && military.chars().all(|c| c.is_ascii_alphabetic()) => 0,
        _ => return None,
    };
    Some(hours * 60)
}

/// Milliseconds since the epoch of an RFC 3339 / W3C-DTF date (`2024-05-01`,
/// `2024-05-01T09:30+02:00`, `2024-05-01 09:30:00.250Z`).
fn rfc3339(text: &str) -> Option<i64> {
    let date = text.get(..10)?;
    let mut parts = date.split('-');
    let year = number(parts.next()?, 4, 4)?;
    let month = number(parts.next()?, 2, 2)?;
    let day = number(parts.next()?, 2, 2)?;
    let rest = &text[10..];
    if rest.is_empty() {
        return epoch_ms(year, month, day, 0, 0, 0, 0, 0);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let (clock, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut clock = clock.split(':');
    let hour = number(clock.next()?, 2, 2)?;
    let minute = number(clock.next()?, 2, 2)?;
    let second = clock.next().map_or(Some(0), |s| number(s, 2, 2))?;
    if clock.next().is_some() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let millis = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |ms, digit| ms * 10 + u32::from(digit - b'0'));
    let offset = match zone {
        "" | "Z" | "z" => 0,
        zone => zone_minutes(zone)?,
    };
    epoch_ms(year, month, day, hour, minute, second, millis, offset)
}

/// `text` as a number of `min` to `max` ASCII digits.
fn number(text: &str, min: usize, max: usize) -> Option<u32> {
    (min..=max).contains(&text.len()).then_some(())?;
    text.bytes().try_fold(0u32, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

#[allow(clippy::too_many_arguments)]
fn epoch_ms(
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millis: u32,
    offset_minutes: i64,
) -> Option<i64> {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    // A leap second reads as the second before it.
    if day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let seconds = days_from_civil(i64::from(year), month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second.min(59))
        - offset_minutes * 60;
    Some(seconds * 1000 + i64::from(millis))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (the inverse of feedkit's `civil_date`:
/// 400-year eras counted from March).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_822_dates_in_their_many_forms() {
        for (text, iso) in [
            ("Tue, 10 Jun 2003 04:00:00 GMT", "2003-06-10T04:00:00.000Z"),
            (
                " Mon, 06 Sep 2010 00:01:00 +0200 ",
                "2010-09-05T22:01:00.000Z",
            ),
            ("Mon, 6 Sep 2010 16:45 EST", "2010-09-06T21:45:00.000Z"),
            ("6 Sep 2010 16:45:00 PDT", "2010-09-06T23:45:00.000Z"),
            (
                "Thursday, 29 February 2024 23:59:59 -0130",
                "2024-03-01T01:29:59.000Z",
            ),
            ("Sat, 01 Jan 00 00:00:00 UT", "2000-01-01T00:00:00.000Z"),
            ("Fri, 31 Dec 99 23:59:60 z", "1999-12-31T23:59:59.000Z"),
            ("Wed, 08 May 2024 07:12:39", "2024-05-08T07:12:39.000Z"),
            ("08 mAY 2024 07:12:39 +00:00", "2024-05-08T07:12:39.000Z"),
        ] {
            assert_eq!(normalize(text), iso, "{text}");
        }
    }

    #[test]
    fn rfc_3339_and_w3c_dates() {
        for (text, iso) in [
            ("2024-05-01T09:30:00+02:00", "2024-05-01T07:30:00.000Z"),
            ("2024-05-01T09:30:00.25Z", "2024-05-01T09:30:00.250Z"),
            ("2024-05-01t09:30:00.123456z", "2024-05-01T09:30:00.123Z"),
            ("2024-05-01 09:30-05:00", "2024-05-01T14:30:00.000Z"),
            ("2024-05-01", "2024-05-01T00:00:00.000Z"),
            ("2000-02-29T12:00:00Z", "2000-02-29T12:00:00.000Z"),
        ] {
            assert_eq!(normalize(text), iso, "{text}");
        }
    }

    #[test]
    fn what_is_no_date_stays_as_written() {
        for text in [
            "yesterday at noon",
            "Tue, 32 Jun 2003 04:00:00 GMT",
            "Tue, 10 Jun 2003 24:00:00 GMT",
            "Tue, 10 Foo 2003 04:00:00 GMT",
            "Tue, 10 éé 2003 04:00:00 GMT",
            "Tue, 10 Jun 2003 04:00:00 CEST",
            "Tue, 10 Jun 2003 04:00:00 GMT extra",
            "2023-02-29T00:00:00Z",
            "2024-13-01",
            "2024-05-01T09:30:00+2",
            "2024-05-01T09:30:00.x1Z",
            "1969-12-31T23:59:59Z",
            "",
        ] {
            assert_eq!(normalize(text), text.trim(), "{text}");
        }
    }

    #[test]
    fn days_count_from_1970() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(
            iso_utc(days_from_civil(2096, 2, 29) as u64 * 86_400_000),
            "2096-02-29T00:00:00.000Z"
        );
    }
}

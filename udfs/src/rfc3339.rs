//! RFC 3339 times as Pulse reads them everywhere: an order's `timestamp`
//! field, `SET pulse.as_of` and `--as-of`. One parser, so that `T` and the
//! orders are cut the same way.
//!
//! Accepted: `YYYY-MM-DD`, then `T`, `t` or one space, then `HH:MM:SS`, an
//! optional fraction of any length, and an offset `Z`, `z` or `±hh:mm`.
//! The result is nanoseconds since the Unix epoch, UTC.
//!
//! What must stay true (`DESIGN.md`, "A well-formed order"):
//! - a time without an offset, a date alone, `+0000`, `+00` and anything
//!   after the offset are refused: a time whose zone is a guess is not
//!   read as UTC;
//! - the fraction is kept to the nanosecond (digits past the ninth are
//!   cut, never rounded up into the next nanosecond);
//! - a leap second `:60` belongs to the minute it is written in: it reads
//!   as the last nanosecond of that minute, never as the next minute;
//! - a time that nanoseconds since 1970 in an `i64` cannot hold (before
//!   1677-09-21 or after 2262-04-11) is refused, not wrapped.

/// Parses `text` as an RFC 3339 time with an offset; nanoseconds since the
/// epoch, or why it is not one.
pub fn parse_nanos(text: &str) -> Result<i64, String> {
    let b = text.as_bytes();
    let fail = |what: &str| Err(format!("'{text}' is not an RFC 3339 time with an offset ({what})"));
    let digits = |at: usize, n: usize| -> Option<i64> {
        let s = b.get(at..at + n)?;
        s.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (Some(year), Some(month), Some(day)) = (digits(0, 4), digits(5, 2), digits(8, 2)) else {
        return fail("expected YYYY-MM-DD");
    };
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return fail("expected YYYY-MM-DD");
    }
    match b.get(10) {
        Some(b'T' | b't' | b' ') => {}
        None => return fail("a date without a time"),
        _ => return fail("expected T or a space after the date"),
    }
    let (Some(hour), Some(minute), Some(second)) = (digits(11, 2), digits(14, 2), digits(17, 2)) else {
        return fail("expected HH:MM:SS");
    };
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return fail("expected HH:MM:SS");
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return fail("no such date");
    }
    if hour > 23 || minute > 59 || second > 60 {
        return fail("no such time of day");
    }
    let mut at = 19;
    let mut nanos: i64 = 0;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while let Some(c) = b.get(at).filter(|c| c.is_ascii_digit()) {
            if at - start < 9 {
                nanos = nanos * 10 + i64::from(c - b'0');
            }
            at += 1;
        }
        if at == start {
            return fail("no digits after the decimal point");
        }
        for _ in (at - start)..9 {
            nanos *= 10;
        }
    }
    let offset_seconds = match b.get(at) {
        Some(b'Z' | b'z') => {
            at += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let (Some(oh), Some(om)) = (digits(at + 1, 2), digits(at + 4, 2)) else {
                return fail("the offset must be ±hh:mm");
            };
            if b.get(at + 3) != Some(&b':') || oh > 23 || om > 59 {
                return fail("the offset must be ±hh:mm");
            }
            at += 6;
            let s = oh * 3600 + om * 60;
            if sign == b'+' { s } else { -s }
        }
        None => return fail("no offset: give Z or ±hh:mm"),
        _ => return fail("expected Z or ±hh:mm after the time"),
    };
    if at != b.len() {
        return fail("text after the offset");
    }
    // A leap second is the last instant of the minute it is written in.
    let (second, nanos) = if second == 60 {
        (59, 999_999_999)
    } else {
        (second, nanos)
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    i64::try_from(i128::from(seconds) * 1_000_000_000 + i128::from(nanos))
        .or_else(|_| fail("out of the range of nanosecond timestamps, 1677 to 2262"))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(text: &str) -> i64 {
        parse_nanos(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn agrees_with_chrono_on_ordinary_times() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2026-11-19T12:00:00Z",
            "2026-11-19T12:00:00.5+01:00",
            "2026-11-19 12:00:00.123456789-05:30",
            "2000-02-29T23:59:59.999999999z",
            "1969-12-31T23:59:59.000000001Z",
            "2262-04-11T23:47:16.854775807Z",
            "1677-09-21T00:12:43.145224192Z",
        ] {
            let chrono = chrono::DateTime::parse_from_rfc3339(text).unwrap();
            assert_eq!(ns(text), chrono.timestamp_nanos_opt().unwrap(), "{text}");
        }
    }

    #[test]
    fn keeps_nanoseconds_and_cuts_further_digits() {
        assert_eq!(ns("1970-01-01T00:00:00.0000000019Z"), 1);
        assert_eq!(ns("1970-01-01T00:00:00.3Z"), 300_000_000);
        assert_eq!(ns("1970-01-01T00:00:00.0000003Z"), 300);
    }

    #[test]
    fn a_leap_second_stays_in_its_minute() {
        assert_eq!(ns("2016-12-31T23:59:60Z"), ns("2017-01-01T00:00:00Z") - 1);
        assert_eq!(ns("2016-12-31T23:59:60.5Z"), ns("2017-01-01T00:00:00Z") - 1);
    }

    #[test]
    fn times_whose_zone_is_a_guess_are_refused() {
        for (text, why) in [
            ("2026-11-19T12:00:00", "no offset"),
            ("2026-11-19", "a date without a time"),
            ("2026-11-19T12:00:00+0000", "±hh:mm"),
            ("2026-11-19T12:00:00+00", "±hh:mm"),
            ("2026-11-19T12:00:00 UTC", "after the time"),
            ("2026-11-19T12:00:00Z ", "text after the offset"),
            ("2026-11-19T12:00Z", "HH:MM:SS"),
            ("2026-02-30T12:00:00Z", "no such date"),
            ("2026-11-19T24:00:00Z", "no such time"),
            ("2026-11-19T12:00:00.Z", "no digits"),
            ("9999-01-01T00:00:00Z", "1677 to 2262"),
            ("yesterday", "YYYY-MM-DD"),
            ("", "YYYY-MM-DD"),
        ] {
            let err = parse_nanos(text).unwrap_err();
            assert!(err.contains(why) && err.contains(&format!("'{text}'")), "{text}: {err}");
        }
    }
}

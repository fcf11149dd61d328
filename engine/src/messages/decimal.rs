//! Exact decimals from JSON number text: what makes money exact.
//!
//! [`parse`] turns a number as written (`12.30`, `-1.5e2`, `3189041.78`)
//! into the integer of a `DECIMAL(p, s)` column, digit for digit, with no
//! binary floating point on the way.
//!
//! What must stay true: a number that the column cannot hold exactly is an
//! error, never rounded: more significant digits after the point than the
//! scale allows, or more before it than the precision leaves. Trailing
//! zeros cost nothing (`1.500` fits a scale of 1).

/// The unscaled integer of `text` (JSON number grammar, already checked)
/// in a `DECIMAL(precision, scale)` column, or why it does not fit.
pub fn parse(text: &str, precision: u8, scale: i8) -> Result<i128, String> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], exponent_of(&body[i + 1..])),
        None => (body, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // the significant digits, and the power of ten of the last one
    let digits: Vec<u8> = int_part.bytes().chain(frac_part.bytes()).map(|b| b - b'0').collect();
    let first = digits.iter().position(|&d| d != 0);
    let Some(first) = first else {
        return Ok(0);
    };
    let mut last = digits.len();
    let frac_len = i64::try_from(frac_part.len()).unwrap_or(i64::MAX);
    // value = digits[first..last] * 10^power
    let mut power = exponent.saturating_sub(frac_len);
    while digits[last - 1] == 0 {
        last -= 1;
        power = power.saturating_add(1);
    }
    // the column's integer is value * 10^scale
    let shift = power.saturating_add(i64::from(scale));
    if shift < 0 {
        return Err(format!(
            "{text} has more than {scale} digits after the decimal point, so DECIMAL({precision}, {scale}) \
             cannot hold it exactly"
        ));
    }
    let significant = i64::try_from(last - first).unwrap_or(i64::MAX);
    if significant.saturating_add(shift) > i64::from(precision) {
        return Err(format!(
            "{text} is out of the range of DECIMAL({precision}, {scale}) (at most {} digits before the point)",
            i64::from(precision) - i64::from(scale)
        ));
    }
    let mut value: i128 = 0;
    for &d in &digits[first..last] {
        value = value * 10 + i128::from(d);
    }
    for _ in 0..shift {
        value *= 10;
    }
    Ok(if negative { -value } else { value })
}

/// An exponent's value, saturating: `e999999999999999999999` is as good as
/// infinite for deciding that a number does not fit.
fn exponent_of(text: &str) -> i64 {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = digits.bytes().fold(0i64, |acc, d| {
        acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    if negative { -magnitude } else { magnitude }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_written_become_exact_decimals() {
        let s18 = |t: &str| parse(t, 38, 18);
        assert_eq!(s18("0"), Ok(0));
        assert_eq!(s18("-0.000"), Ok(0));
        assert_eq!(s18("3189041.78"), Ok(3_189_041_780_000_000_000_000_000));
        assert_eq!(s18("3189041.7799999984"), Ok(3_189_041_779_999_998_400_000_000));
        assert_eq!(s18("-1.5e2"), Ok(-150_000_000_000_000_000_000));
        assert_eq!(s18("25E-3"), Ok(25_000_000_000_000_000));
        assert_eq!(s18("0.000000000000000001"), Ok(1));
        assert_eq!(s18("1e-18"), Ok(1));
        assert_eq!(
            s18("99999999999999999999.999999999999999999"),
            Ok(99_999_999_999_999_999_999_999_999_999_999_999_999)
        );
        assert_eq!(parse("1.500", 5, 1), Ok(15));
        assert_eq!(parse("0e999999999999999999999", 38, 18), Ok(0));
        // 0.1 + 0.2 is 0.3, not 0.30000000000000004
        assert_eq!(s18("0.1").unwrap() + s18("0.2").unwrap(), s18("0.3").unwrap());
    }

    #[test]
    fn what_does_not_fit_exactly_is_refused() {
        for (text, why) in [
            ("0.0000000000000000001", "more than 18 digits after"),
            ("1e-19", "more than 18 digits after"),
            ("1e-400", "more than 18 digits after"),
            ("100000000000000000000", "out of the range"),
            ("1e20", "out of the range"),
            ("1e400", "out of the range"),
            ("-1e999999999999999999999", "out of the range"),
        ] {
            let err = parse(text, 38, 18).unwrap_err();
            assert!(err.contains(why) && err.contains(text), "{text}: {err}");
        }
    }
}

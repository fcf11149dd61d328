//! Exact decimals from JSON number text: what makes money exact.
//!
//! [`parse`] turns a number as written (`12.30`, `-1.5e2`, `3189041.78`)
//! into the integer of a `DECIMAL(p, s)` column, digit for digit, with no
//! binary floating point on the way.
//!
//! What must stay true: a number with more significant digits after the
//! point than the scale allows is rounded half to even, and says so (the
//! caller turns that into a `_warning`), never silently; a number with more
//! digits before the point than the precision leaves is an error. Trailing
//! zeros cost nothing (`1.500` fits a scale of 1).

/// The unscaled integer of `text` (JSON number grammar, already checked)
/// in a `DECIMAL(precision, scale)` column, and whether it was rounded to
/// the scale; or why it does not fit.
pub fn parse(text: &str, precision: u8, scale: i8) -> Result<(i128, bool), String> {
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
        return Ok((0, false));
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
    let out_of_range = || {
        format!(
            "{text} is out of the range of DECIMAL({precision}, {scale}) (at most {} digits before the point)",
            i64::from(precision) - i64::from(scale)
        )
    };
    let significant = &digits[first..last];
    let (mut value, rounded) = if shift < 0 {
        // more places than the scale: keep what fits, round half to even
        let drop = usize::try_from(shift.unsigned_abs()).unwrap_or(usize::MAX);
        let keep = significant.len().saturating_sub(drop);
        let (kept, dropped) = significant.split_at(keep);
        // when every digit is dropped, the first dropped place is a zero
        let (next, rest_nonzero) = if drop > significant.len() {
            (0, true)
        } else {
            (dropped[0], dropped[1..].iter().any(|&d| d != 0))
        };
        if kept.len() > usize::from(precision) {
            return Err(out_of_range());
        }
        let mut value = kept.iter().fold(0i128, |v, &d| v * 10 + i128::from(d));
        if next > 5 || (next == 5 && (rest_nonzero || value % 2 == 1)) {
            value += 1;
        }
        (value, true)
    } else {
        let length = i64::try_from(significant.len()).unwrap_or(i64::MAX);
        if length.saturating_add(shift) > i64::from(precision) {
            return Err(out_of_range());
        }
        let mut value = significant.iter().fold(0i128, |v, &d| v * 10 + i128::from(d));
        for _ in 0..shift {
            value *= 10;
        }
        (value, false)
    };
    if value >= 10i128.pow(u32::from(precision)) {
        return Err(out_of_range());
    }
    if negative {
        value = -value;
    }
    Ok((value, rounded))
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

    fn exact(t: &str) -> Result<i128, String> {
        parse(t, 38, 18).map(|(v, rounded)| {
            assert!(!rounded, "{t} was rounded");
            v
        })
    }

    #[test]
    fn numbers_as_written_become_exact_decimals() {
        assert_eq!(exact("0"), Ok(0));
        assert_eq!(exact("-0.000"), Ok(0));
        assert_eq!(exact("3189041.78"), Ok(3_189_041_780_000_000_000_000_000));
        assert_eq!(exact("3189041.7799999984"), Ok(3_189_041_779_999_998_400_000_000));
        assert_eq!(exact("-1.5e2"), Ok(-150_000_000_000_000_000_000));
        assert_eq!(exact("25E-3"), Ok(25_000_000_000_000_000));
        assert_eq!(exact("0.000000000000000001"), Ok(1));
        assert_eq!(exact("1e-18"), Ok(1));
        assert_eq!(
            exact("99999999999999999999.999999999999999999"),
            Ok(99_999_999_999_999_999_999_999_999_999_999_999_999)
        );
        assert_eq!(parse("1.500", 5, 1), Ok((15, false)));
        assert_eq!(exact("0e999999999999999999999"), Ok(0));
        // 0.1 + 0.2 is 0.3, not 0.30000000000000004
        assert_eq!(exact("0.1").unwrap() + exact("0.2").unwrap(), exact("0.3").unwrap());
    }

    #[test]
    fn more_places_than_the_scale_round_half_to_even_and_say_so() {
        let r = |t: &str| parse(t, 38, 18);
        assert_eq!(r("0.1234567890123456789"), Ok((123_456_789_012_345_679, true)));
        assert_eq!(r("0.0000000000000000005"), Ok((0, true)), "half to even: down to 0");
        assert_eq!(r("0.0000000000000000015"), Ok((2, true)), "half to even: up to 2");
        assert_eq!(r("0.00000000000000000051"), Ok((1, true)), "above half: up");
        assert_eq!(r("-0.0000000000000000016"), Ok((-2, true)));
        assert_eq!(r("1e-19"), Ok((0, true)));
        assert_eq!(r("1e-400"), Ok((0, true)));
        assert_eq!(
            parse("9.99", 2, 1),
            Err("9.99 is out of the range of DECIMAL(2, 1) (at most 1 digits before the point)".into()),
            "rounding up past the precision"
        );
    }

    #[test]
    fn numbers_beyond_the_precision_are_refused() {
        for text in ["100000000000000000000", "1e20", "1e400", "-1e999999999999999999999"] {
            let err = parse(text, 38, 18).unwrap_err();
            assert!(err.contains("out of the range") && err.contains(text), "{text}: {err}");
        }
    }
}

//! Durations as timing systems write them: `1:39.725`, `12:21.996`, `1:32:58.334`, `0:01:46.673`,
//! `51.77`.

/// Parses a duration written `[[h:]m:]s[.fraction]` into seconds.
///
/// The first part may be as large as it likes (`623.187` seconds, `12:21.996`, `17:31:33.055`);
/// a part after the first must be below 60 (`1:75.0` is refused, not read as 135 s). The fraction
/// may have any number of digits, or be absent. The result is the `f64` nearest to the decimal
/// value written, so `1:39.725` gives exactly the number the literal `99.725` does. Surrounding
/// whitespace is ignored; anything else (a blank, a sign, a decimal comma, a fourth part) is an
/// error saying what was expected.
pub(crate) fn parse_seconds(text: &str) -> Result<f64, String> {
    let trimmed = text.trim();
    let bad = || format!("expected a time like 1:39.725, 1:32:58.334 or 51.77, got {trimmed:?}");
    if trimmed.is_empty() {
        return Err("blank where a time was expected".to_owned());
    }
    let parts: Vec<&str> = trimmed.split(':').collect();
    if parts.len() > 3 {
        return Err(bad());
    }
    let (seconds, larger) = parts.split_last().ok_or_else(bad)?;
    let (whole, fraction) = match seconds.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (*seconds, None),
    };
    let number = |digits: &str| -> Option<u64> {
        // Nine digits per part keep every sum far below u64::MAX with room to spare.
        if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let whole = number(whole).ok_or_else(bad)?;
    if fraction.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad());
    }
    let mut total = 0u64;
    for (i, part) in larger.iter().enumerate() {
        let value = number(part).ok_or_else(bad)?;
        if i > 0 && value >= 60 {
            return Err(bad());
        }
        total = total * 60 + value;
    }
    if !larger.is_empty() {
        if whole >= 60 {
            return Err(bad());
        }
        total *= 60;
    }
    total += whole;
    let decimal = match fraction {
        Some(fraction) => format!("{total}.{fraction}"),
        None => total.to_string(),
    };
    decimal.parse().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::parse_seconds;

    #[test]
    fn every_form_the_exports_use_reads_as_seconds() {
        for (text, seconds) in [
            ("1:39.725", 99.725),
            ("12:21.996", 741.996),
            ("0:33.413", 33.413),
            ("33.41", 33.41),
            ("43.5", 43.5),
            ("51.77", 51.77),
            ("623.187", 623.187),
            ("12345.678", 12_345.678),
            ("0:01:46.673", 106.673),
            ("1:32:58.334", 5578.334),
            ("17:31:33.055", 63_093.055),
            ("13:42:35.322", 49_355.322),
            ("59", 59.0),
            ("1:05", 65.0),
            (" 1:39.725 ", 99.725),
            ("0.5", 0.5),
            ("0:00.000", 0.0),
        ] {
            assert_eq!(parse_seconds(text), Ok(seconds), "{text:?}");
        }
    }

    #[test]
    fn results_are_the_nearest_double_to_the_decimal_written() {
        // 60.0 + 39.725 is not the double nearest to 99.725; reading the decimal is.
        assert_eq!(parse_seconds("1:39.725").unwrap().to_bits(), 99.725f64.to_bits());
        assert_eq!(
            parse_seconds("1:32:58.334").unwrap().to_bits(),
            5578.334f64.to_bits()
        );
    }

    #[test]
    fn anything_else_is_refused_with_what_was_expected() {
        for text in [
            "",
            "   ",
            "abc",
            "1:39,725",
            "-1:39.725",
            "+39.7",
            "1:75.000",
            "1:60:00.0",
            "1:2:3:4",
            "1::39.7",
            ":39.7",
            "39.",
            ".5",
            "1:39.72x",
            "1 39.725",
            "1:39.725.1",
            "9999999999",
        ] {
            let err = parse_seconds(text).unwrap_err();
            assert!(
                err.contains("expected a time") || err.contains("blank"),
                "{text:?}: {err}"
            );
        }
        assert_eq!(
            parse_seconds("1:3x.7").unwrap_err(),
            r#"expected a time like 1:39.725, 1:32:58.334 or 51.77, got "1:3x.7""#
        );
    }
}

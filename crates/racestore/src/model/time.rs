//! Timestamps racestore writes and the dates it accepts.

use crate::error::{Error, Result};

/// The time now, in the one format racestore writes on every backend:
/// RFC 3339 in UTC with microseconds, `2026-11-25T16:33:08.009625Z`.
///
/// Python's `datetime.fromisoformat` (3.11+) reads it; timestamps read from the original
/// system's files keep the format they were written in.
pub fn now_timestamp() -> String {
    format_instant(jiff::Timestamp::now())
}

/// Formats seconds since the Unix epoch (plus microseconds) as [`now_timestamp`] does.
///
/// Seconds outside the years 1 to 9999 are clamped to them.
pub fn format_timestamp(unix_seconds: i64, micros: u32) -> String {
    let seconds = unix_seconds.clamp(
        jiff::Timestamp::MIN.as_second() + 1,
        jiff::Timestamp::MAX.as_second() - 1,
    );
    let nanos = i32::try_from(micros.min(999_999) * 1_000).unwrap_or(0);
    let instant = jiff::Timestamp::new(seconds, nanos).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format_instant(instant)
}

/// `%Y-%m-%dT%H:%M:%S.%6fZ`, written digit by digit for years 1 to 9999: every save stamps its
/// records, and `strftime` (which parses its format each time and allocates) cost a JSON save
/// 8% of its time.
fn format_instant(instant: jiff::Timestamp) -> String {
    const FORMAT: &str = "%Y-%m-%dT%H:%M:%S.%6fZ";
    let at = jiff::tz::Offset::UTC.to_datetime(instant);
    if !(1..=9999).contains(&at.year()) {
        // Before year 1 (jiff goes back to -9999): a sign and padding, as strftime writes them.
        return instant.strftime(FORMAT).to_string();
    }
    let mut text = [0u8; 27];
    let mut put = |at: usize, width: u32, value: i64| {
        let mut value = value.unsigned_abs();
        for k in (0..width as usize).rev() {
            text[at + k] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, i64::from(at.year()));
    put(5, 2, i64::from(at.month()));
    put(8, 2, i64::from(at.day()));
    put(11, 2, i64::from(at.hour()));
    put(14, 2, i64::from(at.minute()));
    put(17, 2, i64::from(at.second()));
    put(20, 6, i64::from(at.subsec_nanosecond() / 1_000));
    for (at, separator) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (26, b'Z'),
    ] {
        text[at] = separator;
    }
    String::from_utf8(text.to_vec()).expect("digits and separators are ASCII")
}

/// Accepts an ISO 8601 date (`2025-09-06`) or date-time (`T` or a space between,
/// `HH:MM[:SS[.fraction]]`, an optional `Z` or `±HH:MM` offset): the forms Python's
/// `isoformat()` and timing systems write. The date must exist (`2025-02-30` does not).
pub(crate) fn validate_iso8601(field: &str, text: &str) -> Result<()> {
    let valid = text.len() >= 10
        && text.as_bytes()[4] == b'-'
        && (text.parse::<jiff::Timestamp>().is_ok() || text.parse::<jiff::civil::DateTime>().is_ok());
    if valid {
        return Ok(());
    }
    let shown: String = text.chars().take(40).collect();
    let ellipsis = if text.chars().count() > 40 { "..." } else { "" };
    Err(Error::invalid(
        field,
        format!(
            "expected an existing ISO 8601 date or date-time like 2025-09-06 or 2025-09-06T14:00:00, got {shown:?}{ellipsis}"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        assert_eq!(format_timestamp(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_timestamp(1_764_088_388, 9_625),
            "2025-11-25T16:33:08.009625Z"
        );
        assert_eq!(format_timestamp(951_782_400, 1), "2000-02-29T00:00:00.000001Z");
        let now = now_timestamp();
        assert_eq!(now.len(), 27, "{now}");
        validate_iso8601("created_at", &now).unwrap();
    }

    #[test]
    fn timestamps_are_written_as_strftime_writes_them() {
        let reference = |seconds: i64, micros: u32| {
            jiff::Timestamp::new(seconds, micros as i32 * 1_000)
                .unwrap()
                .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
                .to_string()
        };
        let first = jiff::Timestamp::MIN.as_second() + 1;
        let last = jiff::Timestamp::MAX.as_second() - 1;
        // The edges of the range, then a spread of instants across it (a fixed-step walk).
        let mut cases = vec![
            (first, 0),
            (last, 999_999),
            (-1, 999_999),
            (0, 0),
            (253_402_300_799, 1),
        ];
        let mut seconds = first;
        let mut micros: u32 = 7;
        while seconds < last {
            cases.push((seconds, micros));
            seconds += 7_777_777_777;
            micros = (micros * 31 + 17) % 1_000_000;
        }
        for (seconds, micros) in cases {
            let seconds = seconds.clamp(first, last);
            assert_eq!(
                format_timestamp(seconds, micros),
                reference(seconds, micros),
                "{seconds}s {micros}µs"
            );
        }
        let now = jiff::Timestamp::now();
        assert_eq!(
            format_instant(now),
            reference(now.as_second(), (now.subsec_nanosecond() / 1_000) as u32)
        );
    }

    #[test]
    fn iso8601_dates_in_the_forms_python_and_timing_systems_write_are_accepted() {
        for ok in [
            "2025-09-06",
            "2025-09-06T14:00",
            "2025-09-06T14:00:00",
            "2025-09-06 14:00:00",
            "2026-11-25T16:33:08.009625",
            "2026-11-25T16:33:08.009625Z",
            "2025-09-06T14:00:00+02:00",
            "2025-09-06T14:00:00.5-05:30",
            "2024-02-29",
        ] {
            validate_iso8601("date", ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "yesterday",
            "2025-13-01",
            "2025-02-30",
            "2025-02-29",
            "2025-09-06T25:00",
            "2025-09-06T14:00:00.",
            "2025-09-06X",
            "06/09/2025",
        ] {
            let err = validate_iso8601("date", bad).unwrap_err();
            assert!(err.to_string().contains("invalid date"), "{bad}: {err}");
        }
    }
}

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

fn format_instant(instant: jiff::Timestamp) -> String {
    instant.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
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

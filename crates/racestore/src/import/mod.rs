//! Importers of timing-system exports into a [`RaceStore`].
//!
//! An importer reads a whole file and checks every row (without touching any store) before it
//! stores anything; then it writes one session and all its laps in one batch. An import that
//! fails or is aborted leaves the store as it was.
//!
//! - [`alkamel`]: Al Kamel Systems' lap-by-lap analysis exports (`23_Analysis...`), used by the
//!   Toyota GR Cup and the FIA WEC.
//! - [`ergast`]: Formula 1's history from the Ergast database's CSV tables, one session per race.
//! - [`mapped`]: any table of laps (a spreadsheet, another tool's export, racestore's own CSV
//!   export) through a column mapping.

//!
//! What every importer shares lives here: whether the store already holds a file
//! ([`already_imported`], [`Existing`]) and the one form session dates are stored in
//! ([`session_date`]).

use std::collections::BTreeSet;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::{NewLap, Session, SessionQuery};
use crate::store::{RaceStore, RaceStoreExt};

pub mod alkamel;
pub mod ergast;
pub mod mapped;
mod table;
mod time;

/// What an import does with a file the store already holds: a session whose laps are the
/// file's laps ([`already_imported`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Existing {
    /// Imports nothing: [`Error::Import`] naming the session the file went to.
    #[default]
    Refuse,
    /// Imports the file again as a new session, then deletes the session it went to before:
    /// the new one is saved first, so a failure in between leaves both, never neither.
    Replace,
    /// Imports nothing and reports the session the file went to.
    Skip,
}

/// The session of `store` that already holds `laps` (a file's laps, before they are saved):
/// one with exactly the same laps — driver id, lap number and lap time of each, in any order —
/// whatever its circuit, date or type were given as. `None` when no session does.
///
/// Only sessions with as many laps and drivers are read, so a store of other races costs one
/// [`RaceStore::session_summaries`].
pub fn already_imported(store: &dyn RaceStore, laps: &[NewLap]) -> Result<Option<Session>> {
    if laps.is_empty() {
        return Ok(None);
    }
    let key = |driver: &str, lap: i64, time: f64| (driver.to_owned(), lap, time.to_bits());
    let mut theirs: Vec<(String, i64, u64)> = laps
        .iter()
        .map(|l| key(&l.driver_id, l.lap_number, l.lap_time))
        .collect();
    theirs.sort_unstable();
    let drivers = laps
        .iter()
        .map(|l| l.driver_id.as_str())
        .collect::<BTreeSet<_>>()
        .len() as u64;
    for summary in store.session_summaries(&SessionQuery::all())? {
        if summary.counts.laps() != laps.len() as u64 || summary.drivers != drivers {
            continue;
        }
        let mut stored: Vec<(String, i64, u64)> = store
            .get_session_laps(summary.session.id)?
            .iter()
            .map(|l| key(&l.driver_id, l.lap_number, l.lap_time))
            .collect();
        stored.sort_unstable();
        if stored == theirs {
            return Ok(Some(summary.session));
        }
    }
    Ok(None)
}

/// A session date as importers store it, whatever form it was given in:
/// `YYYY-MM-DDTHH:MM:SS`, followed by the offset (`+02:00`; `Z` is written `+00:00`) when one
/// was given. A date alone (`2025-09-06`) takes `start`, the race's local start time
/// `HH:MM:SS` from the file, or else midnight; `2025-09-06 14:00` and `2025-09-06T14:00:00.5`
/// become `2025-09-06T14:00:00` (fractions of a second are dropped).
///
/// Fails with [`Error::Invalid`] on `date` for anything else, a mistyped or impossible date
/// (`2025-02-30`) or offset included.
pub fn session_date(given: &str, start: Option<&str>) -> Result<String> {
    let text = given.trim();
    let invalid = || {
        Error::invalid(
            "date",
            format!(
                "expected a date like 2025-09-06, a date and time like 2025-09-06T14:00:00, or one with an offset like 2025-09-06T14:00:00+02:00; {text:?} is not one (or no such day exists)"
            ),
        )
    };
    let (civil, offset) = split_offset(text).ok_or_else(invalid)?;
    let date_only = civil.len() == "YYYY-MM-DD".len();
    if date_only && offset.is_some() {
        return Err(invalid());
    }
    let civil = if date_only {
        format!("{civil}T{}", start.unwrap_or("00:00:00"))
    } else {
        civil.replacen(' ', "T", 1)
    };
    if civil.as_bytes().get(4) != Some(&b'-') {
        return Err(invalid());
    }
    let at: jiff::civil::DateTime = civil.parse().map_err(|_| invalid())?;
    Ok(format!(
        "{}{}",
        at.strftime("%Y-%m-%dT%H:%M:%S"),
        offset.unwrap_or_default()
    ))
}

/// The date-time without its offset, and the offset as `+HH:MM` if it has one; `None` for an
/// offset that is not one.
fn split_offset(text: &str) -> Option<(&str, Option<String>)> {
    if let Some(civil) = text.strip_suffix(['Z', 'z']) {
        return Some((civil, Some("+00:00".to_owned())));
    }
    // An offset starts after the date (whose own dashes come first) and its time.
    let Some(at) = text.get(10..).and_then(|t| t.rfind(['+', '-'])).map(|i| i + 10) else {
        return Some((text, None));
    };
    let (civil, offset) = text.split_at(at);
    let digits: String = offset[1..].chars().filter(|c| *c != ':').collect();
    let shaped = match offset.len() {
        3 => digits.len() == 2,
        5 => digits.len() == 4 && !offset.contains(':'),
        6 => digits.len() == 4 && offset.as_bytes()[3] == b':',
        _ => false,
    };
    if !shaped || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: u32 = digits[..2].parse().ok()?;
    let minutes: u32 = digits
        .get(2..)
        .filter(|m| !m.is_empty())
        .map_or(Some(0), |m| m.parse().ok())?;
    if hours > 18 || minutes > 59 {
        return None;
    }
    Some((civil, Some(format!("{}{hours:02}:{minutes:02}", &offset[..1]))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_dates_are_stored_in_one_form_whatever_they_are_given_in() {
        for (given, start, stored) in [
            ("2025-09-06", Some("13:40:41"), "2025-09-06T13:40:41"),
            ("2025-09-06", None, "2025-09-06T00:00:00"),
            (" 2025-09-06T14:00 ", None, "2025-09-06T14:00:00"),
            ("2025-09-06 14:00:00", None, "2025-09-06T14:00:00"),
            ("2025-09-06T14:00:00.750", None, "2025-09-06T14:00:00"),
            ("2025-09-06T14:00:00Z", None, "2025-09-06T14:00:00+00:00"),
            (
                "2025-09-06T14:00:00+02:00",
                Some("13:40:41"),
                "2025-09-06T14:00:00+02:00",
            ),
            ("2025-09-06T14:00-0500", None, "2025-09-06T14:00:00-05:00"),
            ("2025-09-06T14:00:00+09", None, "2025-09-06T14:00:00+09:00"),
        ] {
            assert_eq!(session_date(given, start).unwrap(), stored, "{given}");
        }
        for bad in [
            "2025-02-30",
            "2025-13-01",
            "06/09/2025",
            "2025-9-6",
            "yesterday",
            "",
            "2025-09-06T25:00",
            "2025-09-06T14:00+25:00",
            "2025-09-06T14:00+2",
            "2025-09-06+02:00",
        ] {
            let err = session_date(bad, None).unwrap_err();
            assert!(
                matches!(&err, Error::Invalid { field, message } if field == "date" && message.contains("2025-09-06T14:00:00+02:00")),
                "{bad}: {err}"
            );
        }
    }
}

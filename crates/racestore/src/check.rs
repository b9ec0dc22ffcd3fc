//! Checking a store: every file or table readable, ids ascending, every record in an existing
//! session, every value valid; and repairing what can be repaired without losing a valid record.

use std::collections::HashSet;

use serde::Serialize;

use crate::backend;
use crate::error::Result;
use crate::model::{
    Collection, Counts, Id, NewDriverMetrics, NewLap, NewPrediction, NewSession, NewSimulation, Records,
};
use crate::store::{RaceStore, Repair};
use crate::transfer::PAGE_SIZE;
use crate::url::{Location, StoreUrl};

/// One thing wrong with a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Where: a file and byte offset (`lap_data.json at byte 1234 (line 50, column 3)`), or a
    /// collection and record id (`lap_data id 7`).
    pub location: String,
    /// What is wrong, and what repairing would do.
    pub message: String,
    /// Whether [`check`] with `repair` fixes it without losing a valid record.
    pub repairable: bool,
}

/// What [`check`] found (and repaired).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// Problems still there (after repairing, if asked to).
    pub problems: Vec<Problem>,
    /// What repairing did.
    pub repaired: Vec<String>,
    /// Things worth knowing that are not problems (the store being in use, say).
    pub notes: Vec<String>,
    /// Records checked per collection.
    pub counts: Counts,
}

impl CheckReport {
    /// Whether the store is sound: no problem left.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the store at `url`; with `repair`, first repairs what can be repaired without losing a
/// valid record (a torn tail, an interrupted batch or delete), and refuses to touch anything
/// when some problem cannot be repaired that way.
///
/// Without `repair`, a JSON directory is only read: nothing is written, no lock is taken.
pub fn check(url: &str, repair: bool) -> Result<CheckReport> {
    let parsed = StoreUrl::parse(url)?;
    let mut report = CheckReport::default();
    match &parsed.location {
        Location::Json(dir) => {
            let mut inspection = backend::json::inspect(dir)?;
            let fixable = !inspection.problems.is_empty() && inspection.problems.iter().all(|p| p.repairable);
            if repair && fixable {
                let store = parsed.open()?;
                report.repaired = store.repairs().iter().map(Repair::to_string).collect();
                store.close()?;
                inspection = backend::json::inspect(dir)?;
            } else if repair && !inspection.problems.is_empty() {
                report.notes.push(
                    "nothing was repaired: some damage cannot be repaired without losing records".into(),
                );
            }
            if let Some(holder) = &inspection.in_use_by {
                report.notes.push(format!(
                    "the store is in use by {holder}: a save being written may show as a torn tail"
                ));
            }
            report.problems = inspection.problems;
            if let Some(records) = inspection.records {
                let mut pages = records.into_iter();
                let (problems, counts) = check_contents(&mut |_, _, _| Ok(pages.next()))?;
                report.problems.extend(problems);
                report.counts = counts;
            }
        }
        Location::Postgres(_) => {
            let store = parsed.open()?;
            let (problems, counts) = check_store(&*store)?;
            store.close()?;
            report.problems = problems;
            report.counts = counts;
            if repair && !report.problems.is_empty() {
                report.notes.push(
                    "nothing was repaired: these problems cannot be repaired without losing records".into(),
                );
            }
        }
        Location::Sqlite(path) => {
            report.problems = backend::sqlite::integrity_check(path)?;
            let store = parsed.open()?;
            let (problems, counts) = check_store(&*store)?;
            store.close()?;
            report.problems.extend(problems);
            report.counts = counts;
            if repair && !report.problems.is_empty() {
                report.notes.push(
                    "nothing was repaired: a SQLite database has no repair that keeps every record".into(),
                );
            }
        }
    }
    Ok(report)
}

/// Checks every record an open store holds: ids ascending, sessions existing, values valid.
pub fn check_store(store: &dyn RaceStore) -> Result<(Vec<Problem>, Counts)> {
    check_contents(&mut |collection, after, limit| {
        let page = store.export_page(collection, after, limit)?;
        Ok((!page.is_empty()).then_some(page))
    })
}

/// Walks every collection, sessions first, through `next_page(collection, after_id, limit)`
/// (which returns `None` at the end), checking each record.
fn check_contents(
    next_page: &mut dyn FnMut(Collection, Id, usize) -> Result<Option<Records>>,
) -> Result<(Vec<Problem>, Counts)> {
    let mut problems = Vec::new();
    let mut counts = Counts::default();
    let mut sessions = HashSet::new();
    for collection in Collection::ALL {
        let mut after = 0;
        while let Some(page) = next_page(collection, after, PAGE_SIZE)? {
            if page.collection() != collection {
                break;
            }
            for (id, session_id) in page.ids().into_iter().zip(page.session_ids()) {
                let at = format!("{collection} id {id}");
                if id <= after {
                    problems.push(problem(
                        &at,
                        format!("id {id} does not follow id {after}: ids must ascend"),
                    ));
                }
                after = after.max(id);
                if collection == Collection::Sessions {
                    sessions.insert(id);
                } else if !sessions.contains(&session_id) {
                    problems.push(problem(
                        &at,
                        format!("belongs to session {session_id}, which does not exist"),
                    ));
                }
            }
            for (id, message) in invalid_values(&page) {
                problems.push(problem(&format!("{collection} id {id}"), message));
            }
            counts.add(collection, page.len() as u64);
            if page.len() < PAGE_SIZE {
                break;
            }
        }
    }
    Ok((problems, counts))
}

fn problem(location: &str, message: String) -> Problem {
    Problem {
        location: location.to_owned(),
        message,
        repairable: false,
    }
}

/// The records whose values a save would refuse, with why: the same validation every save runs.
fn invalid_values(page: &Records) -> Vec<(Id, String)> {
    let mut out = Vec::new();
    let mut note = |id: Id, result: Result<()>| {
        if let Err(error) = result {
            out.push((id, error.to_string()));
        }
    };
    match page {
        Records::Sessions(v) => v
            .iter()
            .for_each(|r| note(r.id, NewSession::from(r).validate(r.id, "").map(drop))),
        Records::DriverMetrics(v) => v
            .iter()
            .for_each(|r| note(r.id, NewDriverMetrics::from(r).validate(r.id, "").map(drop))),
        Records::Laps(v) => v
            .iter()
            .for_each(|r| note(r.id, NewLap::from(r).validate(r.id, "").map(drop))),
        Records::Predictions(v) => v
            .iter()
            .for_each(|r| note(r.id, NewPrediction::from(r).validate(r.id, "").map(drop))),
        Records::Simulations(v) => v
            .iter()
            .for_each(|r| note(r.id, NewSimulation::from(r).validate(r.id, "").map(drop))),
    }
    out
}

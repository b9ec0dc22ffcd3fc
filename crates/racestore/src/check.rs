//! Checking a store: every file or table readable, ids ascending, every record in an existing
//! session, every value valid; and repairing what can be repaired without losing a valid record.

use std::collections::HashSet;

use serde::Serialize;

use crate::error::Result;
use crate::model::{Collection, Counts, Id, NewRecord, Record, Records, RecordsVisitor};
use crate::store::{RaceStore, RaceStoreExt, Repair};
use crate::transfer::PAGE_SIZE;
use crate::url::StoreUrl;

pub use crate::store::Problem;

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
    /// Whether the records were read and checked: not when a file is damaged past repair, as
    /// such a file is not read at all.
    pub records_checked: bool,
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
    let mut inspection = parsed.location.inspect()?;
    let fixable = !inspection.problems.is_empty() && inspection.problems.iter().all(|p| p.repairable);
    if repair && fixable {
        let store = parsed.open()?;
        report.repaired = store.repairs().iter().map(Repair::to_string).collect();
        store.close()?;
        inspection = parsed.location.inspect()?;
    }
    if let Some(holder) = &inspection.in_use_by {
        report.notes.push(format!(
            "the store is in use by {holder}: a save being written may show as a torn tail"
        ));
    }
    report.problems = std::mem::take(&mut inspection.problems);
    report.records_checked = inspection.records.is_some() || inspection.readable;
    let (problems, counts) = match inspection.records.take() {
        Some(records) => check_contents(&mut records.into_iter().map(Ok))?,
        None if inspection.readable => {
            let store = parsed.open()?;
            let checked = check_store(&*store);
            store.close()?;
            checked?
        }
        None => (Vec::new(), Counts::default()),
    };
    report.problems.extend(problems);
    report.counts = counts;
    if repair && !report.problems.is_empty() {
        report
            .notes
            .push("nothing was repaired: some problems cannot be repaired without losing records".into());
    }
    Ok(report)
}

/// Checks every record an open store holds: ids ascending, sessions existing, values valid.
pub fn check_store(store: &dyn RaceStore) -> Result<(Vec<Problem>, Counts)> {
    let mut pages = Collection::ALL.into_iter().flat_map(|collection| {
        let mut after = 0;
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            match store.export_page(collection, after, PAGE_SIZE) {
                Ok(page) => {
                    let last = page.ids().last().copied();
                    match last {
                        Some(last) => {
                            after = last;
                            done = page.len() < PAGE_SIZE;
                            Some(Ok(page))
                        }
                        None => None,
                    }
                }
                Err(error) => {
                    done = true;
                    Some(Err(error))
                }
            }
        })
    });
    check_contents(&mut pages)
}

/// Checks every record of pages given collection by collection, sessions first (a collection's
/// pages in id order, as long as they come): ids ascending per collection, every record's
/// session existing, every value valid.
fn check_contents(pages: &mut dyn Iterator<Item = Result<Records>>) -> Result<(Vec<Problem>, Counts)> {
    let mut problems = Vec::new();
    let mut counts = Counts::default();
    let mut sessions = HashSet::new();
    let mut after: [Id; Collection::COUNT] = [0; Collection::COUNT];
    for page in pages {
        let page = page?;
        let collection = page.collection();
        let previous = &mut after[collection.index()];
        for (id, session_id) in page.ids().into_iter().zip(page.session_ids()) {
            let at = format!("{collection} id {id}");
            if id <= *previous {
                problems.push(problem(
                    &at,
                    format!("id {id} does not follow id {previous}: ids must ascend"),
                ));
            }
            *previous = (*previous).max(id);
            if collection == Collection::Sessions {
                sessions.insert(id);
            } else if !sessions.contains(&session_id) {
                problems.push(problem(
                    &at,
                    format!("belongs to session {session_id}, which does not exist"),
                ));
            }
        }
        for (id, message) in page.visit(InvalidValues) {
            problems.push(problem(&format!("{collection} id {id}"), message));
        }
        counts.add(collection, page.len() as u64);
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
struct InvalidValues;

impl RecordsVisitor for InvalidValues {
    type Output = Vec<(Id, String)>;
    fn visit<R: Record>(self, records: &[R]) -> Vec<(Id, String)> {
        records
            .iter()
            .filter_map(|r| {
                r.to_new()
                    .validate(r.id(), "")
                    .err()
                    .map(|error| (r.id(), error.to_string()))
            })
            .collect()
    }
}

//! Checking a store: every file or table readable, ids ascending, every record in an existing
//! session, every value valid; and repairing what can be repaired without losing a valid record.

use std::collections::HashSet;

use serde::Serialize;

use crate::error::Result;
use crate::model::{Collection, Counts, Id, NewRecord, Record, Records, RecordsVisitor};
use crate::store::{OpenOptions, RaceStore, RaceStoreExt, Repair};
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

/// What [`check`] may change: nothing unless `repair`; with it, only what loses no record,
/// unless a flag allows a repair that gives records up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckOptions {
    /// Repair, all or nothing: a torn tail, an interrupted batch or delete; and what the flags
    /// below allow.
    pub repair: bool,
    /// Also drop records whose session does not exist (`--drop-orphans`), cutting off a torn
    /// session record they prove was saved.
    pub drop_orphans: bool,
    /// Also recreate, empty, a data file the store lost (`--recreate-missing`).
    pub recreate_missing: bool,
}

impl CheckOptions {
    /// Whether a repair with these options fixes `problem`.
    fn fixes(self, problem: &Problem) -> bool {
        problem.repairable
            || match problem.repair_flag {
                Some("--drop-orphans") => self.drop_orphans,
                Some("--recreate-missing") => self.recreate_missing,
                _ => false,
            }
    }
}

/// Checks the store at `url`; with [`CheckOptions::repair`], repairs all or nothing.
///
/// Every problem is found first, changing nothing. A repair then runs only when every problem
/// can be fixed: on its own (a torn tail, an interrupted batch or delete, which lose no record),
/// or by a flag the options give (records without a session dropped, a lost file recreated
/// empty), each counted in the report. Otherwise nothing is changed and the notes name the flag
/// that would fix what remains, or say that nothing can.
///
/// Without `repair`, a JSON directory is only read: nothing is written, no lock is taken.
pub fn check(url: &str, options: &CheckOptions) -> Result<CheckReport> {
    let parsed = StoreUrl::parse(url)?;
    let mut report = examine(&parsed)?;
    if !options.repair || report.problems.is_empty() {
        return Ok(report);
    }
    let unfixable: Vec<&Problem> = report.problems.iter().filter(|p| !options.fixes(p)).collect();
    if !unfixable.is_empty() {
        let mut flags: Vec<&str> = unfixable.iter().filter_map(|p| p.repair_flag).collect();
        flags.sort_unstable();
        flags.dedup();
        let lost = unfixable.iter().filter(|p| p.repair_flag.is_none()).count();
        let mut why = Vec::new();
        if !flags.is_empty() {
            why.push(format!(
                "repairing {} would give records up: add {} to do so",
                if unfixable.len() == 1 {
                    "a problem"
                } else {
                    "some problems"
                },
                flags.join(" and ")
            ));
        }
        if lost > 0 {
            why.push(format!(
                "{lost} problem{} cannot be repaired without losing records (restore from a backup)",
                if lost == 1 { "" } else { "s" }
            ));
        }
        report.notes.push(format!(
            "nothing was repaired (all or nothing): {}",
            why.join("; ")
        ));
        return Ok(report);
    }
    let store = parsed.open_with(&OpenOptions {
        cut_proven_records: options.drop_orphans,
        recreate_missing: options.recreate_missing,
        ..OpenOptions::default()
    })?;
    let mut repaired: Vec<String> = store.repairs().iter().map(Repair::to_string).collect();
    if options.drop_orphans {
        match store.delete_orphans() {
            Ok(removed) if removed.total() > 0 => repaired.push(format!(
                "dropped {} record{} whose session does not exist (--drop-orphans): {}",
                removed.total(),
                if removed.total() == 1 { "" } else { "s" },
                Collection::ALL
                    .iter()
                    .filter(|c| removed.get(**c) > 0)
                    .map(|c| c.count_text(removed.get(*c)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Ok(_) => {}
            Err(error) => {
                let _ = store.close();
                return Err(error);
            }
        }
    }
    store.close()?;
    let mut after = examine(&parsed)?;
    after.repaired = repaired;
    Ok(after)
}

/// Finds every problem of the store, changing nothing.
fn examine(parsed: &StoreUrl) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    let mut inspection = parsed.location.inspect()?;
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
            let store = parsed.open_with(&OpenOptions::read_only())?;
            let checked = check_store(&*store);
            store.close()?;
            checked?
        }
        None => (Vec::new(), Counts::default()),
    };
    report.problems.extend(problems);
    report.counts = counts;
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
                problems.push(Problem {
                    location: at.clone(),
                    message: format!("belongs to session {session_id}, which does not exist"),
                    repairable: false,
                    repair_flag: Some("--drop-orphans"),
                });
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
        repair_flag: None,
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
                    .validate_record(r.id(), "")
                    .err()
                    .map(|error| (r.id(), error.to_string()))
            })
            .collect()
    }
}

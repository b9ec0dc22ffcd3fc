//! The race analysis (`racestore::analysis::race`) against the timing system's own results.
//!
//! Every GR Cup race in `shared/data/grcup-aeropulse` is imported from its lap analysis export
//! (`23_AnalysisEnduranceWithSections`) with the library's Al Kamel importer, analysed, and its
//! classification compared with the race's provisional results (`03_Provisional Results`) and,
//! where there is one, its official results (`00_`/`03_Results GR Cup Race N Official`): order,
//! positions, laps, total times, gaps to the leader and to the car ahead.
//!
//! The results include time penalties the laps do not show (COTA race 1: +3 s and +13 s in the
//! provisional results, +41 s more for two cars in the official ones). They are worked out per
//! car from the files, never written here: a car's penalty is its total time in the results file
//! minus its elapsed time at the line on its last lap in the lap analysis export, and the
//! analysis is given those penalties.
//!
//! At COTA two cars run as #3, one in group `Legends`, one with a blank group: the importer keeps
//! them apart as `3-Legends` and `3`, and both are classified as in the results.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use racestore::analysis::race::{self, Gap, Options, SessionAnalysis};
use racestore::import::alkamel;
use racestore::RaceStoreExt;

/// Seconds in `m:ss.fff`, `h:mm:ss.fff` or `ss.fff`, summed part by part.
fn seconds(text: &str) -> f64 {
    text.trim()
        .split(':')
        .fold(0.0, |acc, part| acc * 60.0 + part.parse::<f64>().unwrap())
}

fn millis(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// The rows of a `;`-separated Al Kamel file as maps from trimmed header name to trimmed cell.
fn rows(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.trim_start_matches('\u{feff}').lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(';')
        .map(|h| h.trim().to_owned())
        .collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(';').map(|c| c.trim().to_owned()))
                .collect()
        })
        .collect()
}

/// A car as the files tell cars apart: number and group (two COTA cars share a number).
type Car = (String, String);

fn car(row: &HashMap<String, String>) -> Car {
    (row["NUMBER"].clone(), row["GROUP"].clone())
}

/// One line of a results file.
#[derive(Debug, Clone)]
struct Result {
    car: Car,
    laps: usize,
    total: f64,
    gap_first: Option<Gap>,
    gap_previous: Option<Gap>,
}

/// `-` (the leader), `+2.740`, `+1:14.985`, `1 Lap`, `14 Laps`.
fn gap(cell: &str) -> Option<Gap> {
    if cell == "-" {
        return None;
    }
    if let Some(laps) = cell.strip_suffix(" Laps").or_else(|| cell.strip_suffix(" Lap")) {
        return Some(Gap::Laps(laps.parse().unwrap()));
    }
    Some(Gap::Seconds(seconds(
        cell.strip_prefix('+')
            .unwrap_or_else(|| panic!("a gap: {cell:?}")),
    )))
}

/// A results file (`03_`, `00_`), in its order.
fn results(path: &Path) -> Vec<Result> {
    let rows = rows(path);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["POSITION"], (i + 1).to_string(), "{}", path.display());
    }
    rows.iter()
        .map(|r| Result {
            car: car(r),
            laps: r["LAPS"].parse().unwrap(),
            total: seconds(&r["TOTAL_TIME"]),
            gap_first: gap(&r["GAP_FIRST"]),
            gap_previous: gap(&r["GAP_PREVIOUS"]),
        })
        .collect()
}

fn same_gap(a: Option<Gap>, b: Option<Gap>) -> bool {
    match (a, b) {
        (Some(Gap::Seconds(a)), Some(Gap::Seconds(b))) => (a - b).abs() < 0.0005,
        (a, b) => a == b,
    }
}

/// One race: its lap analysis export and its results files.
#[derive(Debug)]
struct Race {
    name: String,
    analysis: PathBuf,
    provisional: PathBuf,
    official: Option<PathBuf>,
}

/// `Race 2` in `23_AnalysisEnduranceWithSections_ Race 2_Anonymized.CSV`.
fn race_label(name: &str) -> Option<String> {
    let at = name.find("Race ")?;
    let digits: String = name[at + 5..].chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then(|| format!("Race {digits}"))
}

/// Every race under `dir` (in `root`): each lap analysis export, with the results files of the
/// same race beside it. A race is named after its track's folder: `COTA Race 1`.
fn races(root: &Path, dir: &Path, found: &mut Vec<Race>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    for path in &entries {
        if path.is_dir() {
            races(root, path, found);
            continue;
        }
        let file = name(path);
        if !file.starts_with("23_AnalysisEnduranceWithSections") {
            continue;
        }
        let label = race_label(&file).unwrap();
        let beside = |wanted: &dyn Fn(&str) -> bool| {
            let matching: Vec<&PathBuf> = entries
                .iter()
                .filter(|p| {
                    let n = name(p);
                    race_label(&n).as_ref() == Some(&label) && wanted(&n)
                })
                .collect();
            assert!(matching.len() <= 1, "{matching:?}");
            matching.first().map(|p| (*p).clone())
        };
        found.push(Race {
            name: format!(
                "{} {label}",
                name(&root.join(dir.strip_prefix(root).unwrap().iter().next().unwrap()))
            ),
            analysis: path.clone(),
            provisional: beside(&|n| n.starts_with("03_Provisional Results"))
                .unwrap_or_else(|| panic!("no provisional results beside {file}")),
            official: beside(&|n| {
                (n.starts_with("00_") || n.starts_with("03_"))
                    && n.contains("Results GR Cup")
                    && n.contains("Official")
            }),
        });
    }
}

/// Each car's elapsed time when it crossed the line on its last lap, from the lap export.
fn elapsed_at_last_lap(analysis: &Path) -> BTreeMap<Car, f64> {
    let mut last: BTreeMap<Car, (i64, f64)> = BTreeMap::new();
    for row in rows(analysis) {
        let lap: i64 = row["LAP_NUMBER"].parse().unwrap();
        let elapsed = seconds(&row["ELAPSED"]);
        let entry = last.entry(car(&row)).or_insert((lap, elapsed));
        if lap >= entry.0 {
            *entry = (lap, elapsed);
        }
    }
    last.into_iter()
        .map(|(car, (_, elapsed))| (car, elapsed))
        .collect()
}

/// The driver id the importer gives a car: its number, followed by its group where two cars
/// of the results share the number and the car has a group (`3-Legends`).
fn driver_id(car: &Car, all: &[Result]) -> String {
    let shared = all.iter().filter(|r| r.car.0 == car.0).count() > 1;
    if shared && !car.1.is_empty() {
        format!("{}-{}", car.0, car.1)
    } else {
        car.0.clone()
    }
}

/// Checks the analysis of the race's laps, given the penalties the results file implies, against
/// that results file.
fn check_against(race: &Race, file: &Path, session: &racestore::Session, laps: &[racestore::Lap]) {
    let what = format!("{}, {}", race.name, file.file_name().unwrap().to_string_lossy());
    let all = results(file);
    let elapsed = elapsed_at_last_lap(&race.analysis);

    let mut options = Options::default();
    for r in &all {
        let penalty = millis(r.total - elapsed[&r.car]);
        if penalty != 0.0 {
            options.time_penalties.insert(driver_id(&r.car, &all), penalty);
        }
    }
    let analysis: SessionAnalysis = race::analyse_with(session, laps, &options).unwrap();

    let got: Vec<&str> = analysis
        .classification
        .iter()
        .map(|s| s.competitor.id())
        .collect();
    let want: Vec<String> = all.iter().map(|r| driver_id(&r.car, &all)).collect();
    assert_eq!(got, want, "{what}: order");
    assert_eq!(analysis.counts.competitors, all.len(), "{what}");
    assert_eq!(
        analysis.counts.laps,
        all.iter().map(|r| r.laps).sum::<usize>(),
        "{what}: laps in all"
    );
    for (i, (standing, expected)) in analysis.classification.iter().zip(&all).enumerate() {
        let car = format!("{what}: #{} ", want[i]);
        assert_eq!(standing.position, i + 1, "{car}position");
        assert_eq!(standing.laps, expected.laps, "{car}laps");
        assert!(
            (standing.total_time - expected.total).abs() < 0.0005,
            "{car}total time {} vs {}",
            standing.total_time,
            expected.total
        );
        assert!(
            same_gap(standing.gap_to_leader, expected.gap_first),
            "{car}gap to the leader {:?} vs {:?}",
            standing.gap_to_leader,
            expected.gap_first
        );
        assert!(
            same_gap(standing.gap_to_previous, expected.gap_previous),
            "{car}gap to the car ahead {:?} vs {:?}",
            standing.gap_to_previous,
            expected.gap_previous
        );
    }
}

#[test]
fn the_classification_of_every_gr_cup_race_is_the_timing_systems_results() {
    let test = "the_classification_of_every_gr_cup_race_is_the_timing_systems_results";
    let Some(shared) = common::shared_dir(test) else {
        return;
    };
    let mut found = Vec::new();
    let root = shared.join("data/grcup-aeropulse");
    races(&root, &root, &mut found);
    let names: Vec<&str> = found.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["COTA Race 1", "COTA Race 2", "barber Race 1", "barber Race 2"],
        "the four GR Cup races"
    );

    let mut official_files = 0;
    for race in &found {
        let dir = tempfile::tempdir().unwrap();
        let store = racestore::open(&format!("json:{}", dir.path().display())).unwrap();
        let summary = alkamel::import(store.as_ref(), &race.analysis, &alkamel::Options::default()).unwrap();
        assert_eq!(summary.skipped, [], "{}: every row is imported", race.name);
        let laps = store.get_session_laps(summary.session.id).unwrap();
        store.close().unwrap();

        check_against(race, &race.provisional, &summary.session, &laps);
        if let Some(official) = &race.official {
            check_against(race, official, &summary.session, &laps);
            official_files += 1;
        }
    }
    // Barber race 2 (the same as its provisional results) and COTA race 1 (with penalties).
    assert_eq!(official_files, 2);
}

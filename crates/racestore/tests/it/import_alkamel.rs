//! The Al Kamel importer (`racestore::import::alkamel`).
//!
//! The real exports in `shared/data` are imported and checked against figures computed here
//! from the raw files by a separate, deliberately simple reading (split on `;`, times summed
//! part by part), not by the importer's code. Malformed input is made up in temporary files, so
//! those tests run on a fresh clone too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use racestore::import::alkamel::{self, BadRows, DateSource, Options, Parsed, ProblemKind};
use racestore::model::lap_type;
use racestore::{
    Batch, Collection, Counts, Error, Id, IdMarks, Lap, LapQuery, NewLap, NewSession, Query, RaceStore,
    RaceStoreExt, Records, SavedIds, Session, SessionQuery, SessionSummary,
};

// ---------------------------------------------------------------------------------------------
// Finding the real data.

/// `shared/data` beside the repository, or `None` after printing a visible SKIP line; with `CI`
/// set, its absence fails the test instead. (As `tests/common/mod.rs::shared_dir` does.)
fn data_dir(test: &str) -> Option<PathBuf> {
    let shared = std::env::var_os("RACESTORE_SHARED").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    );
    let data = shared.join("data");
    if data.join("grcup-aeropulse").is_dir() {
        return Some(data);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: {} is missing, and CI must not skip this test",
        data.display()
    );
    eprintln!(
        "SKIP {test}: {} not found (a fresh clone has no shared/ folder)",
        data.display()
    );
    None
}

const BARBER_R1: &str = "grcup-aeropulse/barber/23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV";
const BARBER_R2: &str = "grcup-aeropulse/barber/23_AnalysisEnduranceWithSections_Race 2_Anonymized.CSV";
const COTA_R1: &str = "grcup-aeropulse/COTA/Race 1/23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV";
const COTA_R2: &str = "grcup-aeropulse/COTA/Race 2/23_AnalysisEnduranceWithSections_ Race 2_Anonymized.CSV";
const WEC_COTA: &str = "wec-alkamel-y047aka/2025/cota_6h.csv";
const LE_MANS: &str = "wec-alkamel-y047aka/2024/le_mans_24h.csv";

fn json_store(dir: &Path) -> Box<dyn RaceStore> {
    racestore::open(&format!("json:{}", dir.display())).unwrap()
}

fn skip() -> Options {
    Options {
        bad_rows: BadRows::Skip,
        ..Options::default()
    }
}

// ---------------------------------------------------------------------------------------------
// The independent reading of a raw export.

/// Seconds in `m:ss.fff`, `h:mm:ss.fff` or `ss.fff`, summed part by part.
fn seconds(text: &str) -> f64 {
    text.trim()
        .split(':')
        .fold(0.0, |acc, part| acc * 60.0 + part.parse::<f64>().unwrap())
}

/// A data row of an export: its trimmed cells, indexed by trimmed header name.
struct RawRow {
    header: Rc<HashMap<String, usize>>,
    cells: Vec<String>,
}

impl RawRow {
    fn get(&self, name: &str) -> Option<&String> {
        self.cells.get(*self.header.get(name)?)
    }
}

impl std::ops::Index<&str> for RawRow {
    type Output = String;

    fn index(&self, name: &str) -> &String {
        self.get(name).unwrap_or_else(|| panic!("no column {name}"))
    }
}

/// The data rows of an export.
fn raw_rows(path: &Path) -> Vec<RawRow> {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let header: HashMap<String, usize> = lines
        .next()
        .unwrap()
        .split(';')
        .enumerate()
        .map(|(i, h)| (h.trim().to_owned(), i))
        .collect();
    let header = Rc::new(header);
    lines
        .filter(|l| !l.is_empty())
        .map(|l| RawRow {
            header: Rc::clone(&header),
            cells: l.split(';').map(|c| c.trim().to_owned()).collect(),
        })
        .collect()
}

/// What the test expects of one driver id, from the raw rows.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    laps: usize,
    best_lap: f64,
    best_sectors: [Option<f64>; 3],
}

/// What the raw file says the import must store.
#[derive(Debug)]
struct RawFigures {
    rows: usize,
    per_driver: BTreeMap<String, Expected>,
    in_laps: usize,
    out_laps: usize,
    /// Flag laps that are neither in- nor out-laps, by flag.
    flag_laps: BTreeMap<String, usize>,
}

fn raw_figures(path: &Path) -> RawFigures {
    let rows = raw_rows(path);
    let mut groups: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for r in &rows {
        groups.entry(&r["NUMBER"]).or_default().insert(&r["GROUP"]);
    }
    let multi_driver = rows.iter().any(|r| r["DRIVER_NUMBER"] != "1");
    let mut per_driver: BTreeMap<String, Expected> = BTreeMap::new();
    let (mut in_laps, mut out_laps) = (0, 0);
    let mut flag_laps = BTreeMap::new();
    for r in &rows {
        // Two cars under one number (COTA's #3) are told apart by their group: the car with a
        // group has it after the number.
        let mut car = r["NUMBER"].clone();
        if groups[r["NUMBER"].as_str()].len() > 1 && !r["GROUP"].is_empty() {
            car = format!("{car}-{}", r["GROUP"]);
        }
        let id = if multi_driver {
            format!("{car}-{}", r["DRIVER_NUMBER"])
        } else {
            car
        };
        let e = per_driver.entry(id).or_insert(Expected {
            best_lap: f64::INFINITY,
            ..Expected::default()
        });
        e.laps += 1;
        e.best_lap = e.best_lap.min(seconds(&r["LAP_TIME"]));
        for (i, best) in e.best_sectors.iter_mut().enumerate() {
            let cell = &r[format!("S{}_SECONDS", i + 1).as_str()];
            if !cell.is_empty() {
                let s = seconds(cell);
                *best = Some(best.map_or(s, |b: f64| b.min(s)));
            }
        }
        if r["CROSSING_FINISH_LINE_IN_PIT"] == "B" {
            in_laps += 1;
        } else if !r["PIT_TIME"].is_empty() {
            out_laps += 1;
        } else if ["FCY", "SF", "RF"].contains(&r["FLAG_AT_FL"].as_str()) {
            *flag_laps.entry(r["FLAG_AT_FL"].clone()).or_default() += 1;
        }
    }
    RawFigures {
        rows: rows.len(),
        per_driver,
        in_laps,
        out_laps,
        flag_laps,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

/// Imports one real export into a fresh store (with the default, aborting, options: every row
/// must be trusted) and checks everything against the raw figures; returns the laps stored.
fn import_matches_raw_figures(test: &str, file: &str, laps: usize) -> Option<Vec<Lap>> {
    let path = data_dir(test)?.join(file);
    let raw = raw_figures(&path);
    assert_eq!(raw.rows, laps, "{file}: the raw file disagrees with the test");

    let dir = tempfile::tempdir().unwrap();
    let store = json_store(dir.path());
    let summary = alkamel::import(store.as_ref(), &path, &Options::default()).unwrap();
    assert_eq!(summary.rows, raw.rows, "{file}");
    assert_eq!(summary.laps_imported, laps, "{file}");
    assert_eq!(summary.skipped, [], "{file}");

    let stored = store.get_session_laps(summary.session.id).unwrap();
    assert_eq!(stored.len(), laps, "{file}");
    let mut per_driver: BTreeMap<String, Vec<&Lap>> = BTreeMap::new();
    for lap in &stored {
        per_driver.entry(lap.driver_id.clone()).or_default().push(lap);
    }
    assert_eq!(
        per_driver.keys().collect::<Vec<_>>(),
        raw.per_driver.keys().collect::<Vec<_>>(),
        "{file}: driver ids"
    );
    for (driver, expected) in &raw.per_driver {
        let own = &per_driver[driver];
        assert_eq!(own.len(), expected.laps, "{file} {driver}: laps");
        let best = own.iter().map(|l| l.lap_time).fold(f64::INFINITY, f64::min);
        assert!(
            close(best, expected.best_lap),
            "{file} {driver}: best lap {best} vs {}",
            expected.best_lap
        );
        let sectors = [
            own.iter().filter_map(|l| l.sector_1).reduce(f64::min),
            own.iter().filter_map(|l| l.sector_2).reduce(f64::min),
            own.iter().filter_map(|l| l.sector_3).reduce(f64::min),
        ];
        for (i, (got, want)) in sectors.iter().zip(expected.best_sectors).enumerate() {
            match (got, want) {
                (Some(got), Some(want)) => {
                    assert!(
                        close(*got, want),
                        "{file} {driver}: best S{} {got} vs {want}",
                        i + 1
                    );
                }
                _ => assert_eq!(*got, want, "{file} {driver}: best S{}", i + 1),
            }
        }
    }
    let count = |t: &str| stored.iter().filter(|l| l.lap_type == t).count();
    assert_eq!(count(lap_type::IN_LAP), raw.in_laps, "{file}: in-laps");
    assert_eq!(count(lap_type::OUT_LAP), raw.out_laps, "{file}: out-laps");
    let flag = |f: &str| raw.flag_laps.get(f).copied().unwrap_or(0);
    assert_eq!(count(lap_type::FULL_COURSE_YELLOW), flag("FCY"), "{file}");
    assert_eq!(count(lap_type::SAFETY_CAR), flag("SF"), "{file}");
    assert_eq!(count(lap_type::RED_FLAG), flag("RF"), "{file}");
    assert_eq!(
        count(lap_type::RACE_LAP),
        laps - raw.in_laps - raw.out_laps - raw.flag_laps.values().sum::<usize>(),
        "{file}"
    );

    // Positions on each lap are 1, 2, 3, ...: never repeated, never beyond the cars on track.
    let mut by_lap: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for lap in &stored {
        by_lap
            .entry(lap.lap_number)
            .or_default()
            .push(lap.position.unwrap());
    }
    for (lap, mut positions) in by_lap {
        positions.sort_unstable();
        let n = positions.len();
        assert_eq!(positions, (1..=n as i64).collect::<Vec<_>>(), "{file} lap {lap}");
    }
    store.close().unwrap();
    Some(stored)
}

#[test]
fn barber_race_1_imports_every_row() {
    import_matches_raw_figures("barber_race_1_imports_every_row", BARBER_R1, 579);
}

#[test]
fn barber_race_2_imports_every_row() {
    import_matches_raw_figures("barber_race_2_imports_every_row", BARBER_R2, 602);
}

#[test]
fn cota_race_1_imports_both_cars_sharing_number_3() {
    let test = "cota_race_1_imports_both_cars_sharing_number_3";
    let Some(laps) = import_matches_raw_figures(test, COTA_R1, 486) else {
        return;
    };
    assert!(laps.iter().any(|l| l.driver_id == "3") && laps.iter().any(|l| l.driver_id == "3-Legends"));
}

#[test]
fn cota_race_2_imports_both_cars_sharing_number_3() {
    import_matches_raw_figures("cota_race_2_imports_both_cars_sharing_number_3", COTA_R2, 508);
}

#[test]
fn wec_cota_6h_imports_every_row_with_driver_numbers() {
    let test = "wec_cota_6h_imports_every_row_with_driver_numbers";
    let Some(laps) = import_matches_raw_figures(test, WEC_COTA, 3964) else {
        return;
    };
    assert!(
        laps.iter().any(|l| l.driver_id == "007-2"),
        "leading zeros and driver numbers kept"
    );
}

#[test]
fn wec_le_mans_24h_imports_every_row_with_driver_numbers() {
    let test = "wec_le_mans_24h_imports_every_row_with_driver_numbers";
    let Some(laps) = import_matches_raw_figures(test, LE_MANS, 15_593) else {
        return;
    };
    // The longest lap (`17:31:33.055`, h:mm:ss) is read as hours.
    let longest = laps.iter().map(|l| l.lap_time).fold(0.0, f64::max);
    assert!(close(longest, 17.0 * 3600.0 + 31.0 * 60.0 + 33.055), "{longest}");
}

#[test]
fn sessions_are_named_after_the_folders_and_dated_from_the_options() {
    let Some(data) = data_dir("sessions_are_named_after_the_folders_and_dated_from_the_options") else {
        return;
    };
    let cases = [
        (
            BARBER_R1,
            "Barber Motorsports Park",
            "race 1",
            "2025-09-06T13:40:41",
        ),
        (
            COTA_R2,
            "Circuit of the Americas",
            "race 2",
            "2025-09-06T12:14:38",
        ),
        (LE_MANS, "Circuit de la Sarthe", "race", "2025-09-06T16:00:26"),
        (WEC_COTA, "Circuit of the Americas", "race", "2025-09-06T13:00:00"),
    ];
    for (file, circuit, race_type, date) in cases {
        let options = Options {
            date: Some("2025-09-06".into()),
            ..skip()
        };
        let parsed = alkamel::parse(&data.join(file), &options).unwrap();
        assert_eq!(parsed.session.circuit, circuit, "{file}");
        assert_eq!(parsed.session.race_type.as_deref(), Some(race_type), "{file}");
        assert_eq!(parsed.session.date.as_deref(), Some(date), "{file}");
        assert_eq!(parsed.date_source, DateSource::Options);
    }
    // Given options win; a date-time is kept as given; no date at all is the import time.
    let options = Options {
        circuit: Some("Barber".into()),
        race_type: Some("sprint".into()),
        date: Some("2025-09-06T14:00:00".into()),
        ..Options::default()
    };
    let parsed = alkamel::parse(&data.join(BARBER_R1), &options).unwrap();
    let s = &parsed.session;
    assert_eq!(
        (s.circuit.as_str(), s.race_type.as_deref(), s.date.as_deref()),
        ("Barber", Some("sprint"), Some("2025-09-06T14:00:00"))
    );
    let parsed = alkamel::parse(&data.join(BARBER_R1), &Options::default()).unwrap();
    assert_eq!(
        (parsed.session.date.as_deref(), parsed.date_source),
        (None, DateSource::ImportTime)
    );
}

// ---------------------------------------------------------------------------------------------
// Running order against the official classification.

/// `(car number, position)` of a results file (`POS` in `05_`, `POSITION` in `03_`), read raw.
fn classification(path: &Path) -> BTreeMap<String, i64> {
    raw_rows(path)
        .iter()
        .map(|r| {
            let position = r.get("POS").or_else(|| r.get("POSITION")).unwrap();
            (r["NUMBER"].clone(), position.parse().unwrap())
        })
        .collect()
}

/// Each car's position after its last lap, as stored.
fn final_running_order(laps: &[Lap]) -> BTreeMap<String, i64> {
    let mut last: BTreeMap<String, &Lap> = BTreeMap::new();
    for lap in laps {
        let entry = last.entry(lap.driver_id.clone()).or_insert(lap);
        if lap.lap_number > entry.lap_number {
            *entry = lap;
        }
    }
    last.into_iter().map(|(d, l)| (d, l.position.unwrap())).collect()
}

#[test]
fn barber_race_1_running_order_after_the_last_lap_is_the_official_classification() {
    let Some(data) =
        data_dir("barber_race_1_running_order_after_the_last_lap_is_the_official_classification")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = json_store(dir.path());
    let summary = alkamel::import(store.as_ref(), &data.join(BARBER_R1), &Options::default()).unwrap();
    let laps = store.get_session_laps(summary.session.id).unwrap();
    let running = final_running_order(&laps);

    // Race 1's official classification is the by-class file (no official 03_ exists for Race 1);
    // the provisional overall results agree with it.
    let folder = data.join("grcup-aeropulse/barber");
    let official = classification(&folder.join("05_Results by Class GR Cup Race 1 Official_Anonymized.CSV"));
    let provisional = classification(&folder.join("03_Provisional Results_Race 1_Anonymized.CSV"));
    assert_eq!(official.len(), 22);
    assert_eq!(official, provisional);
    assert_eq!(running, official);
    // Car #18 finished a lap down and #88 retired after 13 laps: both ranked behind the cars
    // that completed more laps.
    assert_eq!((running["18"], running["88"]), (21, 22));
}

#[test]
fn a_car_that_retires_keeps_the_position_it_had_when_it_last_crossed_the_line() {
    let Some(data) = data_dir("a_car_that_retires_keeps_the_position_it_had_when_it_last_crossed_the_line")
    else {
        return;
    };
    let parsed = alkamel::parse(&data.join(BARBER_R2), &Options::default()).unwrap();
    let laps: Vec<Lap> = parsed
        .laps
        .iter()
        .enumerate()
        .map(|(i, p)| p.lap.validate(i as Id + 1, "").unwrap())
        .collect();
    let running = final_running_order(&laps);
    let official =
        classification(&data.join("grcup-aeropulse/barber/03_Results GR Cup Race 2 Official_Anonymized.CSV"));
    // #55 stopped after 26 laps while 4th; the results classify it 20th, two laps down. Every
    // other car is where the results put it.
    assert_eq!((running["55"], official["55"]), (4, 20));
    for (car, position) in &official {
        if car != "55" {
            assert_eq!(running[car], *position, "#{car}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Aborted imports change nothing.

/// Everything a store holds, as records.
#[derive(Debug, PartialEq)]
struct Snapshot {
    counts: Counts,
    sessions: Vec<Session>,
    laps: Vec<Lap>,
}

fn snapshot(store: &dyn RaceStore) -> Snapshot {
    Snapshot {
        counts: store.counts().unwrap(),
        sessions: store.get_sessions(&SessionQuery::all()).unwrap(),
        laps: store.get_laps(&LapQuery::all()).unwrap(),
    }
}

/// Every file of a directory and its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

#[test]
fn an_aborted_import_of_a_damaged_cota_export_changes_nothing_in_the_store() {
    let test = "an_aborted_import_of_a_damaged_cota_export_changes_nothing_in_the_store";
    let Some(data) = data_dir(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = json_store(&dir.path().join("store"));
    alkamel::import(store.as_ref(), &data.join(BARBER_R1), &Options::default()).unwrap();
    let before = snapshot(store.as_ref());
    let bytes_before = files(&dir.path().join("store"));

    // COTA race 1 with one lap time of the Legends car #3 made unreadable.
    let text = std::fs::read_to_string(data.join(COTA_R1)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("3;") && l.contains(";Legends"))
        .unwrap();
    let mut cells: Vec<&str> = lines[at].split(';').collect();
    cells[3] = "1:4x.000";
    lines[at] = cells.join(";");
    let damaged = dir
        .path()
        .join("COTA/Race 1/23_AnalysisEnduranceWithSections_Race 1.CSV");
    write_export(&damaged, &(lines.join("\n") + "\n"));

    let err = alkamel::import(store.as_ref(), &damaged, &Options::default()).unwrap_err();
    let Error::Import { file, line, message } = &err else {
        panic!("{err}");
    };
    assert_eq!(file, &damaged);
    assert_eq!(*line, Some(at as u64 + 1));
    assert!(message.contains("LAP_TIME: expected a time like"), "{message}");
    assert!(
        message.contains("1 of its 486 rows cannot be trusted"),
        "{message}"
    );
    assert!(message.contains("nothing was imported"), "{message}");

    assert_eq!(snapshot(store.as_ref()), before);
    assert_eq!(
        files(&dir.path().join("store")),
        bytes_before,
        "the store's files changed"
    );
    // Ids were not used either: the next session is number 2.
    let next = store.create_session(&NewSession::new("Somewhere")).unwrap();
    assert_eq!(next, 2);
}

#[test]
fn an_aborted_import_of_a_file_with_a_garbage_time_changes_nothing_on_any_backend() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("barber/23_Analysis_Race 1.CSV");
    write_export(
        &file,
        &GrCup::rows(&[
            GrCup::lap("13", 1, "1:42.284", "1:42.284"),
            GrCup::lap("22", 1, "1:43.019", "1:43.019"),
            GrCup::lap("13", 2, "1:3x.725", "3:21.000"),
        ]),
    );
    for url in [
        format!("json:{}", dir.path().join("json").display()),
        format!("sqlite:{}", dir.path().join("store.db").display()),
    ] {
        let store = racestore::open(&url).unwrap();
        let session = store.create_session(&NewSession::new("Barber")).unwrap();
        store.save_laps(&[NewLap::new(session, "7", 1, 99.0)]).unwrap();
        let before = snapshot(store.as_ref());
        let err = alkamel::import(store.as_ref(), &file, &Options::default()).unwrap_err();
        assert!(
            matches!(&err, Error::Import { line: Some(4), message, .. } if message.contains("LAP_TIME")),
            "{url}: {err}"
        );
        assert_eq!(snapshot(store.as_ref()), before, "{url}");
        // Skipping imports the two good rows.
        let summary = alkamel::import(store.as_ref(), &file, &skip()).unwrap();
        assert_eq!((summary.session.id, summary.laps_imported), (2, 2), "{url}");
        store.close().unwrap();
    }
}

/// A store whose saves of laps always fail, otherwise the JSON store it wraps.
#[derive(Debug)]
struct LapsFail(Box<dyn RaceStore>);

impl RaceStore for LapsFail {
    fn save(&self, batch: &Batch) -> racestore::Result<SavedIds> {
        if batch.records.iter().any(|r| r.collection() == Collection::Laps) {
            return Err(Error::backend("test", "disk full"));
        }
        self.0.save(batch)
    }
    fn read(&self, query: &Query) -> racestore::Result<Records> {
        self.0.read(query)
    }
    fn session_summaries(&self, query: &SessionQuery) -> racestore::Result<Vec<SessionSummary>> {
        self.0.session_summaries(query)
    }
    fn delete_session(&self, session_id: Id) -> racestore::Result<Counts> {
        self.0.delete_session(session_id)
    }
    fn import(&self, records: &Records) -> racestore::Result<()> {
        self.0.import(records)
    }
    fn backup(&self, destination: &std::path::Path) -> racestore::Result<()> {
        self.0.backup(destination)
    }
    fn read_snapshot(
        &self,
        each: &mut dyn FnMut(&Records) -> racestore::Result<()>,
    ) -> racestore::Result<IdMarks> {
        self.0.read_snapshot(each)
    }
    fn highest_ids(&self) -> racestore::Result<IdMarks> {
        self.0.highest_ids()
    }
    fn reserve_ids(&self, marks: &IdMarks) -> racestore::Result<()> {
        self.0.reserve_ids(marks)
    }
    fn counts(&self) -> racestore::Result<Counts> {
        self.0.counts()
    }
    fn close(&self) -> racestore::Result<()> {
        self.0.close()
    }
}

#[test]
fn when_saving_the_laps_fails_nothing_of_the_file_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("barber/23_Analysis.CSV");
    write_export(
        &file,
        &GrCup::rows(&[GrCup::lap("13", 1, "1:42.284", "1:42.284")]),
    );
    let store = LapsFail(json_store(&dir.path().join("store")));
    store.create_session(&NewSession::new("Barber")).unwrap();
    let before = snapshot(&store);

    let err = alkamel::import(&store, &file, &Options::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Backend { message, .. } if message == "disk full"),
        "{err}"
    );
    assert_eq!(snapshot(&store), before);
    // The file's session was never created: the next session takes the next id.
    assert_eq!(store.create_session(&NewSession::new("Barber")).unwrap(), 2);
}

// ---------------------------------------------------------------------------------------------
// Made-up exports: every quirk and every malformed input.

/// The GR Cup header, verbatim (leading spaces on names 2-15, no trailing `;`).
const GR_CUP_HEADER: &str = "NUMBER; DRIVER_NUMBER; LAP_NUMBER; LAP_TIME; LAP_IMPROVEMENT; CROSSING_FINISH_LINE_IN_PIT; S1; S1_IMPROVEMENT; S2; S2_IMPROVEMENT; S3; S3_IMPROVEMENT; KPH; ELAPSED; HOUR;S1_LARGE;S2_LARGE;S3_LARGE;TOP_SPEED;PIT_TIME;CLASS;GROUP;MANUFACTURER;FLAG_AT_FL;S1_SECONDS;S2_SECONDS;S3_SECONDS;IM1a_time;IM1a_elapsed;IM1_time;IM1_elapsed;IM2a_time;IM2a_elapsed;IM2_time;IM2_elapsed;IM3a_time;IM3a_elapsed;FL_time;FL_elapsed";

/// The WEC header, verbatim but for the BOM and line end `write_export` adds (trailing `;`).
const WEC_HEADER: &str = "NUMBER; DRIVER_NUMBER; LAP_NUMBER; LAP_TIME; LAP_IMPROVEMENT; CROSSING_FINISH_LINE_IN_PIT; S1; S1_IMPROVEMENT; S2; S2_IMPROVEMENT; S3; S3_IMPROVEMENT; KPH; ELAPSED; HOUR;S1_LARGE;S2_LARGE;S3_LARGE;TOP_SPEED;DRIVER_NAME;PIT_TIME;CLASS;GROUP;TEAM;MANUFACTURER;FLAG_AT_FL;S1_SECONDS;S2_SECONDS;S3_SECONDS;";

/// A row of made-up export as column name → cell; unnamed columns are blank.
type Cells = Vec<(&'static str, String)>;

/// Builds lines of a GR Cup export.
struct GrCup;

impl GrCup {
    /// A lap of car `number`, driver 1, green flag, no sectors.
    fn lap(number: &str, lap: i64, lap_time: &str, elapsed: &str) -> Cells {
        vec![
            ("NUMBER", number.into()),
            ("DRIVER_NUMBER", "1".into()),
            ("LAP_NUMBER", lap.to_string()),
            ("LAP_TIME", lap_time.into()),
            ("ELAPSED", elapsed.into()),
            ("FLAG_AT_FL", "GF".into()),
            ("CLASS", "Am".into()),
        ]
    }

    /// The header and one line per row.
    fn rows(rows: &[Cells]) -> String {
        export(GR_CUP_HEADER, rows, "\n")
    }
}

fn set(mut cells: Cells, name: &'static str, value: &str) -> Cells {
    cells.retain(|(n, _)| *n != name);
    cells.push((name, value.into()));
    cells
}

/// An export: `header`, then each row with its cells in the header's columns, lines ended by `eol`.
fn export(header: &str, rows: &[Cells], eol: &str) -> String {
    let mut out = format!("{header}{eol}");
    for row in rows {
        let line: Vec<&str> = header
            .split(';')
            .map(|name| {
                row.iter()
                    .find(|(n, _)| *n == name.trim() && !name.trim().is_empty())
                    .map_or("", |(_, v)| v.as_str())
            })
            .collect();
        out.push_str(&line.join(";"));
        out.push_str(eol);
    }
    out
}

fn write_export(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Parses a made-up export under `barber/` with bad rows skipped.
fn parse_text(text: &str) -> (tempfile::TempDir, PathBuf, Parsed) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("barber/23_AnalysisEnduranceWithSections_Race 1.CSV");
    write_export(&path, text);
    let parsed = alkamel::parse(&path, &skip()).unwrap();
    (dir, path, parsed)
}

/// Two good laps of two cars, then `bad` as lines 6.. of the file.
fn with_bad_rows(bad: &[Cells]) -> String {
    let mut rows = vec![
        GrCup::lap("13", 1, "1:42.284", "1:42.284"),
        GrCup::lap("22", 1, "1:43.019", "1:43.019"),
        GrCup::lap("13", 2, "1:38.000", "3:20.284"),
        GrCup::lap("22", 2, "1:38.100", "3:21.119"),
    ];
    rows.extend_from_slice(bad);
    GrCup::rows(&rows)
}

/// Checks that a made-up file with `bad` rows after four good ones reports exactly `expected`
/// (line, kind, message part) with the file named, skips them, and aborts on them by default.
fn reports(bad: &[Cells], expected: &[(u64, ProblemKind, &str)]) {
    reports_text(&with_bad_rows(bad), 4 + bad.len() - expected.len(), expected);
}

fn reports_text(text: &str, good: usize, expected: &[(u64, ProblemKind, &str)]) {
    let (dir, path, parsed) = parse_text(text);
    assert_eq!(parsed.laps.len(), good, "{:#?}", parsed.problems);
    assert_eq!(parsed.problems.len(), expected.len(), "{:#?}", parsed.problems);
    for (problem, (line, kind, part)) in parsed.problems.iter().zip(expected) {
        assert_eq!((problem.line, problem.kind), (*line, *kind), "{problem}");
        assert!(problem.message.contains(part), "{problem:?} should say {part:?}");
        let shown = problem.to_string();
        assert!(
            shown.starts_with(&format!("{} line {line}: ", path.display())),
            "{shown}"
        );
    }
    // Aborting: an error naming the first problem, and an empty store stays empty.
    let store = json_store(&dir.path().join("store"));
    let err = alkamel::save(
        store.as_ref(),
        &Parsed {
            bad_rows: BadRows::Abort,
            ..parsed.clone()
        },
    )
    .unwrap_err();
    let (line, _, part) = expected[0];
    assert!(
        matches!(&err, Error::Import { line: Some(l), message, .. } if *l == line && message.contains(part)),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("{} line {line}: ", path.display())),
        "{err}"
    );
    assert_eq!(store.counts().unwrap(), Counts::default());
    // Skipping: the good rows only.
    let summary = alkamel::save(store.as_ref(), &parsed).unwrap();
    assert_eq!(summary.laps_imported, good);
    assert_eq!(summary.skipped, parsed.problems);
}

#[test]
fn an_unreadable_lap_time_is_reported_with_file_and_line() {
    let bad = GrCup::lap("13", 3, "1:3x.725", "5:00.000");
    reports(
        &[bad],
        &[(
            6,
            ProblemKind::BadValue,
            r#"LAP_TIME: expected a time like 1:39.725, 1:32:58.334 or 51.77, got "1:3x.725""#,
        )],
    );
}

#[test]
fn a_blank_lap_time_is_reported() {
    reports(
        &[GrCup::lap("13", 3, "", "5:00.000")],
        &[(6, ProblemKind::BadValue, "LAP_TIME is blank")],
    );
}

#[test]
fn an_unreadable_or_blank_elapsed_time_is_reported() {
    reports(
        &[
            GrCup::lap("13", 3, "1:39.000", "4:59,284"),
            GrCup::lap("22", 3, "1:39.000", ""),
        ],
        &[
            (
                6,
                ProblemKind::BadValue,
                r#"ELAPSED: expected a time like 1:39.725, 1:32:58.334 or 51.77, got "4:59,284""#,
            ),
            (
                7,
                ProblemKind::BadValue,
                "ELAPSED is blank, so the car's running order cannot be known",
            ),
        ],
    );
}

#[test]
fn unreadable_sectors_and_pit_times_are_reported() {
    let lap = |n| GrCup::lap("13", n, "1:39.000", &format!("{}:00.000", n * 2));
    reports(
        &[
            set(lap(3), "S2", "42.x"),
            set(lap(4), "S3_SECONDS", "29.1.1"),
            set(lap(5), "PIT_TIME", "0:01:75.000"),
        ],
        &[
            (
                6,
                ProblemKind::BadValue,
                r#"S2: expected a time like 1:39.725, 1:32:58.334 or 51.77, got "42.x""#,
            ),
            (7, ProblemKind::BadValue, r"S3_SECONDS: expected a time"),
            (
                8,
                ProblemKind::BadValue,
                r#"PIT_TIME: expected a time like 1:39.725, 1:32:58.334 or 51.77, got "0:01:75.000""#,
            ),
        ],
    );
}

#[test]
fn a_lap_number_that_is_not_a_number_and_a_blank_car_number_are_reported() {
    reports(
        &[
            GrCup::lap("13", 3, "1:39.000", "5:00.000"),
            set(GrCup::lap("22", 3, "1:39.000", "5:01.000"), "LAP_NUMBER", "3a"),
            GrCup::lap("", 3, "1:39.000", "5:02.000"),
        ],
        &[
            (
                7,
                ProblemKind::BadValue,
                r#"LAP_NUMBER "3a" is not a whole number"#,
            ),
            (8, ProblemKind::BadValue, "NUMBER (the car number) is blank"),
        ],
    );
}

#[test]
fn a_lap_the_model_refuses_is_reported() {
    reports(
        &[
            GrCup::lap("13", 3, "0:00.000", "5:00.000"),
            set(GrCup::lap("22", 3, "1:39.000", "5:01.000"), "LAP_NUMBER", "-1"),
        ],
        &[
            (
                6,
                ProblemKind::InvalidLap,
                "invalid lap_time: must be a positive number of seconds, got 0",
            ),
            (
                7,
                ProblemKind::InvalidLap,
                "invalid lap_number: must not be negative, got -1",
            ),
        ],
    );
}

#[test]
fn a_row_cut_short_or_with_extra_fields_is_reported() {
    let mut text = with_bad_rows(&[]);
    text.push_str("13;1;3;1:39.000;0\n");
    let long = export(
        GR_CUP_HEADER,
        &[GrCup::lap("22", 3, "1:39.000", "5:00.000")],
        "\n",
    );
    text.push_str(long.lines().nth(1).unwrap());
    text.push_str(";x;y\n");
    reports_text(
        &text,
        4,
        &[
            (
                6,
                ProblemKind::WrongFieldCount,
                "has 5 fields where the header has 39",
            ),
            (
                7,
                ProblemKind::WrongFieldCount,
                "has 41 fields where the header has 39",
            ),
        ],
    );
}

#[test]
fn a_lap_number_repeated_for_one_car_is_reported_on_every_copy() {
    reports(
        &[
            GrCup::lap("22", 3, "1:39.000", "5:01.000"),
            GrCup::lap("22", 3, "1:39.500", "5:01.500"),
        ],
        &[
            (
                6,
                ProblemKind::RepeatedLap,
                "lap 3 of car 22 appears 2 times (lines 6, 7)",
            ),
            (
                7,
                ProblemKind::RepeatedLap,
                "lap 3 of car 22 appears 2 times (lines 6, 7)",
            ),
        ],
    );
}

/// One car's laps in a generated export: `(lap, lap time, elapsed)`.
type CarLaps = Vec<(i64, f64, f64)>;

/// Laps of one car for a generated export from its lap times.
fn laps_of(lap_times: &[f64], first_crossing: f64) -> CarLaps {
    let mut elapsed = first_crossing - lap_times[0];
    lap_times
        .iter()
        .zip(1..)
        .map(|(t, lap)| {
            elapsed += t;
            (lap, *t, elapsed)
        })
        .collect()
}

/// `m:ss.fff` (or `h:mm:ss.fff`) of whole milliseconds.
fn clock(seconds: f64) -> String {
    let ms = (seconds * 1000.0).round() as u64;
    let (h, m, s, f) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}.{f:03}")
    } else {
        format!("{m}:{s:02}.{f:03}")
    }
}

/// A generated GR Cup race: car 13 alone, and two cars numbered 3 (`groups`), each car's rows in
/// a block of its own (`blocks`) or all cars' rows by lap (else). Returns the export and, per car
/// as the test expects its id, its laps.
fn shared_number_race(groups: [&str; 2], blocks: bool) -> (String, BTreeMap<String, CarLaps>) {
    let mut cars: Vec<(&str, &str, CarLaps)> = vec![
        (
            "13",
            "",
            laps_of(&[101.284, 98.5, 98.25, 99.0, 98.75, 98.5], 101.284),
        ),
        (
            "3",
            groups[0],
            laps_of(&[102.5, 99.125, 99.0, 120.5, 98.875], 102.5),
        ),
        ("3", groups[1], laps_of(&[103.75, 99.5, 99.625, 99.25], 103.75)),
    ];
    let mut rows: Vec<(i64, usize, Cells)> = Vec::new();
    for (k, (number, group, laps)) in cars.iter().enumerate() {
        for (lap, time, elapsed) in laps {
            let mut cells = GrCup::lap(number, *lap, &clock(*time), &clock(*elapsed));
            cells = set(cells, "GROUP", group);
            rows.push((if blocks { 0 } else { *lap }, k, cells));
        }
    }
    // Blocks: car by car in the order above; else lap by lap.
    rows.sort_by_key(|(lap, k, _)| (*lap, if *lap == 0 { *k } else { 0 }));
    let text = GrCup::rows(&rows.into_iter().map(|(_, _, c)| c).collect::<Vec<_>>());
    let mut expected = BTreeMap::new();
    let ids = match groups {
        ["", ""] => ["3-car1", "3-car2"],
        ["", other] => [
            "3",
            if other.trim() == "Legends" {
                "3-Legends"
            } else {
                "3-P_A"
            },
        ],
        _ => unreachable!("the cases below"),
    };
    for (id, (_, _, laps)) in ["13", ids[0], ids[1]].into_iter().zip(cars.drain(..)) {
        expected.insert(id.to_owned(), laps);
    }
    (text, expected)
}

/// Imports a generated export and checks every car's laps, and its total time in the
/// classification, against what the file says.
fn imports_every_car_exactly(text: &str, expected: &BTreeMap<String, CarLaps>) {
    let (dir, _, parsed) = parse_text(text);
    assert_eq!(parsed.problems, [], "every row is trusted");
    let store = json_store(&dir.path().join("store"));
    let summary = alkamel::save(store.as_ref(), &parsed).unwrap();
    let laps = store.get_session_laps(summary.session.id).unwrap();
    let mut stored: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for lap in &laps {
        stored
            .entry(lap.driver_id.clone())
            .or_default()
            .push((lap.lap_number, lap.lap_time));
    }
    for car in stored.values_mut() {
        car.sort_by_key(|l| l.0);
    }
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "car ids"
    );
    for (id, want) in expected {
        let got = &stored[id];
        assert_eq!(got.len(), want.len(), "{id}: laps");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(*g, (w.0, w.1), "{id}: lap number and time");
        }
    }
    let session = store.get_session(summary.session.id).unwrap().unwrap();
    let analysis = racestore::analysis::race::analyse(&session, &laps);
    for standing in &analysis.classification {
        let want = &expected[standing.competitor.id()];
        assert_eq!(standing.laps, want.len());
        assert!(
            (standing.total_time - want.last().unwrap().2).abs() < 0.0005,
            "{}: total {} vs the file's {}",
            standing.competitor.id(),
            standing.total_time,
            want.last().unwrap().2
        );
    }
}

#[test]
fn two_cars_sharing_a_number_in_separate_blocks_one_with_a_blank_group_import_exactly() {
    // As at COTA: one #3 in group "Legends " (trailing space), one with a blank group; here
    // each car's rows come in a block of their own.
    let (text, expected) = shared_number_race(["", "Legends "], true);
    imports_every_car_exactly(&text, &expected);
    // The same ids whatever the order of the rows: by lap, interleaved.
    let (text, again) = shared_number_race(["", "Legends "], false);
    assert_eq!(again, expected);
    imports_every_car_exactly(&text, &again);
    // A group with characters unfit for ids keeps its letters and digits.
    let (text, expected) = shared_number_race(["", "P/A"], true);
    imports_every_car_exactly(&text, &expected);
}

#[test]
fn two_cars_sharing_a_number_and_a_group_are_told_apart_by_their_elapsed_times() {
    // Nothing in the rows tells the two #3 apart but the continuity of each car's laps: the
    // one first across the line on lap 1 is car1.
    let (text, expected) = shared_number_race(["", ""], true);
    imports_every_car_exactly(&text, &expected);
    let (text, again) = shared_number_race(["", ""], false);
    imports_every_car_exactly(&text, &again);
}

#[test]
fn a_lap_that_continues_no_car_of_a_shared_number_is_reported_and_a_copied_row_is_a_repeated_lap() {
    // Two blank-group #3 (lap 1 at 1:42.000 and 1:43.000) and one lap 2 whose ELAPSED fits
    // neither car's, then a row copied from car1's lap 2.
    reports(
        &[
            GrCup::lap("3", 1, "1:42.000", "1:42.000"),
            GrCup::lap("3", 1, "1:43.000", "1:43.000"),
            GrCup::lap("3", 2, "1:40.000", "3:22.000"),
            GrCup::lap("3", 2, "1:40.000", "3:30.000"),
            GrCup::lap("3", 2, "1:40.000", "3:22.000"),
        ],
        &[
            (
                8,
                ProblemKind::RepeatedLap,
                "lap 2 of car 3-car1 appears 2 times (lines 8, 10)",
            ),
            (
                9,
                ProblemKind::SharedCarNumber,
                "car number 3 is used by more than one car, told apart by their laps' LAP_NUMBER and ELAPSED, and lap 2 (ELAPSED 210.000 s) continues none of them",
            ),
            (
                10,
                ProblemKind::RepeatedLap,
                "lap 2 of car 3-car1 appears 2 times (lines 8, 10)",
            ),
        ],
    );
}

#[test]
fn bom_trailing_separators_extra_columns_other_intermediate_names_and_blank_top_speeds_import() {
    // A WEC-like export with a byte-order mark, a `;` ending every line, lower-case names,
    // columns the importer does not read (driver names, teams, intermediates under names of
    // another series) and blank TOP_SPEED cells.
    let header = "number; driver_number; lap_number; lap_time; lap_improvement; crossing_finish_line_in_pit; s1; s2; s3; kph; elapsed; hour;TOP_SPEED;DRIVER_NAME;TEAM;I1_TIME;I1_ELAPSED;SPLIT 2;INT-3 TIME;CLASS;GROUP;MANUFACTURER;FLAG_AT_FL;";
    let row = |number: &str, lap: &str, time: &str, elapsed: &str, extra: &str| {
        format!("{number};1;{lap};{time};0;;33.1;34.2;35.3;150.1;{elapsed};13:00:00.000;{extra};Ann ONE;Team A;12.5;;;0:45.1;HYPERCAR;;Toyota;GF;")
    };
    let text = format!(
        "\u{feff}{header}\r\n{}\r\n{}\r\n{}\r\n{}\r\n",
        row("8", "1", "1:42.600", "1:42.600", ""),
        row("51", "1", "1:43.000", "1:43.000", "301.2"),
        row("8", "2", "1:42.600", "3:25.200", ""),
        row("51", "2", "1:41.000", "3:24.000", ""),
    );
    let (_dir, _, parsed) = parse_text(&text);
    assert_eq!(parsed.problems, []);
    type Shown<'a> = (&'a str, i64, f64, Option<i64>, Option<f64>);
    let laps: Vec<Shown> = parsed
        .laps
        .iter()
        .map(|p| {
            (
                p.lap.driver_id.as_str(),
                p.lap.lap_number,
                p.lap.lap_time,
                p.lap.position,
                p.lap.sectors.s3,
            )
        })
        .collect();
    assert_eq!(
        laps,
        [
            ("8", 1, 102.6, Some(1), Some(35.3)),
            ("51", 1, 103.0, Some(2), Some(35.3)),
            ("8", 2, 102.6, Some(2), Some(35.3)),
            ("51", 2, 101.0, Some(1), Some(35.3)),
        ]
    );
}

#[test]
fn a_cell_that_is_not_utf8_is_reported_where_it_is_used_and_ignored_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("le_mans/23_Analysis.CSV");
    let rows = [
        set(
            wec_lap("007", "1", 1, "3:40.000", "3:40.000"),
            "DRIVER_NAME",
            "Kevin",
        ),
        wec_lap("008", "1", 1, "3:41.000", "3:41.000"),
    ];
    let text = export(WEC_HEADER, &rows, "\r\n");
    let mut bytes = text.into_bytes();
    // Latin-1 "é" in a driver name (a column the importer does not read), and in a car number.
    let at = bytes.windows(3).position(|w| w == b"Kev").unwrap();
    bytes[at + 1] = 0xE9;
    let at = bytes.windows(4).position(|w| w == b"\n008").unwrap();
    bytes[at + 3] = 0xE9;
    write_export(&path, "");
    std::fs::write(&path, &bytes).unwrap();
    let parsed = alkamel::parse(&path, &skip()).unwrap();
    assert_eq!(parsed.laps.len(), 1, "{:?}", parsed.problems);
    assert_eq!(parsed.problems.len(), 1);
    assert_eq!(
        (parsed.problems[0].line, parsed.problems[0].kind),
        (3, ProblemKind::BadValue),
        "{}",
        parsed.problems[0]
    );
    assert!(
        parsed.problems[0].message.contains("NUMBER is not UTF-8 text"),
        "{}",
        parsed.problems[0]
    );
}

#[test]
fn a_file_that_is_not_a_lap_analysis_is_refused_as_a_whole() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("barber/03_Results.CSV");
    write_export(
        &results,
        "POSITION;NUMBER;STATUS;LAPS;TOTAL_TIME;GAP_FIRST\n1;13;Classified;27;45:15.035;-;\n",
    );
    let err = alkamel::parse(&results, &skip()).unwrap_err();
    assert!(
        matches!(&err, Error::Import { line: Some(1), message, .. } if message.contains("has no LAP_NUMBER column")),
        "{err}"
    );
    assert!(
        err.to_string().contains(
            "03_Results.CSV line 1: has no LAP_NUMBER column, so it is not an Al Kamel lap analysis export"
        ),
        "{err}"
    );

    let empty = dir.path().join("barber/23_Analysis.CSV");
    write_export(&empty, "");
    let err = alkamel::parse(&empty, &skip()).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("23_Analysis.CSV: is empty: expected an Al Kamel lap analysis export"),
        "{err}"
    );

    let missing = dir.path().join("barber/none.CSV");
    assert!(matches!(alkamel::parse(&missing, &skip()), Err(Error::Io { .. })));

    // Only a header: parses, but there is nothing to store.
    write_export(&empty, &format!("{GR_CUP_HEADER}\n"));
    let parsed = alkamel::parse(&empty, &skip()).unwrap();
    assert_eq!((parsed.rows, parsed.laps.len()), (0, 0));
    let store = json_store(&dir.path().join("store"));
    let err = alkamel::save(store.as_ref(), &parsed).unwrap_err();
    assert!(
        err.to_string()
            .contains("has no lap to import (0 rows, 0 of them skipped)"),
        "{err}"
    );
    assert_eq!(store.counts().unwrap(), Counts::default());
}

#[test]
fn a_file_naming_no_known_circuit_needs_the_circuit_and_a_bad_date_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exports/23_Analysis.CSV");
    write_export(
        &path,
        &GrCup::rows(&[GrCup::lap("13", 1, "1:42.284", "1:42.284")]),
    );
    let err = alkamel::parse(&path, &skip()).unwrap_err();
    assert!(
        err.to_string().contains("names no circuit known to the importer"),
        "{err}"
    );
    assert!(err.to_string().contains("--circuit"), "{err}");
    let options = Options {
        circuit: Some("Thunderhill".into()),
        ..skip()
    };
    assert_eq!(
        alkamel::parse(&path, &options).unwrap().session.circuit,
        "Thunderhill"
    );

    for date in ["06/09/2025", "2025-13-01"] {
        let options = Options {
            circuit: Some("Thunderhill".into()),
            date: Some(date.into()),
            ..skip()
        };
        let err = alkamel::parse(&path, &options).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid { field, .. } if field == "date"),
            "{date}: {err}"
        );
    }
    let options = Options {
        circuit: Some("Thunderhill".into()),
        race_type: Some(" ".into()),
        ..skip()
    };
    assert!(
        matches!(alkamel::parse(&path, &options), Err(Error::Invalid { field, .. }) if field == "race_type")
    );
}

/// A WEC lap: car `number`, driver `driver`, green flag, sectors in both forms.
fn wec_lap(number: &str, driver: &str, lap: i64, lap_time: &str, elapsed: &str) -> Cells {
    vec![
        ("NUMBER", number.into()),
        ("DRIVER_NUMBER", driver.into()),
        ("LAP_NUMBER", lap.to_string()),
        ("LAP_TIME", lap_time.into()),
        ("ELAPSED", elapsed.into()),
        ("HOUR", "16:03:40.000".into()),
        ("S1", "1:10.5".into()),
        ("S1_SECONDS", "70.5".into()),
        ("S2", "1:20.25".into()),
        ("S2_SECONDS", "80.25".into()),
        ("S3", String::new()),
        ("S3_SECONDS", String::new()),
        ("DRIVER_NAME", "Kévin ESTRE".into()),
        ("FLAG_AT_FL", "GF".into()),
        ("CLASS", "HYPERCAR".into()),
    ]
}

#[test]
fn wec_files_with_bom_crlf_trailing_separators_and_shared_drivers_import() {
    let rows = [
        // Lap 1: 007 leads, 008 second, 050 third.
        wec_lap("007", "1", 1, "3:40.000", "3:40.000"),
        wec_lap("008", "1", 1, "3:41.000", "3:41.000"),
        wec_lap("050", "1", 1, "3:59.000", "3:59.000"),
        // Lap 2: 007 pits (in-lap) under the safety car; 008 goes by.
        set(
            set(wec_lap("008", "1", 2, "3:40.000", "7:21.000"), "FLAG_AT_FL", "SF"),
            "S3_SECONDS",
            "69.25",
        ),
        set(
            set(
                wec_lap("007", "1", 2, "3:50.000", "7:30.000"),
                "CROSSING_FINISH_LINE_IN_PIT",
                "B",
            ),
            "FLAG_AT_FL",
            "SF",
        ),
        // 050 falls a lap behind: the leader completes lap 3 before it completes lap 2.
        wec_lap("050", "1", 2, "7:31.000", "11:30.000"),
        // Lap 3: 007's out-lap with driver 2, under full-course yellow; 008 under the red flag.
        set(
            wec_lap("008", "1", 3, "3:40.000", "11:01.000"),
            "FLAG_AT_FL",
            "RF",
        ),
        set(
            set(
                wec_lap("007", "2", 3, "4:30.000", "12:00.000"),
                "PIT_TIME",
                "0:01:06.673",
            ),
            "FLAG_AT_FL",
            "FCY",
        ),
        wec_lap("050", "1", 3, "3:35.000", "15:05.000"),
        set(
            wec_lap("008", "1", 4, "1:01:03.500", "1:12:04.500"),
            "FLAG_AT_FL",
            "FF",
        ),
    ];
    let text = format!("\u{feff}{}", export(WEC_HEADER, &rows, "\r\n"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wec/2024/le_mans_24h.csv");
    write_export(&path, &text);
    let options = Options {
        date: Some("2024-06-15".into()),
        ..Options::default()
    };
    let parsed = alkamel::parse(&path, &options).unwrap();
    assert_eq!(parsed.problems, []);
    assert_eq!(parsed.session.circuit, "Circuit de la Sarthe");
    assert_eq!(parsed.session.date.as_deref(), Some("2024-06-15T16:00:00"));

    let store = json_store(&dir.path().join("store"));
    let summary = alkamel::save(store.as_ref(), &parsed).unwrap();
    assert_eq!(summary.laps_imported, 10);
    let laps = store.get_session_laps(summary.session.id).unwrap();
    let shown: Vec<(&str, i64, &str, Option<i64>)> = laps
        .iter()
        .map(|l| {
            (
                l.driver_id.as_str(),
                l.lap_number,
                l.lap_type.as_str(),
                l.position,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("007-1", 1, "RACE_LAP", Some(1)),
            ("008-1", 1, "RACE_LAP", Some(2)),
            ("050-1", 1, "RACE_LAP", Some(3)),
            ("008-1", 2, "SAFETY_CAR", Some(1)),
            ("007-1", 2, "IN_LAP", Some(2)),
            ("050-1", 2, "RACE_LAP", Some(3)),
            ("008-1", 3, "RED_FLAG", Some(1)),
            ("007-2", 3, "OUT_LAP", Some(2)),
            ("050-1", 3, "RACE_LAP", Some(3)),
            ("008-1", 4, "RACE_LAP", Some(1)),
        ]
    );
    assert_eq!((laps[0].lap_time, laps[9].lap_time), (220.0, 3663.5));
    // Sectors: the seconds columns when filled, else the time columns; blank is untimed.
    assert_eq!(
        (laps[0].sector_1, laps[0].sector_2, laps[0].sector_3),
        (Some(70.5), Some(80.25), None)
    );
    assert_eq!(laps[3].sector_3, Some(69.25));
}

#[test]
fn sectors_fall_back_to_the_time_columns_and_fewer_decimals_read_right() {
    let lap = set(
        set(
            set(GrCup::lap("13", 1, "1:42.284", "1:42.284"), "S1", "33.41"),
            "S2",
            "1:03.5",
        ),
        "S3",
        "",
    );
    let (_dir, _path, parsed) = parse_text(&GrCup::rows(&[lap]));
    assert_eq!(parsed.problems, []);
    let s = parsed.laps[0].lap.sectors;
    assert_eq!((s.s1, s.s2, s.s3), (Some(33.41), Some(63.5), None));
    assert_eq!(
        parsed.laps[0].lap.driver_id, "13",
        "single-driver files use the car number alone"
    );
}

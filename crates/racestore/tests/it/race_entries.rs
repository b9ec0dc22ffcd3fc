//! Entries from the real Al Kamel exports, and the race classified per car and class from them.
//!
//! Every expected figure is computed here from the raw file by a separate, deliberately simple
//! reading (split on `;`, cells trimmed, times summed part by part), not by the importer's code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use racestore::analysis::race;
use racestore::import::alkamel::{self, BadRows, Options};
use racestore::{Entry, RaceStore, RaceStoreExt};

use crate::common;

const LE_MANS: &str = "wec-alkamel-y047aka/2024/le_mans_24h.csv";
const WEC_COTA: &str = "wec-alkamel-y047aka/2025/cota_6h.csv";
const BARBER_R1: &str = "grcup-aeropulse/barber/23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV";
const COTA_R1: &str = "grcup-aeropulse/COTA/Race 1/23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV";

fn data_dir(test: &str) -> Option<PathBuf> {
    common::shared_dir(test).map(|shared| shared.join("data"))
}

/// The rows of an export, each as column name → trimmed cell.
fn raw_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(';')
        .map(|h| h.trim().to_owned())
        .collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            header
                .iter()
                .zip(line.split(';'))
                .filter(|(h, _)| !h.is_empty())
                .map(|(h, cell)| (h.clone(), cell.trim().to_owned()))
                .collect()
        })
        .collect()
}

/// Seconds in `ss.fff`, `m:ss.fff` or `h:mm:ss.fff`.
fn seconds(text: &str) -> f64 {
    text.split(':')
        .fold(0.0, |total, part| total * 60.0 + part.parse::<f64>().unwrap())
}

fn import(store: &dyn RaceStore, path: &Path) -> i64 {
    let options = Options {
        bad_rows: BadRows::Skip,
        date: Some("2024-06-15".into()),
        ..Options::default()
    };
    alkamel::import(store, path, &options).unwrap().session.id
}

fn json_store(dir: &Path) -> Box<dyn RaceStore> {
    racestore::open(&format!("json:{}", dir.display())).unwrap()
}

fn blank_is_none(cell: &str) -> Option<String> {
    (!cell.is_empty()).then(|| cell.to_owned())
}

#[test]
fn le_mans_2024_has_62_cars_each_with_its_drivers_names_class_and_team_as_in_the_file() {
    let Some(data) =
        data_dir("le_mans_2024_has_62_cars_each_with_its_drivers_names_class_and_team_as_in_the_file")
    else {
        return;
    };
    let path = data.join(LE_MANS);
    let dir = tempfile::tempdir().unwrap();
    let store = json_store(dir.path());
    let session = import(store.as_ref(), &path);
    let entries = store.get_session_entries(session).unwrap();
    // Stored in the batch of the laps: every lap's driver has its entry, and no entry is idle.
    let lap_drivers: BTreeSet<String> = store
        .get_session_laps(session)
        .unwrap()
        .into_iter()
        .map(|l| l.driver_id)
        .collect();
    let entry_drivers: BTreeSet<String> = entries.iter().map(|e| e.driver_id.clone()).collect();
    assert_eq!(lap_drivers, entry_drivers);

    let raw = raw_rows(&path);
    let mut expected: BTreeMap<String, Entry> = BTreeMap::new();
    for row in &raw {
        let driver_id = format!("{}-{}", row["NUMBER"], row["DRIVER_NUMBER"]);
        expected.entry(driver_id.clone()).or_insert_with(|| Entry {
            id: 0,
            session_id: session,
            car_number: Some(row["NUMBER"].clone()),
            driver_id,
            driver_name: blank_is_none(&row["DRIVER_NAME"]),
            class: blank_is_none(&row["CLASS"]),
            group: blank_is_none(&row["GROUP"]),
            team: blank_is_none(&row["TEAM"]),
            manufacturer: blank_is_none(&row["MANUFACTURER"]),
            vehicle: None,
            created_at: String::new(),
        });
    }
    assert_eq!(entries.len(), 185);
    assert_eq!(expected.len(), 185);
    for entry in &entries {
        let want = Entry {
            id: entry.id,
            created_at: entry.created_at.clone(),
            ..expected[&entry.driver_id].clone()
        };
        assert_eq!(entry, &want);
    }
    let cars: BTreeSet<&str> = entries.iter().filter_map(|e| e.car_number.as_deref()).collect();
    assert_eq!(cars.len(), 62);
    let classes: BTreeSet<&str> = entries.iter().filter_map(|e| e.class.as_deref()).collect();
    assert_eq!(classes, BTreeSet::from(["HYPERCAR", "LMGT3", "LMP2"]));
    let estre = entries
        .iter()
        .find(|e| e.driver_name.as_deref() == Some("Kévin ESTRE"))
        .unwrap();
    assert_eq!(
        (estre.car_number.as_deref(), estre.class.as_deref()),
        (Some("6"), Some("HYPERCAR"))
    );
    // A lap's entry is its driver's.
    let entry = store.get_lap_entry(session, "6-2").unwrap().unwrap();
    assert_eq!(entry.car_number.as_deref(), Some("6"));
    store.close().unwrap();
}

#[test]
fn wec_car_numbers_keep_their_leading_zeros_in_entries_and_the_classification() {
    let Some(data) = data_dir("wec_car_numbers_keep_their_leading_zeros_in_entries_and_the_classification")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = json_store(dir.path());
    let id = import(store.as_ref(), &data.join(WEC_COTA));
    let entry = store.get_lap_entry(id, "007-2").unwrap().unwrap();
    assert_eq!(
        (entry.car_number.as_deref(), entry.class.as_deref()),
        (Some("007"), Some("HYPERCAR"))
    );
    let session = store.get_session(id).unwrap().unwrap();
    let laps = store.get_session_laps(id).unwrap();
    let entries = store.get_session_entries(id).unwrap();
    store.close().unwrap();
    let analysis = race::analyse_entries(&session, &laps, &entries);
    assert_eq!(analysis.classification.len(), 36);
    let car = analysis
        .classification
        .iter()
        .find(|s| s.competitor.id() == "007")
        .unwrap();
    // As the file has it: `007;1;...;Harry TINCKNELL` 74 laps, `007;2;...;Tom GAMBLE` 28.
    let drivers: BTreeSet<(&str, Option<&str>, usize)> = car
        .drivers
        .iter()
        .map(|d| (d.driver_id.as_str(), d.driver_name.as_deref(), d.laps))
        .collect();
    assert_eq!(
        drivers,
        BTreeSet::from([
            ("007-1", Some("Harry TINCKNELL"), 74),
            ("007-2", Some("Tom GAMBLE"), 28)
        ])
    );
    assert_eq!(car.laps, 102);
}

#[test]
fn le_mans_2024_is_classified_as_62_cars_in_the_running_order_at_the_flag_with_class_positions() {
    let Some(data) = data_dir(
        "le_mans_2024_is_classified_as_62_cars_in_the_running_order_at_the_flag_with_class_positions",
    ) else {
        return;
    };
    let path = data.join(LE_MANS);
    let dir = tempfile::tempdir().unwrap();
    let store = json_store(dir.path());
    let id = import(store.as_ref(), &path);
    let session = store.get_session(id).unwrap().unwrap();
    let laps = store.get_session_laps(id).unwrap();
    let entries = store.get_session_entries(id).unwrap();
    store.close().unwrap();
    let analysis = race::analyse_entries(&session, &laps, &entries);

    // The running order at the flag, from the raw file: per car its laps completed and the
    // ELAPSED of its last lap; more laps first, then the earlier crossing.
    #[derive(Default)]
    struct Car {
        laps: i64,
        elapsed: f64,
        class: String,
        team: String,
        drivers: BTreeSet<String>,
        best_lap: f64,
        pit_stops: usize,
    }
    let mut cars: BTreeMap<String, Car> = BTreeMap::new();
    for row in raw_rows(&path) {
        let car = cars.entry(row["NUMBER"].clone()).or_insert_with(|| Car {
            best_lap: f64::INFINITY,
            ..Car::default()
        });
        let lap: i64 = row["LAP_NUMBER"].parse().unwrap();
        if lap > car.laps {
            car.laps = lap;
            car.elapsed = seconds(&row["ELAPSED"]);
        }
        car.class.clone_from(&row["CLASS"]);
        car.team.clone_from(&row["TEAM"]);
        car.drivers.insert(row["DRIVER_NAME"].clone());
        car.best_lap = car.best_lap.min(seconds(&row["LAP_TIME"]));
        car.pit_stops += usize::from(row["CROSSING_FINISH_LINE_IN_PIT"] == "B");
    }
    let mut order: Vec<(&String, &Car)> = cars.iter().collect();
    order.sort_by(|a, b| b.1.laps.cmp(&a.1.laps).then(a.1.elapsed.total_cmp(&b.1.elapsed)));
    assert_eq!(order.len(), 62);

    let shown: Vec<&str> = analysis
        .classification
        .iter()
        .map(|s| s.competitor.id())
        .collect();
    let expected: Vec<&str> = order.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(shown, expected);
    assert_eq!(analysis.counts.competitors, 62);
    assert_eq!(analysis.counts.drivers, 185);

    let mut in_class: BTreeMap<&str, usize> = BTreeMap::new();
    for (standing, (number, car)) in analysis.classification.iter().zip(&order) {
        assert!(standing.competitor.is_car(), "{number}");
        let class_position = in_class.entry(&car.class).or_default();
        *class_position += 1;
        assert_eq!(standing.class.as_deref(), Some(car.class.as_str()), "#{number}");
        assert_eq!(standing.class_position, Some(*class_position), "#{number}");
        assert_eq!(standing.team.as_deref(), Some(car.team.as_str()), "#{number}");
        assert_eq!(standing.laps as i64, car.laps, "#{number}");
        assert!((standing.best_lap - car.best_lap).abs() < 1e-9, "#{number}");
        assert_eq!(standing.pit_stops, car.pit_stops, "#{number}");
        let names: BTreeSet<String> = standing
            .drivers
            .iter()
            .map(|d| d.driver_name.clone().unwrap())
            .collect();
        assert_eq!(names, car.drivers, "#{number}");
        assert_eq!(
            standing.drivers.iter().map(|d| d.laps).sum::<usize>(),
            standing.laps,
            "#{number}"
        );
    }
    // Three classes, each with its own winner.
    assert_eq!(in_class.len(), 3);
    let winners: Vec<(&str, usize)> = analysis
        .classification
        .iter()
        .filter(|s| s.class_position == Some(1))
        .map(|s| (s.class.as_deref().unwrap(), s.position))
        .collect();
    assert_eq!(winners.len(), 3);
    assert_eq!(winners[0].1, 1, "the overall winner wins its class");
}

#[test]
fn gr_cup_entries_carry_class_group_and_manufacturer_and_no_driver_name() {
    let Some(data) = data_dir("gr_cup_entries_carry_class_group_and_manufacturer_and_no_driver_name") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = json_store(dir.path());
    let mut groups: BTreeSet<Option<String>> = BTreeSet::new();
    for file in [BARBER_R1, COTA_R1] {
        let path = data.join(file);
        let session = import(store.as_ref(), &path);
        let entries = store.get_session_entries(session).unwrap();
        let laps = store.get_session_laps(session).unwrap();
        let lap_cars: BTreeSet<&str> = laps.iter().map(|l| l.driver_id.as_str()).collect();
        assert_eq!(entries.len(), lap_cars.len(), "{file}");
        let raw = raw_rows(&path);
        for entry in &entries {
            // A single-driver series: the driver id is the car number, followed by the group for
            // the car with one of COTA's two #3 (`3-Legends`; the other, without a group, is `3`).
            let number = entry.car_number.as_deref().unwrap();
            let expected = match &entry.group {
                Some(group)
                    if raw
                        .iter()
                        .any(|r| r["NUMBER"] == number && r["GROUP"].trim() != group) =>
                {
                    format!("{number}-{group}")
                }
                _ => number.to_owned(),
            };
            assert_eq!(entry.driver_id, expected);
            let row = raw
                .iter()
                .find(|r| r["NUMBER"] == number && blank_is_none(&r["GROUP"]) == entry.group)
                .unwrap();
            assert_eq!(
                entry.class,
                blank_is_none(&row["CLASS"]),
                "{file} #{}",
                entry.driver_id
            );
            assert_eq!(
                entry.group,
                blank_is_none(&row["GROUP"]),
                "{file} #{}",
                entry.driver_id
            );
            assert_eq!(
                entry.manufacturer,
                blank_is_none(&row["MANUFACTURER"]),
                "{file} #{}",
                entry.driver_id
            );
            assert_eq!(
                (entry.driver_name.as_deref(), entry.team.as_deref()),
                (None, None)
            );
            assert_eq!(entry.class.as_deref(), Some("Am"));
        }
        groups.extend(entries.iter().map(|e| e.group.clone()));
    }
    // COTA's `Legends ` (with a space) is trimmed; Barber has no group at all.
    assert_eq!(groups, BTreeSet::from([None, Some("Legends".to_owned())]));
    store.close().unwrap();
}

#[test]
fn entries_take_each_drivers_first_filled_cells_and_read_latin1_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("le_mans/23_Analysis.CSV");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut text =
        b"NUMBER;DRIVER_NUMBER;LAP_NUMBER;LAP_TIME;ELAPSED;DRIVER_NAME;CLASS;GROUP;TEAM;MANUFACTURER\r\n"
            .to_vec();
    text.extend(b"007;1;1;3:40.000;3:40.000;K\xE9vin ESTRE;HYPERCAR;H;Team A;\r\n");
    text.extend(b"008;1;1;3:41.000;3:41.000; ;LMGT3; ;Team B;\r\n");
    text.extend(b"007;2;2;3:39.000;7:19.000;Ann BEE;HYPERCAR;H;Team A;Porsche\r\n");
    text.extend(b"007;1;3;3:38.000;10:57.000;K\xE9vin ESTRE;HYPERCAR;H;Team A;Porsche\r\n");
    std::fs::write(&path, text).unwrap();
    let parsed = alkamel::parse(&path, &Options::default()).unwrap();
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    /// Driver id, car, name, class, group, team, manufacturer.
    type Row<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
    );
    let entries: Vec<Row> = parsed
        .entries
        .iter()
        .map(|e| {
            (
                e.driver_id.as_str(),
                e.car_number.as_deref(),
                e.driver_name.as_deref(),
                e.class.as_deref(),
                e.group.as_deref(),
                e.team.as_deref(),
                e.manufacturer.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            // The manufacturer is blank on 007-1's first row and filled on its second.
            (
                "007-1",
                Some("007"),
                Some("Kévin ESTRE"),
                Some("HYPERCAR"),
                Some("H"),
                Some("Team A"),
                Some("Porsche")
            ),
            (
                "008-1",
                Some("008"),
                None,
                Some("LMGT3"),
                None,
                Some("Team B"),
                None
            ),
            (
                "007-2",
                Some("007"),
                Some("Ann BEE"),
                Some("HYPERCAR"),
                Some("H"),
                Some("Team A"),
                Some("Porsche")
            ),
        ]
    );
    let store = json_store(&dir.path().join("store"));
    let summary = alkamel::save(store.as_ref(), &parsed).unwrap();
    assert_eq!(summary.entries_imported, 3);
    let stored = store.get_session_entries(summary.session.id).unwrap();
    assert!(stored.iter().all(|e| e.session_id == summary.session.id));
    assert_eq!(stored.len(), 3);
    store.close().unwrap();
}

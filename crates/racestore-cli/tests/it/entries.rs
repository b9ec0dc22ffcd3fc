//! The analyst's view of a real WEC race: `show` per car and class, entries in JSON and exports.
//!
//! Expected figures come from the raw export by a deliberately simple reading here (split on
//! `;`, cells trimmed), not from racestore's code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{json_url, racestore, run_ok, shared_dir};

const LE_MANS: &str = "wec-alkamel-y047aka/2024/le_mans_24h.csv";

pub(crate) fn data_dir(test: &str) -> Option<PathBuf> {
    shared_dir(test).map(|shared| shared.join("data"))
}

/// The rows of an Al Kamel export, each as column name → trimmed cell.
pub(crate) fn raw_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
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
pub(crate) fn seconds(text: &str) -> f64 {
    text.split(':')
        .fold(0.0, |total, part| total * 60.0 + part.parse::<f64>().unwrap())
}

/// Imports Le Mans 2024 into a new JSON store: its URL and the raw file's path.
fn le_mans(test: &str, dir: &Path) -> Option<(String, PathBuf)> {
    let data = data_dir(test)?;
    let url = json_url(&dir.join("store"));
    let path = data.join(LE_MANS);
    let out = run_ok(
        racestore()
            .args(["import", "alkamel", "--date", "2024-06-15", "--store", &url])
            .arg(&path),
    );
    assert!(out.contains("185 entries: car, driver, class, team"), "{out}");
    Some((url, path))
}

#[test]
fn show_lists_le_mans_as_62_cars_in_the_running_order_at_the_flag_with_class_positions_and_drivers() {
    let test =
        "show_lists_le_mans_as_62_cars_in_the_running_order_at_the_flag_with_class_positions_and_drivers";
    let dir = tempfile::tempdir().unwrap();
    let Some((url, path)) = le_mans(test, dir.path()) else {
        return;
    };

    // The running order at the flag, from the raw file: more laps first, then the earlier
    // crossing of the line (ELAPSED) at the car's last lap.
    /// Laps completed, ELAPSED at the last, class, drivers' names.
    type Car = (i64, f64, String, BTreeSet<String>);
    let mut cars: BTreeMap<String, Car> = BTreeMap::new();
    for row in raw_rows(&path) {
        let car = cars
            .entry(row["NUMBER"].clone())
            .or_insert_with(|| (0, 0.0, row["CLASS"].clone(), BTreeSet::new()));
        let lap: i64 = row["LAP_NUMBER"].parse().unwrap();
        if lap > car.0 {
            car.0 = lap;
            car.1 = seconds(&row["ELAPSED"]);
        }
        car.3.insert(row["DRIVER_NAME"].clone());
    }
    let mut order: Vec<(&String, &Car)> = cars.iter().collect();
    order.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.1 .1.total_cmp(&b.1 .1)));
    let mut in_class: BTreeMap<&str, usize> = BTreeMap::new();
    let expected: Vec<(usize, String, usize, String, i64)> = order
        .iter()
        .enumerate()
        .map(|(i, (car, (laps, _, class, _)))| {
            let pic = in_class.entry(class).or_default();
            *pic += 1;
            (i + 1, class.clone(), *pic, (*car).clone(), *laps)
        })
        .collect();
    assert_eq!(expected.len(), 62);

    let text = run_ok(racestore().args(["show", "1", "--store", &url]));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].starts_with("62 cars, 185 drivers, 15593 laps"), "{text}");
    let header = lines.iter().position(|l| l.starts_with("POS")).unwrap();
    let heads: Vec<&str> = lines[header].split_whitespace().collect();
    assert_eq!(
        &heads[..6],
        ["POS", "CLASS", "PIC", "CAR", "TEAM", "LAPS"],
        "{text}"
    );
    let table: Vec<&str> = lines[header + 1..]
        .iter()
        .take_while(|l| !l.is_empty())
        .copied()
        .collect();
    // A car's row has its position under POS; its drivers' rows under it leave POS blank.
    let is_car = |line: &str| !line[.."POS".len()].trim().is_empty();
    let car_rows: Vec<Vec<&str>> = table
        .iter()
        .filter(|l| is_car(l))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let shown: Vec<(usize, String, usize, String)> = car_rows
        .iter()
        .map(|r| {
            (
                r[0].parse().unwrap(),
                r[1].to_owned(),
                r[2].parse().unwrap(),
                r[3].to_owned(),
            )
        })
        .collect();
    let want: Vec<(usize, String, usize, String)> = expected
        .iter()
        .map(|(p, c, pic, car, _)| (*p, c.clone(), *pic, car.clone()))
        .collect();
    assert_eq!(shown, want, "{text}");
    assert_eq!(table.len(), 62 + 185, "a line per car and one per driver: {text}");
    // Every driver's name is listed under their car.
    let mut car = "";
    for line in &table {
        if is_car(line) {
            car = line.split_whitespace().nth(3).unwrap();
        } else {
            let names = &cars[car].3;
            assert!(names.iter().any(|n| line.contains(n.as_str())), "#{car}: {line}");
        }
    }
    assert!(text.contains("PIC: position in class."), "{text}");

    // The same as JSON, with the session's entries.
    let shown: Value = serde_json::from_str(&run_ok(
        racestore().args(["show", "1", "--json", "--store", &url]),
    ))
    .unwrap();
    let classification = shown["classification"].as_array().unwrap();
    assert_eq!(classification.len(), 62);
    assert_eq!(shown["entries"].as_array().unwrap().len(), 185);
    assert_eq!(shown["counts"]["competitors"], 62);
    for (standing, (position, class, pic, car, laps)) in classification.iter().zip(&expected) {
        assert_eq!(standing["position"], *position);
        assert_eq!(standing["car"], car.as_str());
        assert_eq!(standing["class"], class.as_str());
        assert_eq!(standing["class_position"], *pic);
        assert_eq!(standing["laps"], *laps);
        let names: BTreeSet<String> = standing["drivers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["driver_name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, cars[car].3, "#{car}");
    }
}

#[test]
fn the_best_lap_per_class_comes_from_the_exported_csv_alone_and_matches_the_raw_file() {
    let test = "the_best_lap_per_class_comes_from_the_exported_csv_alone_and_matches_the_raw_file";
    let dir = tempfile::tempdir().unwrap();
    let Some((url, path)) = le_mans(test, dir.path()) else {
        return;
    };
    let mut raw_best: BTreeMap<String, (f64, String, String)> = BTreeMap::new();
    for row in raw_rows(&path) {
        let time = seconds(&row["LAP_TIME"]);
        let best =
            raw_best
                .entry(row["CLASS"].clone())
                .or_insert((f64::INFINITY, String::new(), String::new()));
        if time < best.0 {
            *best = (time, row["NUMBER"].clone(), row["DRIVER_NAME"].clone());
        }
    }
    assert_eq!(raw_best.len(), 3);

    // From the CSV alone: group by its class column, the least lap_time (seconds) of each.
    let csv_text = run_ok(racestore().args([
        "export",
        "--format",
        "CSV",
        "--with-entries",
        "--session",
        "1",
        "--store",
        &url,
    ]));
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (class, lap_time, car, name) = (at("class"), at("lap_time"), at("car_number"), at("driver_name"));
    let mut csv_best: BTreeMap<String, (f64, String, String)> = BTreeMap::new();
    let mut rows = 0;
    for record in reader.records() {
        let record = record.unwrap();
        rows += 1;
        let time: f64 = record[lap_time].parse().unwrap();
        let best =
            csv_best
                .entry(record[class].to_owned())
                .or_insert((f64::INFINITY, String::new(), String::new()));
        if time < best.0 {
            *best = (time, record[car].to_owned(), record[name].to_owned());
        }
    }
    assert_eq!(rows, 15_593);
    assert_eq!(csv_best.len(), raw_best.len());
    for (class, (time, car, name)) in &raw_best {
        let got = &csv_best[class];
        assert!((got.0 - time).abs() < 1e-9, "{class}: {got:?} vs {time}");
        assert_eq!((&got.1, &got.2), (car, name), "{class}");
    }

    // The entries on their own: one row per car and driver, car numbers as written.
    let entries = run_ok(racestore().args([
        "export",
        "--collection",
        "Entries",
        "--format",
        "csv",
        "--store",
        &url,
    ]));
    let mut reader = csv::Reader::from_reader(entries.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(
        header,
        [
            "id",
            "session_id",
            "car_number",
            "driver_id",
            "driver_name",
            "class",
            "group",
            "team",
            "manufacturer",
            "vehicle",
            "created_at"
        ]
    );
    assert_eq!(reader.records().count(), 185);

    // The help states the units.
    let help = run_ok(racestore().args(["export", "--help"]));
    assert!(
        help.contains("lap_time and sector_1..sector_3 are seconds"),
        "{help}"
    );
}

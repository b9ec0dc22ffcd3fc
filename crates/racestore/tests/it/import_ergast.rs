//! The Ergast importer (`racestore::import::ergast`).
//!
//! Every race of `shared/data/ergast-f1-2020-2024` is imported and compared with the raw tables,
//! read here by the csv crate alone (not by the importer's code). The canonical table shapes
//! (camelCase headers, `circuits.csv`, race times) come from `ergast-f1db-2020-partial`, which has
//! no lap times, and from tables made up in temporary folders, as do the bad ones.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use racestore::analysis::race;
use racestore::import::ergast::{self, Options};
use racestore::import::Existing;
use racestore::model::{lap_type, Entry};
use racestore::{Counts, Error, Lap, RaceStore, RaceStoreExt};

/// `shared/data/NAME` beside the repository, or `None` after printing a visible SKIP line; with
/// `CI` set, its absence fails the test instead.
fn data_dir(test: &str, name: &str) -> Option<PathBuf> {
    let shared = std::env::var_os("RACESTORE_SHARED").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    );
    let data = shared.join("data").join(name);
    if data.is_dir() {
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

fn json_store(dir: &Path) -> Box<dyn RaceStore> {
    racestore::open(&format!("json:{}", dir.display())).unwrap()
}

/// A table read by the csv crate: rows of cells by lower-cased column name.
fn table(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_lowercase).collect();
    reader
        .records()
        .map(|record| {
            header
                .iter()
                .cloned()
                .zip(record.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

fn int(row: &HashMap<String, String>, column: &str) -> i64 {
    row[column].parse().unwrap()
}

/// One driver's laps as `(lap, milliseconds, position)`, by lap.
type DriverLaps = Vec<(i64, i64, i64)>;

#[test]
fn every_race_of_2020_to_2024_is_stored_as_its_lap_times_say() {
    let test = "every_race_of_2020_to_2024_is_stored_as_its_lap_times_say";
    let Some(dir) = data_dir(test, "ergast-f1-2020-2024") else {
        return;
    };
    // The raw tables.
    let refs: HashMap<i64, String> = table(&dir.join("drivers.csv"))
        .iter()
        .map(|r| (int(r, "driverid"), r["driverref"].clone()))
        .collect();
    let mut raw: BTreeMap<i64, BTreeMap<String, DriverLaps>> = BTreeMap::new();
    for r in table(&dir.join("lap_times.csv")) {
        raw.entry(int(&r, "raceid"))
            .or_default()
            .entry(refs[&int(&r, "driverid")].clone())
            .or_default()
            .push((int(&r, "lap"), int(&r, "milliseconds"), int(&r, "position")));
    }
    let mut raw_pits: HashMap<(i64, String), BTreeSet<i64>> = HashMap::new();
    for r in table(&dir.join("pit_stops.csv")) {
        raw_pits
            .entry((int(&r, "raceid"), refs[&int(&r, "driverid")].clone()))
            .or_default()
            .insert(int(&r, "lap"));
    }
    let constructors: HashMap<String, String> = table(&dir.join("constructors.csv"))
        .into_iter()
        .map(|r| (r["constructorid"].clone(), r["constructor_name"].clone()))
        .collect();
    let names: HashMap<String, String> = table(&dir.join("drivers.csv"))
        .into_iter()
        .map(|r| {
            (
                r["driverref"].clone(),
                format!("{} {}", r["forename"], r["surname"]),
            )
        })
        .collect();
    let mut results: BTreeMap<i64, Vec<(i64, String)>> = BTreeMap::new();
    let mut cars: HashMap<(i64, String), (String, String)> = HashMap::new();
    for r in table(&dir.join("results.csv")) {
        let (race, driver) = (int(&r, "raceid"), refs[&int(&r, "driverid")].clone());
        results
            .entry(race)
            .or_default()
            .push((int(&r, "positionorder"), driver.clone()));
        cars.insert(
            (race, driver),
            (r["number"].clone(), constructors[&r["constructorid"]].clone()),
        );
    }
    let races_listed = table(&dir.join("races.csv")).len();

    let store_dir = tempfile::tempdir().unwrap();
    let store = json_store(store_dir.path());
    let report = ergast::import(store.as_ref(), &dir, &Options::default()).unwrap();
    assert_eq!(report.imported.len(), 107);
    assert_eq!(
        report.imported.len() + report.races_without_laps.len(),
        races_listed
    );
    assert_eq!(report.imported.iter().map(|r| r.laps).sum::<usize>(), 116_577);
    assert_eq!(report.missing_tables, ["circuits.csv"]);
    assert_eq!(store.counts().unwrap().laps(), 116_577);

    let mut differing = Vec::new();
    for summary in &report.imported {
        let race_id = summary.race.race_id;
        let session = &summary.session;
        assert_eq!(
            session.circuit, summary.race.name,
            "no circuits.csv: the race's name"
        );
        assert_eq!(session.race_type, "race");
        let laps = store.get_session_laps(session.id).unwrap();
        let mut stored: BTreeMap<String, Vec<&Lap>> = BTreeMap::new();
        for lap in &laps {
            stored.entry(lap.driver_id.clone()).or_default().push(lap);
        }
        let expected = &raw[&race_id];
        assert_eq!(
            stored.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "race {race_id}: drivers"
        );
        for (driver, raw_laps) in expected {
            let mut raw_laps = raw_laps.clone();
            raw_laps.sort_unstable();
            let mine: DriverLaps = stored[driver]
                .iter()
                .map(|l| {
                    let ms = (l.lap_time * 1000.0).round();
                    assert_eq!(
                        ms / 1000.0,
                        l.lap_time,
                        "race {race_id} {driver}: whole milliseconds"
                    );
                    (l.lap_number, ms as i64, l.position.unwrap())
                })
                .collect();
            assert_eq!(
                mine, raw_laps,
                "race {race_id} {driver}: lap, milliseconds, position"
            );
            let in_laps: BTreeSet<i64> = stored[driver]
                .iter()
                .filter(|l| l.lap_type == lap_type::IN_LAP)
                .map(|l| l.lap_number)
                .collect();
            let pits = raw_pits.remove(&(race_id, driver.clone())).unwrap_or_default();
            assert_eq!(
                in_laps, pits,
                "race {race_id} {driver}: in-laps are the pit stops' laps"
            );
            for lap in &stored[driver] {
                let after_stop = pits.contains(&(lap.lap_number - 1)) && !pits.contains(&lap.lap_number);
                let kind = match (pits.contains(&lap.lap_number), after_stop) {
                    (true, _) => lap_type::IN_LAP,
                    (false, true) => lap_type::OUT_LAP,
                    (false, false) => lap_type::RACE_LAP,
                };
                assert_eq!(
                    lap.lap_type, kind,
                    "race {race_id} {driver} lap {}",
                    lap.lap_number
                );
            }
        }

        // The classification racestore computes is the running order at each driver's last lap.
        let mut running: Vec<(&String, i64, i64)> = expected
            .iter()
            .map(|(driver, laps)| {
                let last = laps.iter().max().unwrap();
                (driver, last.0, last.2)
            })
            .collect();
        running.sort_by_key(|&(_, lap, position)| (-lap, position));
        let running: Vec<&str> = running.iter().map(|(d, _, _)| d.as_str()).collect();
        let analysis = race::analyse(session, &laps);
        let classified: Vec<&str> = analysis
            .classification
            .iter()
            .map(|s| s.competitor.id())
            .collect();
        assert_eq!(classified, running, "race {race_id}: classification");

        // results.csv's order differs where stewards changed the result; listed, not asserted.
        let mut official = results.get(&race_id).cloned().unwrap_or_default();
        official.sort();
        let official: Vec<&str> = official
            .iter()
            .map(|(_, d)| d.as_str())
            .filter(|d| expected.contains_key(*d))
            .collect();
        if official != classified {
            let at = official
                .iter()
                .zip(&classified)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            differing.push(format!(
                "race {race_id} {} {}: from P{} results.csv has {} where the laps give {}",
                summary.race.year,
                summary.race.name,
                at + 1,
                official[at..]
                    .iter()
                    .take(3)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", "),
                classified[at..]
                    .iter()
                    .take(3)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }

        // Entries: name, car number and constructor of each driver with laps.
        let entries = store.get_session_entries(session.id).unwrap();
        assert_eq!(
            entries.len(),
            expected.len(),
            "race {race_id}: one entry per driver"
        );
        for entry in &entries {
            let (number, team) = &cars[&(race_id, entry.driver_id.clone())];
            assert_eq!(entry.car_number.as_ref(), Some(number), "race {race_id}");
            assert_eq!(entry.team.as_ref(), Some(team), "race {race_id}");
            assert_eq!(entry.driver_name.as_ref(), Some(&names[&entry.driver_id]));
        }
    }
    assert!(raw_pits.is_empty(), "pit stops of no stored driver: {raw_pits:?}");
    eprintln!(
        "{} of {} races: results.csv orders drivers otherwise than their laps (penalties, disqualifications):",
        differing.len(),
        report.imported.len()
    );
    for line in &differing {
        eprintln!("  {line}");
    }
}

// ---------------------------------------------------------------------------------------------
// Made-up tables in the canonical shape.

const RACES: &str = r#"raceId,year,round,circuitId,name,date,time,url
1,2019,1,1,"Australian Grand Prix","2019-03-17","05:10:00","http://x"
2,2019,2,2,"Bahrain Grand Prix","2019-03-31","15:10:00","http://x"
3,2020,1,2,"Bahrain Grand Prix","2020-11-29",\N,"http://x"
"#;
const CIRCUITS: &str = r#"circuitId,circuitRef,name,location,country,lat,lng,alt,url
1,"albert_park","Albert Park Grand Prix Circuit","Melbourne","Australia",-37.8497,144.968,10,"http://x"
2,"bahrain","Bahrain International Circuit","Sakhir","Bahrain",26.0325,50.5106,\N,"http://x"
"#;
const DRIVERS: &str = r#"driverId,driverRef,number,code,forename,surname,dob,nationality,url
1,"hamilton",44,"HAM","Lewis","Hamilton","1985-01-07","British","http://x"
20,"vettel",5,"VET","Sebastian","Vettel","1987-07-03","German","http://x"
30,\N,\N,\N,"Kimi","Räikkönen","1979-10-17","Finnish","http://x"
40,"schumacher",\N,"MSC","Michael","Schumacher","1969-01-03","German","http://x"
41,"schumacher",47,"MSC","Mick","Schumacher","1999-03-22","German","http://x"
"#;
const LAP_TIMES: &str = "raceId,driverId,lap,position,time,milliseconds
1,1,1,1,\"1:30.100\",90100
1,20,1,2,\"1:31.000\",91000
1,1,2,1,\"1:29.000\",89000
1,20,2,2,\"1:35.000\",95000
1,1,3,1,\"1:29.500\",89500
1,20,3,2,\"1:28.000\",88000
3,30,1,1,\"1:40.000\",100000
3,40,1,2,\"1:41.000\",101000
3,41,1,3,\"1:42.000\",102000
";
const PIT_STOPS: &str = "raceId,driverId,stop,lap,time,duration,milliseconds
1,20,1,2,\"15:40:00\",\"22.1\",22100
1,1,1,3,\"15:42:00\",\"21.0\",21000
1,1,2,9,\"15:52:00\",\"21.0\",21000
";
const RESULTS: &str = "resultId,raceId,driverId,constructorId,number,grid,position,positionText,positionOrder,points,laps,time,milliseconds,fastestLap,rank,fastestLapTime,fastestLapSpeed,statusId
1,1,1,131,44,1,1,\"1\",1,25,3,\"4:28.6\",268600,3,1,\"1:29.000\",\"210\",1
2,1,20,6,5,2,2,\"2\",2,18,3,\"+1.0\",\\N,3,2,\"1:28.000\",\"211\",1
3,3,30,51,7,1,1,\"1\",1,25,1,\\N,\\N,\\N,\\N,\\N,\\N,1
";
const CONSTRUCTORS: &str = r#"constructorId,constructorRef,name,nationality,url
6,"ferrari","Ferrari","Italian","http://x"
131,"mercedes","Mercedes","German","http://x"
"#;

/// An entry as `(driver id, car number, driver name, team)`.
type EntryRow<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);

fn entry_rows(entries: &[Entry]) -> Vec<EntryRow<'_>> {
    entries
        .iter()
        .map(|e| {
            (
                e.driver_id.as_str(),
                e.car_number.as_deref(),
                e.driver_name.as_deref(),
                e.team.as_deref(),
            )
        })
        .collect()
}

/// A folder of tables: `(file name, contents)`.
fn tables(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn canonical() -> Vec<(&'static str, &'static str)> {
    vec![
        ("races.csv", RACES),
        ("circuits.csv", CIRCUITS),
        ("drivers.csv", DRIVERS),
        ("lap_times.csv", LAP_TIMES),
        ("pit_stops.csv", PIT_STOPS),
        ("results.csv", RESULTS),
        ("constructors.csv", CONSTRUCTORS),
    ]
}

#[test]
fn canonical_tables_give_circuits_utc_start_times_lap_types_ids_and_entries() {
    let dir = tables(&canonical());
    let store_dir = tempfile::tempdir().unwrap();
    let store = json_store(store_dir.path());
    let report = ergast::import(store.as_ref(), dir.path(), &Options::default()).unwrap();

    let imported: Vec<(i64, &str, &str, &str)> = report
        .imported
        .iter()
        .map(|r| {
            (
                r.race.race_id,
                r.session.circuit.as_str(),
                r.session.date.as_str(),
                r.session.race_type.as_str(),
            )
        })
        .collect();
    assert_eq!(
        imported,
        [
            (
                1,
                "Albert Park Grand Prix Circuit",
                "2019-03-17T05:10:00+00:00",
                "race"
            ),
            (3, "Bahrain International Circuit", "2020-11-29T00:00:00", "race"),
        ]
    );
    let without: Vec<(i64, &str)> = report
        .races_without_laps
        .iter()
        .map(|r| (r.race_id, r.name.as_str()))
        .collect();
    assert_eq!(without, [(2, "Bahrain Grand Prix")], "counted, not stored");
    assert_eq!(store.counts().unwrap().sessions(), 2);
    assert!(report.missing_tables.is_empty());

    // Race 1: pit stops make in- and out-laps; a stop on a lap without a time is counted.
    let first = &report.imported[0];
    assert_eq!(
        (
            first.laps,
            first.drivers,
            first.pit_stops,
            first.pit_stops_without_lap
        ),
        (6, 2, 2, 1)
    );
    let laps = store.get_session_laps(first.session.id).unwrap();
    let described: Vec<(&str, i64, f64, &str, Option<i64>)> = laps
        .iter()
        .map(|l| {
            (
                l.driver_id.as_str(),
                l.lap_number,
                l.lap_time,
                l.lap_type.as_str(),
                l.position,
            )
        })
        .collect();
    assert_eq!(
        described,
        [
            ("hamilton", 1, 90.1, "RACE_LAP", Some(1)),
            ("vettel", 1, 91.0, "RACE_LAP", Some(2)),
            ("hamilton", 2, 89.0, "RACE_LAP", Some(1)),
            ("vettel", 2, 95.0, "IN_LAP", Some(2)),
            ("hamilton", 3, 89.5, "IN_LAP", Some(1)),
            ("vettel", 3, 88.0, "OUT_LAP", Some(2)),
        ]
    );
    let entries = store.get_session_entries(first.session.id).unwrap();
    let described = entry_rows(&entries);
    assert_eq!(
        described,
        [
            ("hamilton", Some("44"), Some("Lewis Hamilton"), Some("Mercedes")),
            ("vettel", Some("5"), Some("Sebastian Vettel"), Some("Ferrari")),
        ]
    );

    // Race 3: a null driverRef, and a driverRef two drivers share, give driver-ID; a result
    // naming a constructor constructors.csv lacks gives no team; no result, no car number.
    let laps = store.get_session_laps(report.imported[1].session.id).unwrap();
    let ids: Vec<&str> = laps.iter().map(|l| l.driver_id.as_str()).collect();
    assert_eq!(ids, ["driver-30", "driver-40", "driver-41"]);
    let entries = store.get_session_entries(report.imported[1].session.id).unwrap();
    let described = entry_rows(&entries);
    assert_eq!(
        described,
        [
            ("driver-30", Some("7"), Some("Kimi Räikkönen"), None),
            ("driver-40", None, Some("Michael Schumacher"), None),
            ("driver-41", None, Some("Mick Schumacher"), None),
        ]
    );
}

#[test]
fn seasons_and_races_choose_what_is_imported_and_unknown_ones_are_refused() {
    let dir = tables(&canonical());
    let chosen = |options: Options| -> (Vec<i64>, Vec<i64>) {
        let parsed = ergast::parse(dir.path(), &options).unwrap();
        (
            parsed.races.iter().map(|r| r.race.race_id).collect(),
            parsed.races_without_laps.iter().map(|r| r.race_id).collect(),
        )
    };
    assert_eq!(chosen(Options::default()), (vec![1, 3], vec![2]));
    assert_eq!(
        chosen(Options {
            seasons: vec![2019],
            races: vec![],
            ..Options::default()
        }),
        (vec![1], vec![2])
    );
    assert_eq!(
        chosen(Options {
            seasons: vec![2020],
            races: vec![],
            ..Options::default()
        }),
        (vec![3], vec![])
    );
    assert_eq!(
        chosen(Options {
            seasons: vec![],
            races: vec![3, 2],
            ..Options::default()
        }),
        (vec![3], vec![2])
    );
    assert_eq!(
        chosen(Options {
            seasons: vec![2020],
            races: vec![1],
            ..Options::default()
        }),
        (vec![1, 3], vec![])
    );

    let refused = |options: Options| ergast::parse(dir.path(), &options).unwrap_err().to_string();
    let races = dir.path().join("races.csv");
    assert_eq!(
        refused(Options {
            seasons: vec![],
            races: vec![99],
            ..Options::default()
        }),
        format!("{}: has no race 99 (asked for with --race)", races.display())
    );
    assert_eq!(
        refused(Options {
            seasons: vec![1950],
            races: vec![],
            ..Options::default()
        }),
        format!(
            "{}: has no race of season 1950 (asked for with --season)",
            races.display()
        )
    );
}

#[test]
fn lower_case_headers_crlf_and_no_optional_table_import_too() {
    // Header names lower-cased (as the Kaggle republication writes them), CRLF line ends.
    let crlf = |text: &str| {
        let (header, rows) = text.split_once('\n').unwrap();
        format!("{}\n{rows}", header.to_lowercase()).replace('\n', "\r\n")
    };
    let (races, drivers, laps) = (crlf(RACES), crlf(DRIVERS), crlf(LAP_TIMES));
    let dir = tables(&[
        ("races.csv", &races),
        ("drivers.csv", &drivers),
        ("lap_times.csv", &laps),
    ]);
    let store_dir = tempfile::tempdir().unwrap();
    let store = json_store(store_dir.path());
    let report = ergast::import(store.as_ref(), dir.path(), &Options::default()).unwrap();
    assert_eq!(
        report.missing_tables,
        ["circuits.csv", "results.csv", "constructors.csv", "pit_stops.csv"]
    );
    let circuits: Vec<&str> = report
        .imported
        .iter()
        .map(|r| r.session.circuit.as_str())
        .collect();
    assert_eq!(
        circuits,
        ["Australian Grand Prix", "Bahrain Grand Prix"],
        "the races' names"
    );
    let laps = store.get_session_laps(report.imported[0].session.id).unwrap();
    assert!(laps.iter().all(|l| l.lap_type == lap_type::RACE_LAP));
    assert_eq!(laps.len(), 6);
    let entries = store.get_session_entries(report.imported[0].session.id).unwrap();
    assert_eq!(entries[0].driver_name.as_deref(), Some("Lewis Hamilton"));
    assert_eq!(
        (entries[0].car_number.as_deref(), entries[0].team.as_deref()),
        (None, None)
    );
}

/// Imports `files` into a fresh store: the error, and the store's counts after it.
fn refused(files: &[(&str, &str)]) -> (String, Counts, PathBuf) {
    let dir = tables(files);
    let store_dir = tempfile::tempdir().unwrap();
    let store = json_store(store_dir.path());
    let err = ergast::import(store.as_ref(), dir.path(), &Options::default()).unwrap_err();
    assert!(matches!(err, Error::Import { .. } | Error::Io { .. }), "{err:?}");
    let counts = store.counts().unwrap();
    (err.to_string(), counts, dir.keep())
}

#[test]
fn a_bad_cell_or_row_is_refused_naming_file_line_and_column_and_nothing_is_stored() {
    let with_laps = |laps: &str| {
        let mut files = canonical();
        files.retain(|(name, _)| *name != "lap_times.csv");
        let text: &'static str =
            Box::leak(format!("raceId,driverId,lap,position,time,milliseconds\n{laps}").into_boxed_str());
        files.push(("lap_times.csv", text));
        files
    };
    for (laps, message) in [
        (
            "1,1,1,1,\"1:30\",90000\n1,1,2,1,\"1:30\",9x000\n",
            "line 3: column milliseconds: expected a whole number, got \"9x000\"",
        ),
        (
            "1,1,1,1,\"1:30\",\\N\n",
            "line 2: column milliseconds: is blank where a whole number is needed",
        ),
        (
            "1,1,1,1,\"1:30\",0\n",
            "line 2: column milliseconds: must be a positive number of milliseconds, got 0",
        ),
        (
            "1,1,-1,1,\"1:30\",90000\n",
            "line 2: column lap: must not be negative, got -1",
        ),
        (
            "1,1,1,0,\"1:30\",90000\n",
            "line 2: column position: must be 1 or more, got 0",
        ),
        (
            "1,1,1,1,\"1:30\",90000\n1,1,1,1,\"1:30\",90000\n",
            "line 3: column lap: lap 1 of driver 1 in race 1 appears twice (lines 2 and 3)",
        ),
        (
            "1,99,1,1,\"1:30\",90000\n",
            "line 2: column driverId: driver 99 is not in drivers.csv",
        ),
        (
            "7,1,1,1,\"1:30\",90000\n",
            "line 2: column raceId: race 7 is not in races.csv",
        ),
        ("1,1,1,1,90000\n", "line 2: has 5 fields where the header has 6"),
        (
            "1,1,1,1,\"1:30\n,90000\n",
            "line 2: has 5 fields where the header has 6",
        ),
    ] {
        let (err, counts, dir) = refused(&with_laps(laps));
        assert_eq!(
            err,
            format!("{}/lap_times.csv {message}", dir.display()),
            "{laps:?}"
        );
        assert_eq!(counts, Counts::default(), "nothing stored: {laps:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    // The other tables, and missing tables and columns.
    let replaced = |name: &'static str, text: &'static str| {
        let mut files = canonical();
        files.retain(|(n, _)| *n != name);
        files.push((name, text));
        files
    };
    for (files, file, message) in [
        (
            replaced("races.csv", "raceId,year,round,circuitId,name,date,time\n1,2019,1,1,\"A\",\"2019-02-30\",\\N\n"),
            "races.csv",
            "line 2: column date: expected a date like 2025-09-06, a date and time like 2025-09-06T14:00:00, or one with an offset like 2025-09-06T14:00:00+02:00; \"2019-02-30\" is not one (or no such day exists)",
        ),
        (
            replaced("races.csv", "raceId,year,round,circuitId,name,date,time\n1,2019,1,9,\"A\",\"2019-03-17\",\\N\n"),
            "races.csv",
            "line 2: column circuitId: circuit 9 is not in circuits.csv",
        ),
        (
            replaced("races.csv", "raceId,year,round,circuitId,name,date,time\n1,2019,1,1,\"A\",\"2019-03-17\",\"25:00:00\"\n"),
            "races.csv",
            "line 2: columns date and time: expected a date like 2025-09-06, a date and time like 2025-09-06T14:00:00, or one with an offset like 2025-09-06T14:00:00+02:00; \"2019-03-17T25:00:00Z\" is not one (or no such day exists)",
        ),
        (
            replaced("races.csv", "raceId,season,name,date\n1,2019,\"A\",\"2019-03-17\"\n"),
            "races.csv",
            "line 1: has no column year (case ignored); its columns are raceId, season, name, date",
        ),
        (
            replaced("constructors.csv", "constructorId,constructorRef\n6,\"ferrari\"\n"),
            "constructors.csv",
            "line 1: has no column name (nor constructor_name) (case ignored); its columns are constructorId, constructorRef",
        ),
        (
            replaced("pit_stops.csv", "raceId,driverId,stop,lap\n1,20,1,two\n"),
            "pit_stops.csv",
            "line 2: column lap: expected a whole number, got \"two\"",
        ),
        (
            replaced("drivers.csv", "driverId,driverRef\n1,\"hamilton\"\n1,\"vettel\"\n"),
            "drivers.csv",
            "line 3: column driverId: driver 1 is listed twice (lines 2 and 3)",
        ),
    ] {
        let (err, counts, dir) = refused(&files);
        assert_eq!(err, format!("{}/{file} {message}", dir.display()));
        assert_eq!(counts, Counts::default());
        std::fs::remove_dir_all(dir).unwrap();
    }
    let mut files = canonical();
    files.retain(|(n, _)| *n != "lap_times.csv");
    let (err, counts, dir) = refused(&files);
    assert_eq!(
        err,
        format!(
            "{0}/lap_times.csv: is missing: {0} needs races.csv, lap_times.csv and drivers.csv (Ergast's f1db_csv tables)",
            dir.display()
        )
    );
    assert_eq!(counts, Counts::default());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_canonical_f1db_tables_name_the_circuit_and_the_start_time_of_a_race() {
    let test = "the_canonical_f1db_tables_name_the_circuit_and_the_start_time_of_a_race";
    let Some(f1db) = data_dir(test, "ergast-f1db-2020-partial") else {
        return;
    };
    // The real tables (no lap times), with the first three laps of two drivers of the 2020
    // Austrian Grand Prix (raceId 1031) made up in the canonical shape.
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&f1db).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let mut laps = String::from("raceId,driverId,lap,position,time,milliseconds\n");
    for lap in 1..=3 {
        laps.push_str(&format!("1031,822,{lap},1,\"1:10.000\",{}\n", 70_000 + lap));
        laps.push_str(&format!("1031,1,{lap},2,\"1:11.000\",{}\n", 71_000 + lap));
    }
    std::fs::write(dir.path().join("lap_times.csv"), laps).unwrap();

    let store_dir = tempfile::tempdir().unwrap();
    let store = json_store(store_dir.path());
    let options = Options {
        seasons: vec![2020],
        races: vec![],
        ..Options::default()
    };
    let report = ergast::import(store.as_ref(), dir.path(), &options).unwrap();
    let [race] = &report.imported[..] else {
        panic!("{report:?}")
    };
    assert_eq!(race.session.circuit, "Red Bull Ring");
    assert_eq!(race.session.date, "2020-07-05T13:10:00+00:00");
    assert_eq!(race.race.name, "Austrian Grand Prix");
    // races.csv lists the 2020 rounds beyond the last result: counted, not stored.
    let seasons_races = table(&f1db.join("races.csv"))
        .iter()
        .filter(|r| r["year"] == "2020")
        .count();
    assert_eq!(report.races_without_laps.len(), seasons_races - 1);
    let entries = store.get_session_entries(race.session.id).unwrap();
    let described = entry_rows(&entries);
    assert_eq!(
        described,
        [
            ("bottas", Some("77"), Some("Valtteri Bottas"), Some("Mercedes")),
            ("hamilton", Some("44"), Some("Lewis Hamilton"), Some("Mercedes")),
        ]
    );
    // Their real pit stops were on later laps, which have no time here.
    assert_eq!(race.pit_stops, 0);
    assert!(race.pit_stops_without_lap >= 2);
}

#[test]
fn a_race_stored_already_is_refused_skipped_so_a_stopped_import_resumes_or_replaced() {
    let dir = tables(&canonical());
    let store_dir = tempfile::tempdir().unwrap();
    let store = json_store(store_dir.path());
    // A first import that stopped after race 1.
    let first = Options {
        races: vec![1],
        ..Options::default()
    };
    ergast::import(store.as_ref(), dir.path(), &first).unwrap();
    let counts = store.counts().unwrap();

    // Importing every race again is refused, naming the race stored already; nothing changes.
    let err = ergast::import(store.as_ref(), dir.path(), &Options::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: race 1 (2019 Australian Grand Prix) is in the store already as session 1; nothing was imported (leave the races stored already as they are with --skip-existing, or store them again with --replace)",
            dir.path().display()
        )
    );
    assert_eq!(store.counts().unwrap(), counts);

    // Skipping: race 3 is imported, race 1 left as it was.
    let resume = Options {
        existing: Existing::Skip,
        ..Options::default()
    };
    let report = ergast::import(store.as_ref(), dir.path(), &resume).unwrap();
    let imported: Vec<i64> = report.imported.iter().map(|r| r.race.race_id).collect();
    assert_eq!(imported, [3]);
    let skipped: Vec<(i64, i64)> = report
        .already_stored
        .iter()
        .map(|s| (s.race.race_id, s.session_id))
        .collect();
    assert_eq!(skipped, [(1, 1)]);
    assert_eq!(store.counts().unwrap().sessions(), 2);
    // Once everything is in, a resumed import has nothing left to do.
    let report = ergast::import(store.as_ref(), dir.path(), &resume).unwrap();
    assert_eq!((report.imported.len(), report.already_stored.len()), (0, 2));
    assert_eq!(store.counts().unwrap().sessions(), 2);

    // Replacing: both stored again as new sessions, the old ones deleted.
    let replace = Options {
        existing: Existing::Replace,
        ..Options::default()
    };
    let report = ergast::import(store.as_ref(), dir.path(), &replace).unwrap();
    let sessions: Vec<i64> = report.imported.iter().map(|r| r.session.id).collect();
    assert_eq!(sessions, [3, 4]);
    let ids: Vec<i64> = store.get_all_sessions().unwrap().iter().map(|s| s.id).collect();
    assert_eq!(ids, [3, 4]);
    assert_eq!(store.counts().unwrap().laps(), 9);
}

//! `racestore export` and `racestore show`, run as a user runs them, parsed back and compared
//! with what the library reads.

use crate::common;

use std::collections::BTreeMap;

use common::{everything, fill, json_url, racestore, run_fails, run_ok, sqlite_url, stderr};
use racestore::{Collection, Lap, LapQuery, RaceStore, RaceStoreExt};
use serde_json::Value;

/// A temporary JSON store and a temporary SQLite store, both filled by [`fill`].
fn filled_stores() -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let urls = vec![
        json_url(&dir.path().join("storage")),
        sqlite_url(&dir.path().join("race.db")),
    ];
    for url in &urls {
        fill(url);
    }
    (dir, urls)
}

fn laps(url: &str, query: &LapQuery) -> Vec<Lap> {
    let store = racestore::open(url).unwrap();
    let laps = store.get_laps(query).unwrap();
    store.close().unwrap();
    laps
}

fn as_json(laps: &[Lap]) -> Vec<Value> {
    laps.iter().map(|l| serde_json::to_value(l).unwrap()).collect()
}

#[test]
fn json_export_of_everything_is_an_object_of_every_collection_as_the_library_reads_it() {
    let (_dir, urls) = filled_stores();
    for url in &urls {
        let exported: Value =
            serde_json::from_str(&run_ok(racestore().args(["export", "--store", url]))).unwrap();
        let object = exported.as_object().unwrap();
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "race_sessions",
                "driver_metrics",
                "lap_data",
                "predictions",
                "simulations",
                "entries"
            ]
        );
        for (collection, records) in everything(url) {
            assert!(!records.is_empty(), "{url}: {collection}");
            assert_eq!(
                object[collection.name()],
                Value::Array(records),
                "{url}: {collection}"
            );
        }
    }
}

#[test]
fn json_export_of_one_collection_or_session_is_an_array() {
    let (_dir, urls) = filled_stores();
    for url in &urls {
        let all_laps: Value = serde_json::from_str(&run_ok(racestore().args([
            "export",
            "--collection",
            "laps",
            "--store",
            url,
        ])))
        .unwrap();
        assert_eq!(all_laps, Value::Array(as_json(&laps(url, &LapQuery::all()))));

        // One session: its own record, and only what is recorded under it.
        let session: Value = serde_json::from_str(&run_ok(racestore().args([
            "export",
            "--session",
            "3",
            "--store",
            url,
        ])))
        .unwrap();
        assert_eq!(session["race_sessions"].as_array().unwrap().len(), 1);
        assert_eq!(
            session["race_sessions"][0]["circuit"],
            "Autódromo Hermanos Rodríguez"
        );
        assert_eq!(
            session["lap_data"],
            Value::Array(as_json(&laps(url, &LapQuery::session(3))))
        );
        for key in ["driver_metrics", "predictions", "simulations"] {
            let records = session[key].as_array().unwrap();
            assert_eq!(records.len(), 1, "{key}");
            assert_eq!(records[0]["session_id"], 3, "{key}");
        }
        assert_eq!(session["simulations"][0]["results"]["big"], Value::from(u64::MAX));

        // The alias of the original's names works too.
        let metrics = run_ok(racestore().args(["export", "--collection", "driver_metrics", "--store", url]));
        let metrics: Value = serde_json::from_str(&metrics).unwrap();
        assert_eq!(metrics.as_array().unwrap().len(), 25);
    }
}

#[test]
fn ndjson_is_one_record_per_line_tagged_with_its_collection_when_there_are_several() {
    let (_dir, urls) = filled_stores();
    for url in &urls {
        let out = run_ok(racestore().args(["export", "--format", "ndjson", "--store", url]));
        let mut by_collection: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for line in out.lines() {
            let mut record: Value = serde_json::from_str(line).unwrap();
            let collection = record
                .as_object_mut()
                .unwrap()
                .shift_remove("collection")
                .unwrap();
            by_collection
                .entry(collection.as_str().unwrap().to_owned())
                .or_default()
                .push(record);
        }
        let expected: BTreeMap<String, Vec<Value>> = everything(url)
            .into_iter()
            .map(|(c, records)| (c.name().to_owned(), records))
            .collect();
        assert_eq!(by_collection, expected, "{url}");

        let out = run_ok(racestore().args([
            "export",
            "--format",
            "ndjson",
            "--collection",
            "laps",
            "--session",
            "2",
            "--store",
            url,
        ]));
        let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines, as_json(&laps(url, &LapQuery::session(2))));
        assert!(lines.iter().all(|l| l.get("collection").is_none()));
    }
}

/// An optional number of a CSV cell: empty is absent.
fn number(cell: &str) -> Option<f64> {
    (!cell.is_empty()).then(|| cell.parse().unwrap())
}

fn assert_csv_is_the_laps(csv_text: &str, delimiter: u8, expected: &[Lap]) {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(
        header,
        [
            "id",
            "session_id",
            "driver_id",
            "lap_number",
            "lap_time",
            "sector_1",
            "sector_2",
            "sector_3",
            "lap_type",
            "position",
            "created_at"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), expected.len());
    for (row, lap) in rows.iter().zip(expected) {
        let read = Lap {
            id: row[0].parse().unwrap(),
            session_id: row[1].parse().unwrap(),
            driver_id: row[2].to_owned(),
            lap_number: row[3].parse().unwrap(),
            lap_time: row[4].parse().unwrap(),
            sector_1: number(&row[5]),
            sector_2: number(&row[6]),
            sector_3: number(&row[7]),
            lap_type: row[8].to_owned(),
            position: (!row[9].is_empty()).then(|| row[9].parse().unwrap()),
            created_at: row[10].to_owned(),
        };
        assert_eq!(&read, lap);
    }
}

#[test]
fn csv_holds_the_laps_by_default_with_either_separator() {
    let (_dir, urls) = filled_stores();
    for url in &urls {
        let all = laps(url, &LapQuery::all());
        let out = run_ok(racestore().args(["export", "--format", "csv", "--store", url]));
        assert_csv_is_the_laps(&out, b',', &all);
        let out = run_ok(racestore().args(["export", "--format", "csv", "--delimiter", ";", "--store", url]));
        assert!(out
            .lines()
            .next()
            .unwrap()
            .starts_with("id;session_id;driver_id;"));
        assert_csv_is_the_laps(&out, b';', &all);
        // The driver with a ; and quotes in their name survives both.
        assert!(all.iter().any(|l| l.driver_id == "Pérez; \"Checo\""));
    }
}

#[test]
fn csv_of_other_collections_puts_json_values_as_json_text_in_their_cells() {
    let (_dir, urls) = filled_stores();
    for url in &urls {
        let store = racestore::open(url).unwrap();
        let expected = store
            .export_page(Collection::DriverMetrics, 0, 1000)
            .unwrap()
            .to_json();
        let simulations = store
            .export_page(Collection::Simulations, 0, 1000)
            .unwrap()
            .to_json();
        store.close().unwrap();

        let out = run_ok(racestore().args([
            "export",
            "--format",
            "csv",
            "--collection",
            "metrics",
            "--store",
            url,
        ]));
        let mut reader = csv::Reader::from_reader(out.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), expected.len());
        for (row, record) in rows.iter().zip(&expected) {
            for (field, cell) in header.iter().zip(row.iter()) {
                let value = &record[field.as_str()];
                match value {
                    Value::Null => assert_eq!(cell, "", "{field}"),
                    Value::String(text) => assert_eq!(cell, text, "{field}"),
                    other => assert_eq!(&serde_json::from_str::<Value>(cell).unwrap(), other, "{field}"),
                }
            }
        }

        let out = run_ok(racestore().args([
            "export",
            "--format",
            "csv",
            "--collection",
            "simulations",
            "--store",
            url,
        ]));
        let mut reader = csv::Reader::from_reader(out.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), simulations.len());
        let last: Value = serde_json::from_str(&rows[rows.len() - 1][5]).unwrap();
        assert_eq!(last, simulations[simulations.len() - 1]["results"]);
    }
}

#[test]
fn laps_are_filtered_by_driver_and_lap_type_in_one_session_or_all() {
    let (_dir, urls) = filled_stores();
    for url in &urls {
        let driver = laps(url, &LapQuery::session(1))[0].driver_id.clone();
        for (args, query) in [
            (
                vec!["--session", "1", "--driver", driver.as_str()],
                LapQuery::session(1).driver(driver.as_str()),
            ),
            (vec!["--lap-type", "IN_LAP"], LapQuery::all().lap_type("IN_LAP")),
            (
                vec!["--driver", driver.as_str(), "--lap-type", "RACE_LAP"],
                LapQuery::all().driver(driver.as_str()).lap_type("RACE_LAP"),
            ),
        ] {
            let expected = laps(url, &query);
            let out = run_ok(racestore().arg("export").args(&args).args(["--store", url]));
            assert_eq!(
                serde_json::from_str::<Value>(&out).unwrap(),
                Value::Array(as_json(&expected)),
                "{args:?}"
            );
            let csv_out = run_ok(
                racestore()
                    .args(["export", "--format", "csv"])
                    .args(&args)
                    .args(["--store", url]),
            );
            assert_csv_is_the_laps(&csv_out, b',', &expected);
        }
        let in_laps = laps(url, &LapQuery::all().lap_type("IN_LAP"));
        assert!(!in_laps.is_empty() && in_laps.iter().all(|l| l.lap_type == "IN_LAP"));
    }
}

#[test]
fn output_goes_to_a_file_replaced_only_when_the_export_is_complete() {
    let (dir, urls) = filled_stores();
    let url = &urls[0];
    let file = dir.path().join("out").join("laps.csv");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "old").unwrap();
    let said = run_ok(
        racestore()
            .args(["export", "--format", "csv", "-o"])
            .arg(&file)
            .args(["--store", url]),
    );
    let expected = run_ok(racestore().args(["export", "--format", "csv", "--store", url]));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), expected);
    let n = laps(url, &LapQuery::all()).len();
    assert_eq!(said.trim_end(), format!("wrote {n} laps to {}", file.display()));

    // A failing export leaves the file as it was, and no temporary file behind.
    std::fs::write(&file, "old").unwrap();
    let failed = run_fails(
        racestore()
            .args(["export", "--session", "99", "--output"])
            .arg(&file)
            .args(["--store", url]),
    );
    assert!(stderr(&failed).contains("no session 99"), "{}", stderr(&failed));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "old");
    let names: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["laps.csv"]);

    let said = run_ok(
        racestore()
            .args(["export", "--output"])
            .arg(&file)
            .args(["--store", url]),
    );
    assert!(
        said.starts_with("wrote 3 sessions, 25 driver metrics, "),
        "{said}"
    );
}

#[test]
fn contradictory_options_are_refused_saying_what_would_work() {
    let (_dir, urls) = filled_stores();
    let url = &urls[0];
    for (args, says) in [
        (
            &["--format", "csv", "--collection", "all"][..],
            "CSV holds one collection at a time",
        ),
        (
            &["--collection", "sessions", "--driver", "x"],
            "--driver and --lap-type select laps",
        ),
        (&["--delimiter", ";"], "--delimiter applies to --format csv only"),
        (&["--session", "42"], "there is no session 42"),
    ] {
        let output = run_fails(racestore().arg("export").args(args).args(["--store", url]));
        assert!(stderr(&output).contains(says), "{args:?}: {}", stderr(&output));
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    let output = common::run(racestore().args(["export", "--delimiter", "|", "--store", url]));
    assert_eq!(
        output.status.code(),
        Some(2),
        "a delimiter other than , or ; is a usage error"
    );
}

/// Per driver, what `show` must say, computed here from the laps the library returns.
fn expected_drivers(store: &dyn RaceStore, session: racestore::Id) -> BTreeMap<String, Value> {
    let laps = store.get_session_laps(session).unwrap();
    let mut by_driver: BTreeMap<String, Vec<&Lap>> = BTreeMap::new();
    for lap in &laps {
        by_driver.entry(lap.driver_id.clone()).or_default().push(lap);
    }
    by_driver
        .into_iter()
        .map(|(driver, laps)| {
            let best_lap = laps.iter().map(|l| l.lap_time).fold(f64::INFINITY, f64::min);
            let best =
                |f: fn(&Lap) -> Option<f64>| laps.iter().filter_map(|l| f(l)).fold(f64::INFINITY, f64::min);
            let sectors = [best(|l| l.sector_1), best(|l| l.sector_2), best(|l| l.sector_3)];
            let last = laps.iter().max_by_key(|l| (l.lap_number, l.id)).unwrap();
            let value = serde_json::json!({
                "laps": laps.len(),
                "best_lap": best_lap,
                "sectors": sectors,
                "theoretical_best": ((sectors.iter().sum::<f64>()) * 1000.0).round() / 1000.0,
                "pit_stops": laps.iter().filter(|l| l.lap_type == "IN_LAP" || l.lap_type == "pit").count(),
                "final_position": last.position,
            });
            (driver, value)
        })
        .collect()
}

#[test]
fn show_prints_a_session_driver_by_driver_and_the_same_as_json() {
    let (_dir, urls) = filled_stores();
    for url in &urls {
        let store = racestore::open(url).unwrap();
        let expected = expected_drivers(store.as_ref(), 1);
        let laps = store.get_session_laps(1).unwrap().len();
        store.close().unwrap();

        let shown: Value =
            serde_json::from_str(&run_ok(racestore().args(["show", "1", "--json", "--store", url]))).unwrap();
        assert_eq!(shown["session"]["circuit"], "Barber Motorsports Park");
        assert_eq!(shown["counts"]["laps"], laps);
        assert_eq!(shown["counts"]["driver_metrics"], 20);
        let drivers = shown["classification"].as_array().unwrap();
        assert_eq!(drivers.len(), expected.len());
        let positions: Vec<i64> = drivers
            .iter()
            .map(|d| d["final_position"].as_i64().unwrap())
            .collect();
        assert_eq!(positions, (1..=20).collect::<Vec<_>>(), "in finishing order");
        for d in drivers {
            let e = &expected[d["driver_id"].as_str().unwrap()];
            assert_eq!(d["laps"], e["laps"]);
            assert_eq!(d["best_lap"], e["best_lap"]);
            assert_eq!(d["best_sectors"]["S1"], e["sectors"][0]);
            assert_eq!(d["best_sectors"]["S2"], e["sectors"][1]);
            assert_eq!(d["best_sectors"]["S3"], e["sectors"][2]);
            assert_eq!(d["theoretical_best"], e["theoretical_best"]);
            assert_eq!(d["pit_stops"], e["pit_stops"]);
            assert_eq!(d["final_position"], e["final_position"]);
            assert!(d["average_green_lap"].as_f64().unwrap() >= d["best_lap"].as_f64().unwrap());
        }
        assert!(
            drivers.iter().any(|d| d["pit_stops"].as_u64() > Some(0)),
            "the demo makes pit stops"
        );

        let text = run_ok(racestore().args(["show", "1", "--store", url]));
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("session 1: Barber Motorsports Park, race"),
            "{text}"
        );
        assert!(
            lines[1].starts_with(&format!("20 drivers, {laps} laps (IN_LAP ")),
            "{text}"
        );
        let header = lines.iter().position(|l| l.starts_with("POS")).unwrap();
        for column in [
            "DRIVER",
            "LAPS",
            "BEST LAP",
            "BEST S1",
            "THEORETICAL",
            "AVG GREEN",
            "PITS",
        ] {
            assert!(lines[header].contains(column), "{column}: {text}");
        }
        let first = drivers[0]["driver_id"].as_str().unwrap();
        let row: Vec<&str> = lines[header + 1].split_whitespace().collect();
        assert_eq!(&row[..2], ["1", first], "{text}");

        // The original's lap types: pit counts as a stop; absent sectors leave no theoretical best.
        // The session's entries place Pérez in car 11: the car is classified, its driver under it.
        let q: Value =
            serde_json::from_str(&run_ok(racestore().args(["show", "3", "--json", "--store", url]))).unwrap();
        let perez = q["classification"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["car"] == "11")
            .unwrap();
        assert_eq!(perez["drivers"][0]["driver_id"], "Pérez; \"Checo\"");
        assert_eq!(perez["drivers"][0]["driver_name"], "Sergio Pérez");
        assert_eq!(perez["team"], "Red Bull Racing");
        assert_eq!(q["entries"].as_array().unwrap().len(), 2);
        assert_eq!(
            (perez["pit_stops"].as_u64(), perez["theoretical_best"].is_null()),
            (Some(1), true)
        );
        assert_eq!(q["lap_types"]["qualifying"], 2);
    }
}

#[test]
fn show_classifies_a_race_by_laps_then_time_and_anything_else_by_best_lap() {
    use racestore::{NewLap, NewSession};

    let dir = tempfile::tempdir().unwrap();
    let url = json_url(dir.path());
    let store = racestore::open(&url).unwrap();
    // "C" leads for two laps and retires: the running order still has it first at its last lap.
    let laps = |session| {
        vec![
            NewLap::new(session, "C", 1, 90.0).position(1),
            NewLap::new(session, "A", 1, 91.0).position(2),
            NewLap::new(session, "B", 1, 91.5).position(3),
            NewLap::new(session, "C", 2, 90.0).position(1),
            NewLap::new(session, "A", 2, 91.0).position(2),
            NewLap::new(session, "B", 2, 91.5).position(3),
            NewLap::new(session, "A", 3, 91.0).position(1),
            NewLap::new(session, "B", 3, 91.2).position(2),
        ]
    };
    let race = store
        .create_session(&NewSession::new("Barber").race_type("race 1"))
        .unwrap();
    store.save_laps(&laps(race)).unwrap();
    let qualifying = store
        .create_session(&NewSession::new("Barber").race_type("qualifying"))
        .unwrap();
    store.save_laps(&laps(qualifying)).unwrap();
    store.close().unwrap();

    let rows = |text: &str| -> Vec<Vec<String>> {
        let lines: Vec<&str> = text.lines().collect();
        let header = lines.iter().position(|l| l.starts_with("POS")).unwrap();
        lines[header + 1..]
            .iter()
            .take_while(|l| !l.is_empty())
            .map(|l| l.split_whitespace().take(4).map(str::to_owned).collect())
            .collect()
    };
    let text = run_ok(racestore().args(["show", &race.to_string(), "--store", &url]));
    assert_eq!(
        rows(&text),
        [
            ["1", "A", "3", "4:33.000"],
            ["2", "B", "3", "+1.200"],
            ["3", "C", "2", "+1"]
        ],
        "{text}"
    );
    assert!(text.contains(" +1 lap  "), "{text}");
    assert!(
        text.contains("POS: most laps, then shortest total time."),
        "{text}"
    );
    let shown: Value = serde_json::from_str(&run_ok(racestore().args([
        "show",
        &race.to_string(),
        "--json",
        "--store",
        &url,
    ])))
    .unwrap();
    assert_eq!(shown["classified_by"], "race");
    let c = &shown["classification"][2];
    assert_eq!(
        (c["driver_id"].as_str(), c["position"].as_u64()),
        (Some("C"), Some(3))
    );
    assert_eq!(
        c["final_position"], 1,
        "the running position at its last lap is kept"
    );
    assert_eq!(c["gap_to_previous"], serde_json::json!({"laps": 1}));

    let text = run_ok(racestore().args(["show", &qualifying.to_string(), "--store", &url]));
    assert_eq!(
        rows(&text),
        [
            ["1", "C", "2", "1:30.000"],
            ["2", "A", "3", "+1.000"],
            ["3", "B", "3", "+1.200"]
        ],
        "{text}"
    );
    assert!(text.contains("POS: fastest lap first."), "{text}");
}

#[test]
fn show_and_demo_print_the_librarys_analysis_of_the_stored_laps() {
    use racestore::analysis::race;

    let dir = tempfile::tempdir().unwrap();
    let url = json_url(dir.path());
    let demo: Value = serde_json::from_str(&run_ok(racestore().args([
        "demo",
        "--json",
        "--drivers",
        "12",
        "--laps",
        "20",
        "--store",
        &url,
    ])))
    .unwrap();
    let shown: Value = serde_json::from_str(&run_ok(
        racestore().args(["show", "1", "--json", "--store", &url]),
    ))
    .unwrap();

    let store = racestore::open(&url).unwrap();
    let session = store.get_session(1).unwrap().unwrap();
    let analysis = race::analyse(&session, &store.get_session_laps(1).unwrap());
    store.close().unwrap();
    let expected = serde_json::to_value(&analysis.classification).unwrap();
    assert_eq!(shown["classification"], expected);
    let mut from_demo = demo["drivers"].clone();
    for driver in from_demo.as_array_mut().unwrap() {
        let win = driver.as_object_mut().unwrap().remove("win_probability").unwrap();
        assert!(win.as_f64().is_some_and(|p| (0.0..=1.0).contains(&p)), "{win}");
    }
    assert_eq!(from_demo, expected);
    assert_eq!(
        shown["lap_types"],
        serde_json::to_value(&analysis.counts.lap_types).unwrap()
    );
    assert_eq!(shown["counts"]["drivers"], 12);
}

#[test]
fn show_of_an_unknown_session_says_how_to_list_them() {
    let dir = tempfile::tempdir().unwrap();
    let url = json_url(dir.path());
    let output = run_fails(racestore().args(["show", "7", "--store", &url]));
    let err = stderr(&output);
    assert!(
        err.contains("no session 7") && err.contains("racestore sessions"),
        "{err}"
    );
}

#[test]
fn help_of_export_and_show_mentions_every_option() {
    let help = run_ok(racestore().args(["export", "--help"]));
    for needle in [
        "--session <ID>",
        "--format <FORMAT>",
        "json",
        "ndjson",
        "csv",
        "--delimiter <CHAR>",
        "--collection <WHICH>",
        "laps",
        "metrics",
        "--driver <ID>",
        "--lap-type <TYPE>",
        "--output <FILE>",
        "--store <URL>",
    ] {
        assert!(help.contains(needle), "export --help lacks {needle}:\n{help}");
    }
    let help = run_ok(racestore().args(["show", "--help"]));
    for needle in [
        "<SESSION>",
        "--json",
        "theoretical best",
        "pit stops",
        "--store <URL>",
    ] {
        assert!(help.contains(needle), "show --help lacks {needle}:\n{help}");
    }
    let top = run_ok(racestore().arg("--help"));
    for command in ["show", "export", "migrate", "backup", "check"] {
        assert!(
            top.lines().any(|l| l.trim_start().starts_with(command)),
            "--help lacks {command}:\n{top}"
        );
    }
}

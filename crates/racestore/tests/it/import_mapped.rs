//! The mapped-CSV importer (`racestore::import::mapped`): any table of laps through a column
//! mapping. Every table here is made up in a temporary folder.

use std::path::{Path, PathBuf};

use racestore::export::{self, Export, Format};
use racestore::import::mapped::{self, Mapping, Options};
use racestore::{Collection, Counts, Error, Lap, NewLap, NewSession, RaceStore, RaceStoreExt, Sectors};

fn json_store(dir: &Path) -> Box<dyn RaceStore> {
    racestore::open(&format!("json:{}", dir.display())).unwrap()
}

/// Writes `text` as `name` in a new temporary folder.
fn table(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn options(mapping: &str) -> Options {
    Options::new(
        Mapping::parse(mapping).unwrap(),
        NewSession::new("Barber Motorsports Park").date("2025-09-06T13:40:00"),
    )
}

/// A lap as the tests compare it: driver, number, time, sectors, type, position.
type Shown = (String, i64, f64, [Option<f64>; 3], String, Option<i64>);

fn shown(laps: &[Lap]) -> Vec<Shown> {
    laps.iter()
        .map(|l| {
            (
                l.driver_id.clone(),
                l.lap_number,
                l.lap_time,
                [l.sector_1, l.sector_2, l.sector_3],
                l.lap_type.clone(),
                l.position,
            )
        })
        .collect()
}

const SPREADSHEET: &str = "\u{feff}Driver;Car;Lap;Lap Time;S1;S2;S3;Pos;Team;Notes\r
Ann One;7;1;1:42.284;33.41;35.1;33.774;2;Red;first lap\r
Bob Two;13;1;101.9;33.2;;;1;Blue;\r
Ann One;7;2;1:38.5;32.9;33.0;32.6;1;Red;\r
Bob Two;13;2;1:39;33.1;33.3;32.6;2;Blue;\"a note; with a separator\"\r
";

#[test]
fn a_spreadsheet_of_laps_imports_through_a_mapping_with_entries() {
    let (dir, path) = table("laps.csv", SPREADSHEET);
    let options = options(
        "driver_id=Driver, lap_number=lap, lap_time=LAP TIME, sector_1=S1, sector_2=S2, sector_3=S3, position=Pos, car_number=Car, team=Team",
    );
    let store = json_store(&dir.path().join("store"));
    let summary = mapped::import(store.as_ref(), &path, &options).unwrap();
    assert_eq!((summary.laps, summary.drivers, summary.entries), (4, 2, 2));
    assert_eq!(summary.session.circuit, "Barber Motorsports Park");
    assert_eq!(summary.session.date, "2025-09-06T13:40:00");
    assert_eq!(summary.session.race_type, "race");

    let laps = store.get_session_laps(summary.session.id).unwrap();
    let normal = || "normal".to_owned();
    assert_eq!(
        shown(&laps),
        [
            (
                "Ann One".into(),
                1,
                102.284,
                [Some(33.41), Some(35.1), Some(33.774)],
                normal(),
                Some(2)
            ),
            (
                "Bob Two".into(),
                1,
                101.9,
                [Some(33.2), None, None],
                normal(),
                Some(1)
            ),
            (
                "Ann One".into(),
                2,
                98.5,
                [Some(32.9), Some(33.0), Some(32.6)],
                normal(),
                Some(1)
            ),
            (
                "Bob Two".into(),
                2,
                99.0,
                [Some(33.1), Some(33.3), Some(32.6)],
                normal(),
                Some(2)
            ),
        ]
    );
    let entries = store.get_session_entries(summary.session.id).unwrap();
    let described: Vec<(&str, Option<&str>, Option<&str>)> = entries
        .iter()
        .map(|e| (e.driver_id.as_str(), e.car_number.as_deref(), e.team.as_deref()))
        .collect();
    assert_eq!(
        described,
        [
            ("Ann One", Some("7"), Some("Red")),
            ("Bob Two", Some("13"), Some("Blue"))
        ]
    );
}

#[test]
fn a_mapping_file_holds_column_names_with_commas_and_comments() {
    let text = "driver,\"lap, number\",\"time, s\"\n7,1,91.5\n7,2,90.25\n";
    let (dir, path) = table("laps.csv", text);
    let mapping = Mapping::from_text(
        "# laps from the team's sheet\n\ndriver_id = driver\nlap_number = lap, number\nlap_time = time, s\n",
    )
    .unwrap();
    let options = Options::new(mapping, NewSession::new("Sonoma Raceway"));
    let store = json_store(&dir.path().join("store"));
    let summary = mapped::import(store.as_ref(), &path, &options).unwrap();
    let laps = store.get_session_laps(summary.session.id).unwrap();
    let times: Vec<(i64, f64)> = laps.iter().map(|l| (l.lap_number, l.lap_time)).collect();
    assert_eq!(times, [(1, 91.5), (2, 90.25)]);
    assert_eq!(
        store.get_session_entries(summary.session.id).unwrap(),
        [],
        "no entry field mapped"
    );
}

#[test]
fn bad_rows_are_refused_naming_file_line_and_column_and_nothing_is_stored() {
    let mapping = "driver_id=Driver,lap_number=Lap,lap_time=Lap Time,sector_1=S1,position=Pos";
    let header = "Driver,Lap,Lap Time,S1,Pos\n";
    let good = "7,1,1:42.284,33.4,1\n";
    for (bad, message) in [
        (
            "7,2,1:4x.2,33.4,1\n",
            r#"line 3: column Lap Time: expected a time like 1:39.725, 1:32:58.334 or 51.77, got "1:4x.2""#,
        ),
        (
            "7,2,\"98,5\",33.4,1\n",
            r#"line 3: column Lap Time: expected a time like 1:39.725, 1:32:58.334 or 51.77, got "98,5""#,
        ),
        (
            ",2,98.5,33.4,1\n",
            "line 3: column Driver: is blank where the driver_id is needed",
        ),
        (
            "7,two,98.5,33.4,1\n",
            r#"line 3: column Lap: expected a whole number, got "two""#,
        ),
        (
            "7,2,,33.4,1\n",
            "line 3: column Lap Time: is blank where the lap_time is needed",
        ),
        (
            "7,2,0.000,33.4,1\n",
            "line 3: column Lap Time: must be a positive number of seconds, got 0",
        ),
        (
            "7,2,98.5,0,1\n",
            "line 3: column S1: must be a positive number of seconds, got 0",
        ),
        (
            "7,-2,98.5,33.4,1\n",
            "line 3: column Lap: must not be negative, got -2",
        ),
        (
            "7,2,98.5,33.4,0\n",
            "line 3: column Pos: must be 1 or more (1 = leading), got 0",
        ),
        (
            "7,1,98.5,33.4,1\n",
            "line 3: column Lap: lap 1 of driver 7 appears twice (lines 2 and 3)",
        ),
        ("7,2,98.5\n", "line 3: has 3 fields where the header has 5"),
    ] {
        let (dir, path) = table("laps.csv", &format!("{header}{good}{bad}"));
        let store = json_store(&dir.path().join("store"));
        let err = mapped::import(store.as_ref(), &path, &options(mapping)).unwrap_err();
        assert!(matches!(err, Error::Import { line: Some(3), .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("{} {message}; nothing was imported", path.display()),
            "{bad:?}"
        );
        assert_eq!(
            store.counts().unwrap(),
            Counts::default(),
            "{bad:?}: nothing stored"
        );
    }

    // Every bad row is listed; the error names the first and counts them.
    let (dir, path) = table("laps.csv", &format!("{header}7,x,1,1,1\n{good}7,2,y,1,1\n"));
    let parsed = mapped::parse(&path, &options(mapping)).unwrap();
    let listed: Vec<(u64, Option<&str>)> = parsed
        .problems
        .iter()
        .map(|p| (p.line, p.column.as_deref()))
        .collect();
    assert_eq!(listed, [(2, Some("Lap")), (4, Some("Lap Time"))]);
    assert_eq!((parsed.rows, parsed.laps.len()), (3, 1));
    let store = json_store(&dir.path().join("store"));
    let err = mapped::save(store.as_ref(), &parsed).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{} line 2: column Lap: expected a whole number, got \"x\" (2 rows cannot be read; the first is shown); nothing was imported",
            path.display()
        )
    );
    assert_eq!(store.counts().unwrap(), Counts::default());
}

#[test]
fn a_mapping_that_does_not_fit_is_refused_before_any_row_is_read() {
    let invalid = |spec: &str| match Mapping::parse(spec).unwrap_err() {
        Error::Invalid { field, message } => format!("{field}: {message}"),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        invalid("driver_id=D,lap_number=L,laptime=T"),
        "map: unknown field \"laptime\"; the fields are driver_id, lap_number, lap_time, sector_1, sector_2, sector_3, lap_type, position, car_number, driver_name, class, group, team, manufacturer, vehicle"
    );
    assert_eq!(
        invalid("driver_id=D,lap_number=L"),
        "map: lap_time is not mapped; driver_id, lap_number and lap_time are required (e.g. driver_id=Driver,lap_number=Lap,lap_time=LapTime)"
    );
    assert_eq!(
        invalid("driver_id=D,lap_number=L,lap_time=T,lap_time=U"),
        "map: lap_time is mapped twice"
    );
    assert_eq!(
        invalid("driver_id=D,lap_number,lap_time=T"),
        "map: expected FIELD=COLUMN, got \"lap_number\""
    );
    assert_eq!(
        invalid("driver_id=D,lap_number=,lap_time=T"),
        "map: lap_number is mapped to no column"
    );

    let (_dir, path) = table("laps.csv", "Driver,Lap,Time\n7,1,91.5\n");
    let err = mapped::parse(
        &path,
        &options("driver_id=Driver,lap_number=Lap,lap_time=LapTime"),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} line 1: has no column \"LapTime\" (mapped to lap_time); its columns are Driver, Lap, Time",
            path.display()
        )
    );
}

#[test]
fn racestores_own_csv_export_imports_back_to_the_same_laps() {
    let dir = tempfile::tempdir().unwrap();
    let store = json_store(&dir.path().join("store"));
    let session = store
        .create_session(&NewSession::new("Barber Motorsports Park").date("2025-09-06"))
        .unwrap();
    let mut laps = Vec::new();
    for (i, driver) in ["007-1", "13", "GR86-002-7"].into_iter().enumerate() {
        for lap in 1..=5 {
            let time = 97.0 + f64::from(lap) * 0.123 + i as f64 / 7.0;
            let mut new = NewLap::new(session, driver, i64::from(lap), time)
                .lap_type(if lap == 3 { "IN_LAP" } else { "RACE_LAP" })
                .position(i64::try_from(i).unwrap() + 1);
            if lap != 2 {
                new = new.sectors(Sectors::new(
                    time / 3.0,
                    time / 3.1,
                    time - time / 3.0 - time / 3.1,
                ));
            }
            laps.push(new);
        }
    }
    store.save_laps(&laps).unwrap();
    let exported = dir.path().join("laps.csv");
    let export = Export::new(vec![Collection::Laps], Format::Csv { delimiter: b',' }).session(session);
    export::write_file(store.as_ref(), &export, &exported, &mut |_, _| {}).unwrap();

    for mapping in [
        Mapping::parse(
            "driver_id=driver_id,lap_number=lap_number,lap_time=lap_time,sector_1=sector_1,sector_2=sector_2,sector_3=sector_3,lap_type=lap_type,position=position",
        )
        .unwrap(),
        Mapping::same_names(),
    ] {
        let options = Options::new(mapping, NewSession::new("Barber Motorsports Park").date("2025-09-06"));
        let summary = mapped::import(store.as_ref(), &exported, &options).unwrap();
        let again = store.get_session_laps(summary.session.id).unwrap();
        assert_eq!(shown(&again), shown(&store.get_session_laps(session).unwrap()));
        assert_eq!(again.len(), 15);
    }
}

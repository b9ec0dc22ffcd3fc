//! `racestore import csv`, run as a user runs it, checked through the library.

use racestore::{Lap, RaceStoreExt};

use crate::common::{json_url, racestore, run_fails, run_ok, shared_dir, stderr, stdout};

const BARBER_R1: &str = "data/grcup-aeropulse/barber/23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV";

/// A lap but for its ids and timestamp: driver, number, time, sectors, type, position.
type Shown = (String, i64, f64, [Option<f64>; 3], String, Option<i64>);

/// What must survive a round trip: everything but ids and timestamps.
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

#[test]
fn an_exported_race_imported_back_with_a_mapping_gives_the_same_laps() {
    let test = "an_exported_race_imported_back_with_a_mapping_gives_the_same_laps";
    let Some(shared) = shared_dir(test) else { return };
    let temp = tempfile::tempdir().unwrap();
    let url = json_url(&temp.path().join("storage"));
    run_ok(
        racestore()
            .args(["import", "alkamel", "--date", "2025-09-06", "--store", &url])
            .arg(shared.join(BARBER_R1)),
    );
    let csv = temp.path().join("laps.csv");
    run_ok(
        racestore()
            .args([
                "export",
                "--session",
                "1",
                "--format",
                "csv",
                "--store",
                &url,
                "--output",
            ])
            .arg(&csv),
    );
    let out = run_ok(
        racestore()
            .args(["import", "csv", "--store", &url, "--circuit", "Barber Motorsports Park", "--date", "2025-09-06"])
            .args([
                "--map",
                "driver_id=driver_id,lap_number=lap_number,lap_time=lap_time,sector_1=sector_1,sector_2=sector_2,sector_3=sector_3,lap_type=lap_type,position=position",
            ])
            .arg(&csv),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], csv.display().to_string());
    assert_eq!(
        lines[1],
        "  columns: driver_id=driver_id, lap_number=lap_number, lap_time=lap_time, sector_1=sector_1, sector_2=sector_2, sector_3=sector_3, lap_type=lap_type, position=position"
    );
    assert_eq!(
        lines[2],
        "  session 2: Barber Motorsports Park, race, 2025-09-06T00:00:00"
    );
    assert_eq!(lines[3], "  579 laps imported (22 drivers), 0 entries");

    let store = racestore::open(&url).unwrap();
    let (first, second) = (
        store.get_session_laps(1).unwrap(),
        store.get_session_laps(2).unwrap(),
    );
    assert_eq!(first.len(), 579);
    assert_eq!(shown(&second), shown(&first), "the same laps, field by field");
}

#[test]
fn a_bad_row_is_listed_with_its_line_and_column_and_nothing_is_stored() {
    let temp = tempfile::tempdir().unwrap();
    let url = json_url(&temp.path().join("storage"));
    let csv = temp.path().join("laps.csv");
    std::fs::write(&csv, "Driver;Lap;Time\n7;1;1:31.5\n7;2;1:3l.0\n7;3;90,9\n").unwrap();
    let output = run_fails(
        racestore()
            .args(["import", "csv", "--circuit", "Sonoma Raceway", "--store", &url])
            .args(["--map", "driver_id=Driver,lap_number=Lap,lap_time=Time"])
            .arg(&csv),
    );
    assert_eq!(stdout(&output), "");
    assert_eq!(
        stderr(&output),
        format!(
            "{0}: 2 of its 3 rows cannot be read:\n    line 3: column Time: expected a time like 1:39.725, 1:32:58.334 or 51.77, got \"1:3l.0\"\n    line 4: column Time: expected a time like 1:39.725, 1:32:58.334 or 51.77, got \"90,9\"\nerror: {0} line 3: column Time: expected a time like 1:39.725, 1:32:58.334 or 51.77, got \"1:3l.0\" (2 rows cannot be read; the first is shown); nothing was imported\n",
            csv.display()
        )
    );
    assert!(
        !temp.path().join("storage").exists(),
        "the store is not even created"
    );
}

//! The conformance suite: one function per sentence of [`RaceStore`]'s `# Contract`.
//!
//! Every backend runs every function through [`conformance_tests!`](crate::conformance_tests),
//! so none can silently run fewer. Each function gets a [`Harness`] that opens a fresh, empty
//! store (and reopens the same one after a close).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::model::{
    Collection, Counts, Entry, Id, IdMarks, Lap, LapQuery, NewDriverMetrics, NewEntry, NewLap, NewPrediction,
    NewSession, NewSimulation, Query, Records, Sectors, Session, SessionQuery,
};
use crate::{Error, RaceStore, RaceStoreExt};

/// Opens the store a conformance test runs against.
pub trait Harness {
    /// Opens the harness's store: empty the first time, the same store again after a close.
    fn open(&self) -> Box<dyn RaceStore>;

    /// A path that does not exist yet, in a place removed with the harness, for a backup.
    fn backup_destination(&self) -> std::path::PathBuf;

    /// Opens what [`RaceStore::backup`] wrote at `path`.
    fn open_backup(&self, path: &std::path::Path) -> Box<dyn RaceStore>;
}

/// Instantiates every conformance test for one backend.
///
/// `$harness` is an expression giving `Option<impl Harness>`, evaluated afresh for each test
/// (so each gets its own empty store); `None` means the backend is unavailable here, and the
/// expression is expected to have printed a visible SKIP line (and to panic when `CI` is set).
#[macro_export]
macro_rules! conformance_tests {
    ($harness:expr) => {
        $crate::conformance_tests!(@each $harness;
            ids_ascend_from_one_in_each_collection,
            session_defaults_are_race_and_now,
            sessions_round_trip_exactly,
            get_sessions_filters_by_circuit_in_id_order,
            unknown_session_reads_are_empty,
            laps_round_trip_exactly,
            lap_queries_filter_by_session_driver_and_type_in_id_order,
            batch_saves_every_lap_with_consecutive_ids,
            batch_with_one_invalid_lap_stores_nothing,
            batch_with_an_unknown_session_stores_nothing,
            empty_batch_stores_nothing,
            batch_with_a_session_saves_it_with_every_record_or_nothing,
            metrics_round_trip_with_empty_objects_for_missing_dicts,
            metrics_accept_nested_aggression_score,
            predictions_round_trip_exactly,
            simulations_round_trip_json_exactly,
            json_values_keep_unicode_nesting_and_large_numbers,
            json_values_nested_too_deep_to_read_back_are_invalid,
            saves_into_an_unknown_session_are_not_found_and_store_nothing,
            invalid_session_input_names_the_field,
            invalid_lap_input_names_the_field,
            invalid_metrics_prediction_and_simulation_input_names_the_field,
            rejected_saves_use_no_id,
            delete_removes_the_session_and_everything_under_it,
            delete_leaves_other_sessions_untouched,
            delete_of_an_unknown_session_is_not_found,
            ids_are_never_reused_after_a_delete_even_after_reopening,
            saved_records_survive_reopening,
            concurrent_saves_lose_nothing_and_get_unique_ids,
            readers_beside_sixteen_writers_see_whole_records_and_no_gaps,
            two_stores_open_on_one_location_see_each_others_saves_and_deletes,
            closed_store_refuses_every_call,
            counts_count_every_collection,
            timestamps_written_use_the_documented_format,
            export_pages_through_each_collection_in_id_order,
            import_keeps_ids_and_timestamps_and_saves_continue_above_them,
            import_refuses_bad_ids_and_unknown_sessions_and_stores_nothing,
            backup_while_saving_is_a_consistent_snapshot,
            a_backup_leaves_only_the_complete_copy_and_a_failed_one_nothing,
            highest_ids_count_deleted_records_and_reserved_ids_are_never_given,
            entries_round_trip_with_unknown_values_null,
            entries_are_selected_by_any_column_even_one_named_by_an_sql_keyword,
            a_laps_entry_is_found_by_session_and_driver,
            invalid_entry_input_names_the_field,
            a_nul_character_in_any_text_or_json_value_is_invalid,
            deleting_orphans_keeps_every_record_whose_session_exists,
        );
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                if let Some(harness) = $harness {
                    $crate::conformance::$name(&harness);
                }
            }
        )*
    };
}

const D1: &str = "GR86-002-7";
const D2: &str = "GR86-013-22";

fn session(store: &dyn RaceStore) -> Id {
    store
        .create_session(&NewSession::new("Barber Motorsports Park").date("2025-09-06T14:00:00"))
        .expect("create session")
}

fn lap(session_id: Id, driver: &str, number: i64) -> NewLap {
    NewLap::new(session_id, driver, number, 90.0 + number as f64 / 8.0)
        .sectors(Sectors::new(29.3, 32.05, 30.131))
        .position(1)
}

fn prediction(session_id: Id) -> NewPrediction {
    NewPrediction {
        session_id,
        driver_id: D1.into(),
        prediction_type: "lap_time".into(),
        prediction_value: 91.482,
        model_path: "models/lap_time_predictor.pkl".into(),
        confidence: Some(0.87),
    }
}

fn simulation(session_id: Id) -> NewSimulation {
    NewSimulation {
        session_id,
        driver_paces: json!({D1: 91.5, D2: 91.8}),
        n_laps: 20,
        iterations: 1000,
        results: json!({"win_probability": {D1: 0.62, D2: 0.38}}),
    }
}

/// A WEC-style entry: `car`'s driver `n`, driver id `car-n`.
fn entry(session_id: Id, car: &str, n: u8, name: &str) -> NewEntry {
    NewEntry::new(session_id, format!("{car}-{n}"))
        .car(car)
        .driver_name(name)
        .class("HYPERCAR")
        .group("H")
        .team("Toyota Gazoo Racing")
        .manufacturer("Toyota")
}

fn ids<T>(records: &[T], id: impl Fn(&T) -> Id) -> Vec<Id> {
    records.iter().map(id).collect()
}

fn assert_invalid<T: std::fmt::Debug>(result: crate::Result<T>, field: &str) {
    match result {
        Err(Error::Invalid { field: got, message }) => {
            assert_eq!(got, field, "wrong field named (message: {message})");
            assert!(!message.is_empty());
        }
        other => panic!("expected Invalid naming {field}, got {other:?}"),
    }
}

fn assert_not_found<T: std::fmt::Debug>(result: crate::Result<T>, id: Id) {
    match result {
        Err(Error::NotFound {
            what: "session",
            id: got,
        }) => assert_eq!(got, id),
        other => panic!("expected NotFound for session {id}, got {other:?}"),
    }
}

fn is_racestore_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 27
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            26 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// Each collection numbers its records 1, 2, 3, ... in save order, independently of the others.
pub fn ids_ascend_from_one_in_each_collection(h: &dyn Harness) {
    let store = h.open();
    assert_eq!(session(&*store), 1);
    assert_eq!(session(&*store), 2);
    for expected in 1..=3 {
        assert_eq!(store.save_lap_data(&lap(2, D1, expected)).unwrap(), expected);
        assert_eq!(
            store.save_driver_metrics(&NewDriverMetrics::new(1, D1)).unwrap(),
            expected
        );
        assert_eq!(store.save_prediction(&prediction(1)).unwrap(), expected);
        assert_eq!(store.save_simulation(&simulation(2)).unwrap(), expected);
    }
    assert_eq!(session(&*store), 3);
}

/// A session without race_type is a `race`; without date it is dated now, in the timestamp format.
pub fn session_defaults_are_race_and_now(h: &dyn Harness) {
    let store = h.open();
    let before = crate::model::now_timestamp();
    let id = store
        .create_session(&NewSession::new("Autódromo Hermanos Rodríguez"))
        .unwrap();
    let after = crate::model::now_timestamp();
    let got = store.get_session(id).unwrap().expect("session exists");
    assert_eq!(got.race_type, "race");
    assert!(is_racestore_timestamp(&got.date), "{}", got.date);
    assert!(
        before <= got.date && got.date <= after,
        "{before} <= {} <= {after}",
        got.date
    );
    assert_eq!(got.created_at, got.updated_at);
}

/// A session reads back with exactly the circuit, date and type given.
pub fn sessions_round_trip_exactly(h: &dyn Harness) {
    let store = h.open();
    let id = store
        .create_session(
            &NewSession::new("Autódromo Hermanos Rodríguez – \"Foro Sol\" 🏁")
                .date("2025-10-26T13:00:00-06:00")
                .race_type("qualifying"),
        )
        .unwrap();
    let got = store.get_session(id).unwrap().unwrap();
    assert_eq!(got.id, id);
    assert_eq!(got.circuit, "Autódromo Hermanos Rodríguez – \"Foro Sol\" 🏁");
    assert_eq!(got.date, "2025-10-26T13:00:00-06:00");
    assert_eq!(got.race_type, "qualifying");
    assert!(is_racestore_timestamp(&got.created_at));
}

/// `get_sessions` returns every session in id order, or only those at one circuit.
pub fn get_sessions_filters_by_circuit_in_id_order(h: &dyn Harness) {
    let store = h.open();
    for circuit in ["Barber", "COTA", "Barber", "Sebring", "Barber"] {
        store.create_session(&NewSession::new(circuit)).unwrap();
    }
    assert_eq!(ids(&store.get_all_sessions().unwrap(), |s| s.id), [1, 2, 3, 4, 5]);
    let barber = store
        .get_sessions(&SessionQuery::all().circuit("Barber"))
        .unwrap();
    assert_eq!(ids(&barber, |s| s.id), [1, 3, 5]);
    assert!(store
        .get_sessions(&SessionQuery::all().circuit("barber"))
        .unwrap()
        .is_empty());
}

/// Reading a session that does not exist gives `None` and empty lists, not an error.
pub fn unknown_session_reads_are_empty(h: &dyn Harness) {
    let store = h.open();
    let id = session(&*store);
    store.save_lap_data(&lap(id, D1, 1)).unwrap();
    assert_eq!(store.get_session(99).unwrap(), None);
    assert_eq!(store.get_session(0).unwrap(), None);
    assert!(store.get_session_laps(99).unwrap().is_empty());
    assert!(store.get_session_metrics(99).unwrap().is_empty());
    assert!(store.get_session_predictions(99).unwrap().is_empty());
    assert!(store.get_session_simulations(99).unwrap().is_empty());
}

/// A lap reads back with every value given, missing sectors and position as `None`.
pub fn laps_round_trip_exactly(h: &dyn Harness) {
    let store = h.open();
    let id = session(&*store);
    let full = NewLap::new(id, D1, 1, 91.482)
        .sectors(Sectors::new(29.301, 32.05, 30.131))
        .lap_type("normal")
        .position(1);
    let partial = NewLap {
        sectors: Sectors {
            s1: Some(29.6),
            s2: Some(32.4),
            s3: None,
        },
        position: None,
        ..NewLap::new(id, D2, 2, 118.25).lap_type("pit")
    };
    store.save_lap_data(&full).unwrap();
    store
        .save_lap_json(
            id,
            D1,
            2,
            92.0,
            &json!({"S1": 29.4, "S2": 32.3, "S3": 30.3}),
            "normal",
            Some(1),
        )
        .unwrap();
    store.save_lap_data(&partial).unwrap();
    let laps = store.get_session_laps(id).unwrap();
    assert_eq!(ids(&laps, |l| l.id), [1, 2, 3]);
    let first = &laps[0];
    assert_eq!(
        (first.session_id, first.driver_id.as_str(), first.lap_number),
        (id, D1, 1)
    );
    assert_eq!(first.lap_time, 91.482);
    assert_eq!(
        (first.sector_1, first.sector_2, first.sector_3),
        (Some(29.301), Some(32.05), Some(30.131))
    );
    assert_eq!((first.lap_type.as_str(), first.position), ("normal", Some(1)));
    assert_eq!((laps[1].lap_time, laps[1].sector_3), (92.0, Some(30.3)));
    let pit = &laps[2];
    assert_eq!(
        (pit.driver_id.as_str(), pit.lap_number, pit.lap_time),
        (D2, 2, 118.25)
    );
    assert_eq!(
        (pit.sector_1, pit.sector_2, pit.sector_3),
        (Some(29.6), Some(32.4), None)
    );
    assert_eq!((pit.lap_type.as_str(), pit.position), ("pit", None));
}

/// Lap queries select by session, driver and lap type, always in id order.
pub fn lap_queries_filter_by_session_driver_and_type_in_id_order(h: &dyn Harness) {
    let store = h.open();
    let (s1, s2) = (session(&*store), session(&*store));
    for n in 1..=3 {
        store.save_lap_data(&lap(s1, D1, n)).unwrap();
        store.save_lap_data(&lap(s2, D1, n)).unwrap();
        store
            .save_lap_data(&lap(s1, D2, n).lap_type(if n == 2 { "pit" } else { "normal" }))
            .unwrap();
    }
    assert_eq!(
        ids(&store.get_session_laps(s1).unwrap(), |l| l.id),
        [1, 3, 4, 6, 7, 9]
    );
    assert_eq!(ids(&store.get_session_laps(s2).unwrap(), |l| l.id), [2, 5, 8]);
    assert_eq!(ids(&store.get_driver_laps(s1, D2).unwrap(), |l| l.id), [3, 6, 9]);
    let pits = store.get_laps(&LapQuery::session(s1).lap_type("pit")).unwrap();
    assert_eq!(ids(&pits, |l| l.id), [6]);
    assert_eq!(
        ids(&store.get_laps(&LapQuery::all().driver(D1)).unwrap(), |l| l.id),
        [1, 2, 4, 5, 7, 8]
    );
    assert_eq!(store.get_laps(&LapQuery::all()).unwrap().len(), 9);
    assert!(store.get_driver_laps(s2, D2).unwrap().is_empty());
}

/// A batch stores every lap, in input order, with consecutive ids.
pub fn batch_saves_every_lap_with_consecutive_ids(h: &dyn Harness) {
    let store = h.open();
    let (s1, s2) = (session(&*store), session(&*store));
    store.save_lap_data(&lap(s1, D1, 1)).unwrap();
    let batch: Vec<NewLap> = (2..=201)
        .map(|n| lap(if n % 2 == 0 { s1 } else { s2 }, D2, n))
        .collect();
    let got = store.save_laps(&batch).unwrap();
    assert_eq!(got, (2..=201).collect::<Vec<Id>>());
    let all = store.get_laps(&LapQuery::all()).unwrap();
    assert_eq!(all.len(), 201);
    for (saved, given) in all[1..].iter().zip(&batch) {
        assert_eq!(
            (saved.session_id, saved.lap_number, saved.lap_time),
            (given.session_id, given.lap_number, given.lap_time)
        );
    }
    assert_eq!(store.save_lap_data(&lap(s1, D1, 2)).unwrap(), 202);
}

/// One invalid lap rejects the whole batch: nothing is stored.
pub fn batch_with_one_invalid_lap_stores_nothing(h: &dyn Harness) {
    let store = h.open();
    let id = session(&*store);
    let mut batch: Vec<NewLap> = (1..=50).map(|n| lap(id, D1, n)).collect();
    batch[37].lap_time = f64::NAN;
    assert_invalid(store.save_laps(&batch), "lap_time");
    assert_eq!(store.counts().unwrap().laps(), 0);
    assert!(store.get_session_laps(id).unwrap().is_empty());
}

/// A batch with laps in unknown sessions is NotFound for the first such lap, and stores nothing.
pub fn batch_with_an_unknown_session_stores_nothing(h: &dyn Harness) {
    let store = h.open();
    let id = session(&*store);
    let mut batch: Vec<NewLap> = (1..=50).map(|n| lap(id, D1, n)).collect();
    batch[20].session_id = 9;
    batch[49].session_id = 7;
    assert_not_found(store.save_laps(&batch), 9);
    assert_eq!(store.counts().unwrap().laps(), 0);
}

/// A batch with a session creates it and saves every record of every collection into it,
/// whatever session the inputs name; one invalid input, the last one included, stores nothing:
/// no session without its records, and no id used.
pub fn batch_with_a_session_saves_it_with_every_record_or_nothing(h: &dyn Harness) {
    use crate::model::NewRecords;
    use crate::store::Batch;
    let store = h.open();
    let earlier = session(&*store);
    let batch = |last_lap_time: f64| {
        let mut laps: Vec<NewLap> = (1..=30).map(|n| lap(0, D1, n)).collect();
        laps[29].lap_time = last_lap_time;
        Batch::session(NewSession::new("Sonoma Raceway").date("2025-09-14"))
            .with(NewRecords::Laps(laps))
            .with(NewRecords::Predictions(vec![prediction(earlier)]))
            .with(NewRecords::Simulations(vec![simulation(0)]))
            .with(NewRecords::Entries(vec![entry(0, "7", 1, "Ann Driver")]))
    };
    // The last input of the batch is invalid: the session and everything before it are refused.
    assert_invalid(store.save(&batch(-1.0)), "lap_time");
    assert_eq!(store.counts().unwrap(), Counts::of(&[(Collection::Sessions, 1)]));

    let ids = store.save(&batch(95.0)).unwrap();
    let new = ids.session.expect("the batch created its session");
    assert_eq!(new, earlier + 1, "the refused batch used no session id");
    assert_eq!(ids.records[0], (1..=30).collect::<Vec<Id>>());
    assert_eq!(store.get_session_laps(new).unwrap().len(), 30);
    assert_eq!(store.get_session_predictions(new).unwrap().len(), 1);
    assert_eq!(store.get_session_simulations(new).unwrap().len(), 1);
    assert_eq!(store.get_session_entries(new).unwrap().len(), 1);
    assert!(store.get_session_predictions(earlier).unwrap().is_empty());
    drop(store);
    let reopened = h.open();
    assert_eq!(reopened.get_session_laps(new).unwrap().len(), 30);
}

/// An empty batch stores nothing and returns no ids.
pub fn empty_batch_stores_nothing(h: &dyn Harness) {
    let store = h.open();
    session(&*store);
    assert_eq!(store.save_laps(&[]).unwrap(), Vec::<Id>::new());
    assert_eq!(store.counts().unwrap().laps(), 0);
}

/// Metrics read back as given; metric dicts not given read back as `{}`, never null.
pub fn metrics_round_trip_with_empty_objects_for_missing_dicts(h: &dyn Harness) {
    let store = h.open();
    let id = session(&*store);
    let full = NewDriverMetrics {
        consistency_index: Some(0.912),
        aggression_score: Some(0.65),
        sector_strength: json!({"S1": 0.98, "S2": 1.01, "S3": 0.99}),
        pace_stability: json!({"std": 0.41, "trend": -0.02}),
        fatigue_dropoff: json!({"dropoff_per_lap": 0.035}),
        ..NewDriverMetrics::new(id, D1)
    };
    store.save_driver_metrics(&full).unwrap();
    store.save_driver_metrics(&NewDriverMetrics::new(id, D2)).unwrap();
    let got = store.get_session_metrics(id).unwrap();
    assert_eq!(ids(&got, |m| m.id), [1, 2]);
    assert_eq!(
        (
            got[0].driver_id.as_str(),
            got[0].consistency_index,
            got[0].aggression_score
        ),
        (D1, Some(0.912), Some(0.65))
    );
    assert_eq!(got[0].sector_strength, full.sector_strength);
    assert_eq!(got[0].pace_stability, full.pace_stability);
    assert_eq!(got[0].fatigue_dropoff, full.fatigue_dropoff);
    assert_eq!((got[1].consistency_index, got[1].aggression_score), (None, None));
    for empty in [
        &got[1].sector_strength,
        &got[1].pace_stability,
        &got[1].fatigue_dropoff,
    ] {
        assert_eq!(*empty, json!({}));
    }
}

/// `aggression_score` given as `{"aggression_score": 0.65, ...}` is stored as the number 0.65.
pub fn metrics_accept_nested_aggression_score(h: &dyn Harness) {
    let store = h.open();
    let id = session(&*store);
    let nested = json!({
        "consistency_index": 0.912,
        "aggression_score": {"aggression_score": 0.65, "brake_events": 12},
        "sector_strength": {"S1": 0.98},
    });
    store.save_driver_metrics_json(id, D1, &nested).unwrap();
    store
        .save_driver_metrics_json(id, D2, &json!({"aggression_score": 0.72}))
        .unwrap();
    let got = store.get_session_metrics(id).unwrap();
    assert_eq!(got[0].aggression_score, Some(0.65));
    assert_eq!(got[0].consistency_index, Some(0.912));
    assert_eq!(got[0].sector_strength, json!({"S1": 0.98}));
    assert_eq!(got[1].aggression_score, Some(0.72));
    assert_eq!(got[1].pace_stability, json!({}));
}

/// Predictions read back as given, with or without confidence.
pub fn predictions_round_trip_exactly(h: &dyn Harness) {
    let store = h.open();
    let id = session(&*store);
    store.save_prediction(&prediction(id)).unwrap();
    let without = NewPrediction {
        driver_id: D2.into(),
        prediction_type: "finish_position".into(),
        prediction_value: 2.0,
        model_path: "models/position_model.pkl".into(),
        confidence: None,
        ..prediction(id)
    };
    store.save_prediction(&without).unwrap();
    let got = store.get_session_predictions(id).unwrap();
    assert_eq!(ids(&got, |p| p.id), [1, 2]);
    assert_eq!(
        (got[0].prediction_type.as_str(), got[0].prediction_value),
        ("lap_time", 91.482)
    );
    assert_eq!(
        (got[0].model_path.as_str(), got[0].confidence),
        ("models/lap_time_predictor.pkl", Some(0.87))
    );
    assert_eq!(
        (
            got[1].driver_id.as_str(),
            got[1].prediction_value,
            got[1].confidence
        ),
        (D2, 2.0, None)
    );
}

/// Simulations read back with paces and results equal to what was saved.
pub fn simulations_round_trip_json_exactly(h: &dyn Harness) {
    let store = h.open();
    let id = session(&*store);
    let given = NewSimulation {
        results: json!({
            "win_probability": {D1: 0.62, D2: 0.38},
            "expected_positions": {D1: 1.38, D2: 1.62},
            "note": "Pérez-style undercut – low tyre wear",
        }),
        ..simulation(id)
    };
    assert_eq!(store.save_simulation(&given).unwrap(), 1);
    let got = store.get_session_simulations(id).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].id, got[0].session_id, got[0].n_laps, got[0].iterations),
        (1, id, 20, 1000)
    );
    assert_eq!(got[0].driver_paces, given.driver_paces);
    assert_eq!(got[0].results, given.results);
    let keys: Vec<&String> = got[0].results.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["win_probability", "expected_positions", "note"],
        "key order is kept"
    );
}

/// JSON values keep unicode, escapes, deep nesting and integers at the edges of i64 and u64.
pub fn json_values_keep_unicode_nesting_and_large_numbers(h: &dyn Harness) {
    let store = h.open();
    let id = session(&*store);
    let tricky = json!({
        "max_u64": u64::MAX,
        "min_i64": i64::MIN,
        "big_float": 1.7976931348623157e308,
        "tiny": 5e-324,
        "text": "Kévin ESTRE – \"quoted\" \\ back\nslash\ttab \u{1F3C1}",
        "nested": {"a": [1, [2, [3, {"b": [null, true, false, []]}]]], "empty": {}},
    });
    let given = NewSimulation {
        driver_paces: json!({"ÉLODIE": 91.5}),
        results: tricky.clone(),
        ..simulation(id)
    };
    store.save_simulation(&given).unwrap();
    let metrics = NewDriverMetrics {
        sector_strength: tricky.clone(),
        ..NewDriverMetrics::new(id, "Kévin")
    };
    store.save_driver_metrics(&metrics).unwrap();
    let got = store.get_session_simulations(id).unwrap();
    assert_eq!(got[0].results, tricky);
    assert_eq!(got[0].results["max_u64"].as_u64(), Some(u64::MAX));
    assert_eq!(got[0].results["min_i64"].as_i64(), Some(i64::MIN));
    assert_eq!(got[0].driver_paces, json!({"ÉLODIE": 91.5}));
    assert_eq!(store.get_session_metrics(id).unwrap()[0].sector_strength, tricky);
}

/// A JSON value nested deeper than [`MAX_JSON_DEPTH`](crate::model::MAX_JSON_DEPTH) is Invalid (it could not be read back).
pub fn json_values_nested_too_deep_to_read_back_are_invalid(h: &dyn Harness) {
    let store = h.open();
    let id = session(&*store);
    let nest = |levels: usize| (0..levels).fold(json!(1), |inner, _| json!({ "x": inner }));
    let deep = NewSimulation {
        results: nest(crate::model::MAX_JSON_DEPTH + 1),
        ..simulation(id)
    };
    assert_invalid(store.save_simulation(&deep), "results");
    let deep_metrics = NewDriverMetrics {
        pace_stability: nest(crate::model::MAX_JSON_DEPTH + 1),
        ..NewDriverMetrics::new(id, D1)
    };
    assert_invalid(store.save_driver_metrics(&deep_metrics), "pace_stability");
    let deepest_allowed = NewSimulation {
        results: nest(crate::model::MAX_JSON_DEPTH),
        ..simulation(id)
    };
    store.save_simulation(&deepest_allowed).unwrap();
    store.close().unwrap();
    drop(store);
    let store = h.open();
    assert_eq!(
        store.get_session_simulations(id).unwrap()[0].results,
        deepest_allowed.results
    );
}

/// Saving anything into a session that does not exist is NotFound and stores nothing.
pub fn saves_into_an_unknown_session_are_not_found_and_store_nothing(h: &dyn Harness) {
    let store = h.open();
    let id = session(&*store);
    for missing in [id + 1, 0, -3] {
        assert_not_found(store.save_lap_data(&lap(missing, D1, 1)), missing);
        assert_not_found(
            store.save_driver_metrics(&NewDriverMetrics::new(missing, D1)),
            missing,
        );
        assert_not_found(store.save_prediction(&prediction(missing)), missing);
        assert_not_found(store.save_simulation(&simulation(missing)), missing);
    }
    assert_eq!(store.counts().unwrap(), Counts::of(&[(Collection::Sessions, 1)]));
}

/// A blank circuit or race type, or a date that is not ISO 8601, is Invalid naming the field.
pub fn invalid_session_input_names_the_field(h: &dyn Harness) {
    let store = h.open();
    assert_invalid(store.create_session(&NewSession::new("")), "circuit");
    assert_invalid(store.create_session(&NewSession::new("   ")), "circuit");
    assert_invalid(
        store.create_session(&NewSession::new("Barber").date("last sunday")),
        "date",
    );
    assert_invalid(
        store.create_session(&NewSession::new("Barber").date("2025-13-40")),
        "date",
    );
    assert_invalid(
        store.create_session(&NewSession::new("Barber").race_type("")),
        "race_type",
    );
    assert_eq!(store.counts().unwrap().sessions(), 0);
}

/// Bad lap times, lap numbers, positions, drivers, lap types and sectors are Invalid naming the field.
pub fn invalid_lap_input_names_the_field(h: &dyn Harness) {
    let store = h.open();
    let id = session(&*store);
    for bad_time in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -91.5] {
        assert_invalid(store.save_lap_data(&NewLap::new(id, D1, 1, bad_time)), "lap_time");
    }
    assert_invalid(store.save_lap_data(&NewLap::new(id, D1, -1, 91.0)), "lap_number");
    assert_invalid(
        store.save_lap_data(&NewLap::new(id, D1, 1, 91.0).position(0)),
        "position",
    );
    assert_invalid(
        store.save_lap_data(&NewLap::new(id, D1, 1, 91.0).position(-2)),
        "position",
    );
    assert_invalid(store.save_lap_data(&NewLap::new(id, "", 1, 91.0)), "driver_id");
    assert_invalid(
        store.save_lap_data(&NewLap::new(id, D1, 1, 91.0).lap_type(" ")),
        "lap_type",
    );
    let nan_sector = Sectors {
        s2: Some(f64::NAN),
        ..Sectors::new(29.0, 32.0, 30.0)
    };
    assert_invalid(
        store.save_lap_data(&NewLap::new(id, D1, 1, 91.0).sectors(nan_sector)),
        "sector_2",
    );
    let negative_sector = Sectors {
        s3: Some(-1.0),
        ..Sectors::new(29.0, 32.0, 30.0)
    };
    assert_invalid(
        store.save_lap_data(&NewLap::new(id, D1, 1, 91.0).sectors(negative_sector)),
        "sector_3",
    );
    let text_sector = json!({"S1": 29.0, "S2": "32.1", "S3": 30.0});
    assert_invalid(
        store.save_lap_json(id, D1, 1, 91.0, &text_sector, "normal", None),
        "sectors.S2",
    );
    assert_invalid(
        store.save_lap_json(id, D1, 1, 91.0, &json!({"S4": 1.0}), "normal", None),
        "sectors.S4",
    );
    assert_invalid(
        store.save_lap_json(id, D1, 1, 91.0, &json!([29.0, 32.0]), "normal", None),
        "sectors",
    );
    assert_eq!(store.counts().unwrap().laps(), 0);
    // Lap 0 (a formation or out lap) is a lap like any other.
    assert_eq!(store.save_lap_data(&NewLap::new(id, D1, 0, 130.5)).unwrap(), 1);
}

/// Bad metrics, predictions and simulations are Invalid naming the field, and nothing is stored.
pub fn invalid_metrics_prediction_and_simulation_input_names_the_field(h: &dyn Harness) {
    let store = h.open();
    let id = session(&*store);
    let metrics = |metrics: Value| store.save_driver_metrics_json(id, D1, &metrics);
    assert_invalid(
        metrics(json!({"aggression_score": "high"})),
        "metrics.aggression_score",
    );
    assert_invalid(
        metrics(json!({"aggression_score": {"aggression_score": "x"}})),
        "metrics.aggression_score",
    );
    assert_invalid(
        metrics(json!({"consistency_index": [1]})),
        "metrics.consistency_index",
    );
    assert_invalid(
        metrics(json!({"consitency_index": 0.9})),
        "metrics.consitency_index",
    );
    assert_invalid(metrics(json!({"pace_stability": [0.41]})), "pace_stability");
    assert_invalid(metrics(json!([1, 2])), "metrics");
    assert_invalid(store.save_driver_metrics_json(id, "", &json!({})), "driver_id");
    let nan_index = NewDriverMetrics {
        consistency_index: Some(f64::NAN),
        ..NewDriverMetrics::new(id, D1)
    };
    assert_invalid(store.save_driver_metrics(&nan_index), "consistency_index");

    let prediction_with = |p: NewPrediction| store.save_prediction(&p);
    assert_invalid(
        prediction_with(NewPrediction {
            prediction_value: f64::INFINITY,
            ..prediction(id)
        }),
        "prediction_value",
    );
    assert_invalid(
        prediction_with(NewPrediction {
            confidence: Some(1.5),
            ..prediction(id)
        }),
        "confidence",
    );
    assert_invalid(
        prediction_with(NewPrediction {
            confidence: Some(f64::NAN),
            ..prediction(id)
        }),
        "confidence",
    );
    assert_invalid(
        prediction_with(NewPrediction {
            prediction_type: String::new(),
            ..prediction(id)
        }),
        "prediction_type",
    );
    assert_invalid(
        prediction_with(NewPrediction {
            driver_id: String::new(),
            ..prediction(id)
        }),
        "driver_id",
    );

    let simulation_with = |s: NewSimulation| store.save_simulation(&s);
    assert_invalid(
        simulation_with(NewSimulation {
            n_laps: 0,
            ..simulation(id)
        }),
        "n_laps",
    );
    assert_invalid(
        simulation_with(NewSimulation {
            iterations: -5,
            ..simulation(id)
        }),
        "iterations",
    );
    assert_invalid(
        simulation_with(NewSimulation {
            driver_paces: json!([91.5]),
            ..simulation(id)
        }),
        "driver_paces",
    );

    assert_eq!(store.counts().unwrap(), Counts::of(&[(Collection::Sessions, 1)]));
}

/// A rejected save uses no id: the next good save gets the id the rejected one would have had.
pub fn rejected_saves_use_no_id(h: &dyn Harness) {
    let store = h.open();
    let id = session(&*store);
    assert_eq!(store.save_lap_data(&lap(id, D1, 1)).unwrap(), 1);
    assert!(store.save_lap_data(&NewLap::new(id, D1, 2, -1.0)).is_err());
    assert!(store.save_lap_data(&lap(id + 5, D1, 2)).is_err());
    assert!(store
        .save_laps(&[lap(id, D1, 2), NewLap::new(id, D1, 3, f64::NAN)])
        .is_err());
    assert_eq!(store.save_lap_data(&lap(id, D1, 2)).unwrap(), 2);
    assert!(store.create_session(&NewSession::new("")).is_err());
    assert_eq!(session(&*store), 2);
}

/// Deleting a session removes it and every record under it, and reports how many of each went.
pub fn delete_removes_the_session_and_everything_under_it(h: &dyn Harness) {
    let store = h.open();
    let id = session(&*store);
    store
        .save_laps(&(1..=5).map(|n| lap(id, D1, n)).collect::<Vec<_>>())
        .unwrap();
    store.save_driver_metrics(&NewDriverMetrics::new(id, D1)).unwrap();
    store.save_driver_metrics(&NewDriverMetrics::new(id, D2)).unwrap();
    store.save_prediction(&prediction(id)).unwrap();
    store.save_simulation(&simulation(id)).unwrap();
    store
        .save_entries(&[
            entry(id, "007", 1, "A"),
            entry(id, "007", 2, "B"),
            entry(id, "8", 1, "C"),
        ])
        .unwrap();
    let removed = store.delete_session(id).unwrap();
    assert_eq!(
        removed,
        Counts::of(&[
            (Collection::Sessions, 1),
            (Collection::DriverMetrics, 2),
            (Collection::Laps, 5),
            (Collection::Predictions, 1),
            (Collection::Simulations, 1),
            (Collection::Entries, 3),
        ])
    );
    assert_eq!(store.counts().unwrap(), Counts::default());
    assert_eq!(store.get_session(id).unwrap(), None);
    assert!(store.get_session_laps(id).unwrap().is_empty());
    assert!(store.get_session_metrics(id).unwrap().is_empty());
    assert!(store.get_session_predictions(id).unwrap().is_empty());
    assert!(store.get_session_simulations(id).unwrap().is_empty());
    assert!(store.get_session_entries(id).unwrap().is_empty());
}

/// Deleting one session leaves every other session and its records as they were.
pub fn delete_leaves_other_sessions_untouched(h: &dyn Harness) {
    let store = h.open();
    let (s1, s2, s3) = (session(&*store), session(&*store), session(&*store));
    for n in 1..=4 {
        for s in [s1, s2, s3] {
            store.save_lap_data(&lap(s, D1, n)).unwrap();
        }
    }
    for s in [s1, s2, s3] {
        store.save_driver_metrics(&NewDriverMetrics::new(s, D2)).unwrap();
        store.save_simulation(&simulation(s)).unwrap();
    }
    let before: Vec<_> = [s1, s3]
        .iter()
        .map(|s| store.get_session_laps(*s).unwrap())
        .collect();
    store.delete_session(s2).unwrap();
    let after: Vec<_> = [s1, s3]
        .iter()
        .map(|s| store.get_session_laps(*s).unwrap())
        .collect();
    assert_eq!(before, after);
    assert_eq!(ids(&store.get_all_sessions().unwrap(), |s| s.id), [s1, s3]);
    assert_eq!(ids(&store.get_session_metrics(s3).unwrap(), |m| m.id), [3]);
    assert_eq!(ids(&store.get_session_simulations(s1).unwrap(), |m| m.id), [1]);
    assert_eq!(store.counts().unwrap().laps(), 8);
}

/// Deleting a session that does not exist is NotFound.
pub fn delete_of_an_unknown_session_is_not_found(h: &dyn Harness) {
    let store = h.open();
    let id = session(&*store);
    assert_not_found(store.delete_session(id + 1), id + 1);
    store.delete_session(id).unwrap();
    assert_not_found(store.delete_session(id), id);
}

/// Ids of deleted records are never given again, not even after closing and reopening the store.
pub fn ids_are_never_reused_after_a_delete_even_after_reopening(h: &dyn Harness) {
    let store = h.open();
    let (keep, newest) = (session(&*store), session(&*store));
    store.save_lap_data(&lap(keep, D1, 1)).unwrap();
    store
        .save_laps(&[lap(newest, D1, 1), lap(newest, D1, 2)])
        .unwrap();
    store
        .save_driver_metrics(&NewDriverMetrics::new(newest, D1))
        .unwrap();
    store.save_prediction(&prediction(newest)).unwrap();
    store.save_simulation(&simulation(newest)).unwrap();
    store.delete_session(newest).unwrap();
    assert_eq!(session(&*store), 3);
    store.close().unwrap();
    drop(store);

    let store = h.open();
    assert_eq!(session(&*store), 4);
    assert_eq!(store.save_lap_data(&lap(keep, D1, 2)).unwrap(), 4);
    assert_eq!(
        store
            .save_driver_metrics(&NewDriverMetrics::new(keep, D1))
            .unwrap(),
        2
    );
    assert_eq!(store.save_prediction(&prediction(keep)).unwrap(), 2);
    assert_eq!(store.save_simulation(&simulation(keep)).unwrap(), 2);
}

/// Everything acknowledged is there, unchanged, after the store is closed (or dropped) and reopened.
pub fn saved_records_survive_reopening(h: &dyn Harness) {
    let store = h.open();
    let id = session(&*store);
    store
        .save_laps(&(1..=30).map(|n| lap(id, D1, n)).collect::<Vec<_>>())
        .unwrap();
    store.save_lap_data(&lap(id, D2, 1)).unwrap();
    store
        .save_driver_metrics_json(id, D1, &json!({"aggression_score": {"aggression_score": 0.65}}))
        .unwrap();
    store.save_prediction(&prediction(id)).unwrap();
    store.save_simulation(&simulation(id)).unwrap();
    let snapshot = |store: &dyn RaceStore| {
        (
            store.get_all_sessions().unwrap(),
            store.get_session_laps(id).unwrap(),
            store.get_session_metrics(id).unwrap(),
            store.get_session_predictions(id).unwrap(),
            store.get_session_simulations(id).unwrap(),
        )
    };
    let before = snapshot(&*store);
    store.close().unwrap();
    drop(store);
    let store = h.open();
    assert_eq!(snapshot(&*store), before);
    // Dropping without close() keeps everything too.
    store.save_lap_data(&lap(id, D2, 2)).unwrap();
    drop(store);
    let store = h.open();
    assert_eq!(store.get_session_laps(id).unwrap().len(), 32);
}

/// 8 threads saving at once (single saves and batches) lose nothing and every save gets its own id.
pub fn concurrent_saves_lose_nothing_and_get_unique_ids(h: &dyn Harness) {
    const THREADS: usize = 8;
    const SAVES: usize = 250;
    let store: Arc<dyn RaceStore> = Arc::from(h.open());
    let sessions: Vec<Id> = (0..THREADS).map(|_| session(&*store)).collect();
    let handles: Vec<_> = sessions
        .iter()
        .enumerate()
        .map(|(thread, &sid)| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let driver = format!("driver-{thread}");
                let mut lap_ids = Vec::new();
                let mut other_ids = Vec::new();
                for n in 0..SAVES as i64 {
                    if n % 10 == 0 {
                        let batch: Vec<NewLap> =
                            (0..5).map(|k| lap(sid, &driver, 1000 + n * 5 + k)).collect();
                        lap_ids.extend(store.save_laps(&batch).unwrap());
                    } else {
                        lap_ids.push(store.save_lap_data(&lap(sid, &driver, n)).unwrap());
                    }
                    if n % 25 == 0 {
                        other_ids.push(store.save_prediction(&prediction(sid)).unwrap());
                        // Readers run alongside the writers and see whole records only.
                        for l in store.get_session_laps(sid).unwrap() {
                            assert_eq!(l.driver_id, driver);
                        }
                    }
                }
                (lap_ids, other_ids)
            })
        })
        .collect();
    let mut lap_ids = BTreeSet::new();
    let mut prediction_ids = BTreeSet::new();
    for handle in handles {
        let (laps, predictions) = handle.join().expect("thread panicked");
        for id in laps {
            assert!(lap_ids.insert(id), "lap id {id} given twice");
        }
        for id in predictions {
            assert!(prediction_ids.insert(id), "prediction id {id} given twice");
        }
    }
    let expected_laps = THREADS * (SAVES / 10 * 5 + SAVES - SAVES / 10);
    assert_eq!(lap_ids.len(), expected_laps);
    assert_eq!(
        lap_ids.iter().copied().collect::<Vec<_>>(),
        (1..=expected_laps as Id).collect::<Vec<_>>()
    );
    assert_eq!(prediction_ids.len(), THREADS * SAVES / 25);
    let counts = store.counts().unwrap();
    assert_eq!(
        (counts.laps() as usize, counts.predictions() as usize),
        (expected_laps, THREADS * SAVES / 25)
    );
    for (thread, sid) in sessions.iter().enumerate() {
        let laps = store.get_session_laps(*sid).unwrap();
        assert_eq!(laps.len(), expected_laps / THREADS);
        assert!(laps.iter().all(|l| l.driver_id == format!("driver-{thread}")));
        assert!(laps.windows(2).all(|w| w[0].id < w[1].id));
    }
    store.close().unwrap();
    drop(store);
    assert_eq!(h.open().counts().unwrap().laps() as usize, expected_laps);
}

/// 16 threads x 1,000 saves with readers alongside: exact totals, and every read shows whole
/// records with ids 1..=n, no gap that a later read fills in.
pub fn readers_beside_sixteen_writers_see_whole_records_and_no_gaps(h: &dyn Harness) {
    const WRITERS: i64 = 16;
    const SAVES: i64 = 1000;
    let store: Arc<dyn RaceStore> = Arc::from(h.open());
    let sid = session(&*store);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let lap_time = |n: i64| 80.0 + (n % 400) as f64 / 16.0;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let driver = format!("writer-{w}");
                let mut ids = Vec::new();
                let mut n = 0;
                while n < SAVES {
                    if n % 100 == 0 {
                        let batch: Vec<NewLap> = (n..n + 10)
                            .map(|k| NewLap::new(sid, &driver, k, lap_time(k)))
                            .collect();
                        ids.extend(store.save_laps(&batch).unwrap());
                        n += 10;
                    } else {
                        ids.push(
                            store
                                .save_lap_data(&NewLap::new(sid, &driver, n, lap_time(n)))
                                .unwrap(),
                        );
                        n += 1;
                    }
                }
                ids
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (store, done) = (Arc::clone(&store), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut seen = 0;
                let mut reads = 0;
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    let laps = store.get_laps(&LapQuery::all()).unwrap();
                    assert!(laps.len() >= seen, "a read saw fewer laps than an earlier one");
                    for (i, lap) in laps.iter().enumerate() {
                        assert_eq!(lap.id, i as Id + 1, "a gap before id {}", lap.id);
                        assert_eq!(
                            lap.lap_time,
                            lap_time(lap.lap_number),
                            "a partial record: {lap:?}"
                        );
                        assert!(lap.driver_id.starts_with("writer-"));
                    }
                    seen = laps.len();
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for writer in writers {
        for id in writer.join().expect("writer panicked") {
            assert!(ids.insert(id), "lap id {id} given twice");
        }
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for reader in readers {
        assert!(reader.join().expect("reader panicked") > 0);
    }
    let total = (WRITERS * SAVES) as usize;
    assert_eq!(ids.len(), total);
    assert_eq!(
        ids.into_iter().collect::<Vec<_>>(),
        (1..=total as Id).collect::<Vec<_>>()
    );
    assert_eq!(store.counts().unwrap().laps() as usize, total);
    for w in 0..WRITERS {
        let mine = store.get_driver_laps(sid, &format!("writer-{w}")).unwrap();
        assert_eq!(
            mine.iter().map(|l| l.lap_number).collect::<Vec<_>>(),
            (0..SAVES).collect::<Vec<_>>()
        );
    }
}

/// Two stores open on one location at once see each other's saves and deletes on their next
/// read, and ids stay unique and ascending across both.
pub fn two_stores_open_on_one_location_see_each_others_saves_and_deletes(h: &dyn Harness) {
    let a = h.open();
    let b = h.open();
    let first = session(&*a);
    assert_eq!(b.get_session(first).unwrap().map(|s| s.id), Some(first));
    let mut ids = Vec::new();
    for n in 1..=6 {
        let (saver, other) = if n % 2 == 0 { (&a, &b) } else { (&b, &a) };
        ids.push(saver.save_lap_data(&lap(first, D1, n)).unwrap());
        let seen = other.get_session_laps(first).unwrap();
        assert_eq!(
            ids_of_laps(&seen),
            ids,
            "the other store sees every acknowledged save"
        );
    }
    assert_eq!(ids, (1..=6).collect::<Vec<Id>>(), "ids ascend across both stores");
    let batch: Vec<NewLap> = (7..=9).map(|n| lap(first, D2, n)).collect();
    ids.extend(a.save_laps(&batch).unwrap());
    let second = session(&*b);
    assert_eq!(second, first + 1);
    b.save_prediction(&prediction(second)).unwrap();
    assert_eq!(ids_of_laps(&b.get_session_laps(first).unwrap()), ids);
    assert_eq!(a.counts().unwrap(), b.counts().unwrap());
    let summaries = a.session_summaries(&SessionQuery::default()).unwrap();
    assert_eq!(summaries[0].counts.laps(), 9);
    assert_eq!(summaries[1].counts.get(Collection::Predictions), 1);
    b.delete_session(first).unwrap();
    assert!(a.get_session(first).unwrap().is_none());
    assert!(a.get_session_laps(first).unwrap().is_empty());
    assert_eq!(
        a.save_lap_data(&lap(second, D1, 1)).unwrap(),
        10,
        "no lap id given twice"
    );
    assert_eq!(b.get_session_laps(second).unwrap().len(), 1);
    a.close().unwrap();
    b.close().unwrap();
}

fn ids_of_laps(laps: &[Lap]) -> Vec<Id> {
    ids(laps, |l| l.id)
}

/// After `close`, every call (a second close included) fails with Closed.
pub fn closed_store_refuses_every_call(h: &dyn Harness) {
    let store = h.open();
    let id = session(&*store);
    store.close().unwrap();
    let closed = |result: crate::Result<()>| assert!(matches!(result, Err(Error::Closed)), "{result:?}");
    closed(store.create_session(&NewSession::new("Barber")).map(drop));
    closed(store.save_lap_data(&lap(id, D1, 1)).map(drop));
    closed(store.save_laps(&[]).map(drop));
    closed(store.get_session(id).map(drop));
    closed(store.get_all_sessions().map(drop));
    closed(store.get_session_laps(id).map(drop));
    closed(store.counts().map(drop));
    closed(store.delete_session(id).map(drop));
    closed(store.close());
}

/// `counts` reports the number of records in every collection.
pub fn counts_count_every_collection(h: &dyn Harness) {
    let store = h.open();
    assert_eq!(store.counts().unwrap(), Counts::default());
    let (s1, s2) = (session(&*store), session(&*store));
    store
        .save_laps(&(1..=7).map(|n| lap(s1, D1, n)).collect::<Vec<_>>())
        .unwrap();
    store.save_lap_data(&lap(s2, D1, 1)).unwrap();
    store.save_driver_metrics(&NewDriverMetrics::new(s2, D1)).unwrap();
    for _ in 0..3 {
        store.save_prediction(&prediction(s1)).unwrap();
    }
    store.save_simulation(&simulation(s2)).unwrap();
    store
        .save_entries(&[entry(s1, "7", 1, "A"), entry(s2, "7", 1, "A")])
        .unwrap();
    assert_eq!(
        store.counts().unwrap(),
        Counts::of(&[
            (Collection::Sessions, 2),
            (Collection::DriverMetrics, 1),
            (Collection::Laps, 8),
            (Collection::Predictions, 3),
            (Collection::Simulations, 1),
            (Collection::Entries, 2),
        ])
    );
}

/// Every timestamp racestore writes is RFC 3339 UTC with microseconds, e.g. `2026-11-25T16:33:08.009625Z`.
pub fn timestamps_written_use_the_documented_format(h: &dyn Harness) {
    let store = h.open();
    let id = session(&*store);
    store.save_lap_data(&lap(id, D1, 1)).unwrap();
    store.save_driver_metrics(&NewDriverMetrics::new(id, D1)).unwrap();
    store.save_prediction(&prediction(id)).unwrap();
    store.save_simulation(&simulation(id)).unwrap();
    let s = store.get_session(id).unwrap().unwrap();
    let stamps = [
        s.created_at,
        s.updated_at,
        store.get_session_laps(id).unwrap()[0].created_at.clone(),
        store.get_session_metrics(id).unwrap()[0].created_at.clone(),
        store.get_session_predictions(id).unwrap()[0].created_at.clone(),
        store.get_session_simulations(id).unwrap()[0].created_at.clone(),
    ];
    for stamp in stamps {
        assert!(is_racestore_timestamp(&stamp), "{stamp}");
    }
}

/// Every record of every collection, paged through `export_page` `page` at a time.
fn export_all(store: &dyn RaceStore, page: usize) -> Vec<Records> {
    Collection::ALL
        .iter()
        .map(|&collection| {
            let mut all: Option<Records> = None;
            let mut after = 0;
            loop {
                let next = store.export_page(collection, after, page).unwrap();
                assert_eq!(next.collection(), collection);
                assert!(next.len() <= page);
                let Some(&last) = next.ids().last() else { break };
                assert!(
                    next.ids().iter().all(|id| *id > after),
                    "a page starts after the previous one"
                );
                after = last;
                match &mut all {
                    None => all = Some(next),
                    Some(all) => all.extend(next).expect("pages of one collection"),
                }
            }
            all.unwrap_or_else(|| Records::empty(collection))
        })
        .collect()
}

/// A store with records in every collection, spread over three sessions, one of them deleted.
fn populate(store: &dyn RaceStore) {
    let (s1, s2, s3) = (session(store), session(store), session(store));
    for n in 1..=4 {
        for s in [s1, s2, s3] {
            store.save_lap_data(&lap(s, D1, n)).unwrap();
        }
    }
    store
        .save_laps(&(5..=9).map(|n| lap(s2, D2, n)).collect::<Vec<_>>())
        .unwrap();
    for s in [s3, s1, s2] {
        store
            .save_driver_metrics_json(s, D1, &json!({"aggression_score": {"aggression_score": 0.7}}))
            .unwrap();
        store.save_prediction(&prediction(s)).unwrap();
        store.save_simulation(&simulation(s)).unwrap();
        store.save_entries(&[entry(s, "007", 1, "Kévin ESTRE")]).unwrap();
    }
    store.delete_session(s3).unwrap();
}

/// `export_page` pages through each collection in id order; together the pages are every record.
pub fn export_pages_through_each_collection_in_id_order(h: &dyn Harness) {
    let store = h.open();
    populate(&*store);
    let all = export_all(&*store, 2);
    assert_eq!(all[0], Records::Sessions(store.get_all_sessions().unwrap()));
    assert_eq!(all[2], Records::Laps(store.get_laps(&LapQuery::all()).unwrap()));
    assert_eq!(all[1].ids(), [2, 3]);
    assert_eq!(all[3].ids(), [2, 3]);
    assert_eq!(all[4].ids(), [2, 3]);
    assert_eq!(all[5].ids(), [2, 3]);
    assert_eq!(
        all[5],
        Records::of(
            [1, 2]
                .iter()
                .flat_map(|s| store.get_session_entries(*s).unwrap())
                .collect::<Vec<Entry>>()
        )
    );
    assert_eq!(
        all[1],
        Records::DriverMetrics(
            [1, 2]
                .iter()
                .flat_map(|s| store.get_session_metrics(*s).unwrap())
                .collect()
        )
    );
    assert_eq!(
        all[4],
        Records::Simulations(
            [1, 2]
                .iter()
                .flat_map(|s| store.get_session_simulations(*s).unwrap())
                .collect()
        )
    );
    assert_eq!(
        export_all(&*store, 1000),
        all,
        "the page size does not change what is read"
    );
    assert!(store.export_page(Collection::Laps, 1_000, 10).unwrap().is_empty());
    assert_eq!(store.export_page(Collection::Laps, 3, 2).unwrap().ids(), [4, 5]);
}

/// `import` stores records with their own ids and timestamps; later saves continue above them.
pub fn import_keeps_ids_and_timestamps_and_saves_continue_above_them(h: &dyn Harness) {
    let store = h.open();
    let sessions = vec![
        Session {
            id: 3,
            circuit: "Barber Motorsports Park".into(),
            date: "2025-09-06T14:00:00".into(),
            race_type: "race".into(),
            created_at: "2026-11-25T16:33:08.008926".into(),
            updated_at: "2026-11-25T16:33:08.008942".into(),
        },
        Session {
            id: 7,
            circuit: "COTA".into(),
            date: "2025-04-27".into(),
            race_type: "qualifying".into(),
            created_at: "2026-11-25 16:33:08".into(),
            updated_at: "2026-11-25 16:33:08".into(),
        },
    ];
    let laps: Vec<Lap> = [(10, 3), (11, 7), (15, 3)]
        .iter()
        .map(|&(id, session_id)| Lap {
            id,
            session_id,
            driver_id: D1.into(),
            lap_number: id,
            lap_time: 92.0,
            sector_1: Some(29.4),
            sector_2: None,
            sector_3: Some(30.3),
            lap_type: "normal".into(),
            position: Some(2),
            created_at: "2026-11-25T16:33:08.011128".into(),
        })
        .collect();
    store.import(&Records::Sessions(sessions.clone())).unwrap();
    store.import(&Records::Laps(laps.clone())).unwrap();
    let metrics = crate::model::DriverMetrics {
        id: 4,
        session_id: 7,
        driver_id: D2.into(),
        consistency_index: None,
        aggression_score: Some(0.72),
        sector_strength: json!({"S1": 1.02}),
        pace_stability: json!({}),
        fatigue_dropoff: json!({}),
        created_at: "2026-11-25T16:33:08.009925".into(),
    };
    store
        .import(&Records::DriverMetrics(vec![metrics.clone()]))
        .unwrap();
    assert_eq!(store.get_all_sessions().unwrap(), sessions);
    assert_eq!(store.get_laps(&LapQuery::all()).unwrap(), laps);
    assert_eq!(store.get_session_metrics(7).unwrap(), [metrics]);
    store.import(&Records::Predictions(Vec::new())).unwrap();
    assert_eq!(session(&*store), 8);
    assert_eq!(store.save_lap_data(&lap(3, D1, 1)).unwrap(), 16);
    assert_eq!(
        store.save_driver_metrics(&NewDriverMetrics::new(3, D1)).unwrap(),
        5
    );
    store.close().unwrap();
    drop(store);
    let store = h.open();
    assert_eq!(store.get_laps(&LapQuery::all()).unwrap().len(), 4);
    assert_eq!(store.save_prediction(&prediction(7)).unwrap(), 1);
}

/// `import` refuses ids that do not ascend or are not above those given, and children of an
/// unknown session, storing nothing of the batch.
pub fn import_refuses_bad_ids_and_unknown_sessions_and_stores_nothing(h: &dyn Harness) {
    let store = h.open();
    populate(&*store);
    let before = export_all(&*store, 100);
    let Records::Laps(laps) = &before[2] else {
        unreachable!()
    };
    let template = laps[0].clone();
    let with = |id: Id, session_id: Id| Lap {
        id,
        session_id,
        ..template.clone()
    };
    // Laps 1..=17 were given (12 to a lap since deleted): an id is never given twice.
    assert_invalid(store.import(&Records::Laps(vec![with(30, 1), with(20, 1)])), "id");
    assert_invalid(store.import(&Records::Laps(vec![with(12, 1)])), "id");
    assert_invalid(store.import(&Records::Laps(vec![with(17, 1)])), "id");
    assert_invalid(store.import(&Records::Laps(vec![with(30, 1), with(30, 1)])), "id");
    assert_not_found(store.import(&Records::Laps(vec![with(30, 1), with(31, 3)])), 3);
    let session_copy = store.get_session(1).unwrap().unwrap();
    assert_invalid(
        store.import(&Records::Sessions(vec![Session {
            id: 3,
            ..session_copy.clone()
        }])),
        "id",
    );
    assert_eq!(export_all(&*store, 100), before);
    store
        .import(&Records::Laps(vec![with(30, 1), with(31, 2)]))
        .unwrap();
    store
        .import(&Records::Sessions(vec![Session {
            id: 4,
            ..session_copy
        }]))
        .unwrap();
    assert_eq!(store.save_lap_data(&lap(4, D1, 1)).unwrap(), 32);
}

/// A backup leaves its destination and nothing else beside it; one that fails (here: onto a
/// path where a file cannot be made) leaves nothing at its destination.
pub fn a_backup_leaves_only_the_complete_copy_and_a_failed_one_nothing(h: &dyn Harness) {
    let store = h.open();
    populate(&*store);
    let destination = h.backup_destination();
    let parent = destination
        .parent()
        .expect("a destination in a folder")
        .to_owned();
    let listed = |dir: &std::path::Path| -> Vec<std::ffi::OsString> {
        std::fs::read_dir(dir)
            .map(|entries| entries.map(|e| e.unwrap().file_name()).collect())
            .unwrap_or_default()
    };
    let before = listed(&parent);
    crate::transfer::backup(&*store, &destination).unwrap();
    let mut expected = before.clone();
    expected.push(destination.file_name().unwrap().to_owned());
    let mut after = listed(&parent);
    expected.sort();
    after.sort();
    assert_eq!(after, expected, "only the backup itself is left beside it");
    // A destination inside a file: nothing can be made there, and nothing is.
    let blocked = parent.join("not-a-folder");
    std::fs::write(&blocked, b"x").unwrap();
    let failed = blocked.join("backup");
    assert!(crate::transfer::backup(&*store, &failed).is_err());
    assert!(!failed.exists());
    assert_eq!(std::fs::read(&blocked).unwrap(), b"x");
}

/// `backup` while other threads save writes a copy that opens and holds one moment's records.
pub fn backup_while_saving_is_a_consistent_snapshot(h: &dyn Harness) {
    let store: Arc<dyn RaceStore> = Arc::from(h.open());
    populate(&*store);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Rounds saved, per writer.
    let rounds: Arc<[std::sync::atomic::AtomicUsize; 2]> = Arc::new(Default::default());
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (store, stop, rounds) = (Arc::clone(&store), Arc::clone(&stop), Arc::clone(&rounds));
            std::thread::spawn(move || {
                let mut saved = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let s = session(&*store);
                    store
                        .save_laps(&(0..20).map(|n| lap(s, &format!("w{w}"), n)).collect::<Vec<_>>())
                        .unwrap();
                    store.save_simulation(&simulation(s)).unwrap();
                    saved += 1;
                    rounds[w].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                saved
            })
        })
        .collect();
    // The writers are under way (each has saved a round) when the backup starts.
    while rounds
        .iter()
        .any(|r| r.load(std::sync::atomic::Ordering::SeqCst) == 0)
    {
        std::thread::yield_now();
    }
    let destination = h.backup_destination();
    crate::transfer::backup(&*store, &destination).unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for writer in writers {
        assert!(writer.join().unwrap() > 0);
    }
    let live = export_all(&*store, 10_000);
    let copy = h.open_backup(&destination);
    let snapshot = export_all(&*copy, 10_000);
    // The copy is a prefix of every collection (nothing was deleted meanwhile).
    for (have, all) in snapshot.iter().zip(&live) {
        let ids = have.ids();
        assert_eq!(all.ids()[..ids.len()], ids[..], "{}", all.collection());
        assert_eq!(
            all.to_json()[..ids.len()],
            have.to_json()[..],
            "{}",
            all.collection()
        );
    }
    // One moment: a writer saves a session, then its 20 laps (one batch), then its simulation.
    for s in copy.get_all_sessions().unwrap().iter().filter(|s| s.id > 3) {
        let laps = copy.get_session_laps(s.id).unwrap().len();
        let simulations = copy.get_session_simulations(s.id).unwrap().len();
        assert!(
            laps == 0 || laps == 20,
            "session {}: a batch is never split ({laps} laps)",
            s.id
        );
        assert!(
            simulations == 0 || laps == 20,
            "session {}: a simulation without its laps",
            s.id
        );
    }
    assert!(
        matches!(
            crate::transfer::backup(&*store, &destination),
            Err(Error::Invalid { .. })
        ),
        "a backup never overwrites"
    );
}

/// `highest_ids` counts the ids of deleted records; after `reserve_ids` every collection gives
/// ids above the marks (lower marks change nothing), also after reopening.
pub fn highest_ids_count_deleted_records_and_reserved_ids_are_never_given(h: &dyn Harness) {
    let store = h.open();
    assert_eq!(store.highest_ids().unwrap(), IdMarks::default());
    populate(&*store);
    let given = IdMarks::of(&[
        (Collection::Sessions, 3),
        (Collection::DriverMetrics, 3),
        (Collection::Laps, 17),
        (Collection::Predictions, 3),
        (Collection::Simulations, 3),
        (Collection::Entries, 3),
    ]);
    assert_eq!(
        store.highest_ids().unwrap(),
        given,
        "session 3 and its records were deleted"
    );
    let marks = IdMarks::of(&[
        (Collection::Sessions, 10),
        (Collection::DriverMetrics, 2),
        (Collection::Laps, 40),
        (Collection::Predictions, 3),
        (Collection::Simulations, 7),
        (Collection::Entries, 5),
    ]);
    store.reserve_ids(&marks).unwrap();
    let raised = IdMarks::of(&[
        (Collection::Sessions, 10),
        (Collection::DriverMetrics, 3),
        (Collection::Laps, 40),
        (Collection::Predictions, 3),
        (Collection::Simulations, 7),
        (Collection::Entries, 5),
    ]);
    assert_eq!(store.highest_ids().unwrap(), raised);
    store.close().unwrap();
    drop(store);
    let store = h.open();
    assert_eq!(
        store.highest_ids().unwrap(),
        raised,
        "reserved ids hold after reopening"
    );
    assert_eq!(session(&*store), 11);
    assert_eq!(store.save_lap_data(&lap(1, D1, 9)).unwrap(), 41);
    assert_eq!(
        store.save_driver_metrics(&NewDriverMetrics::new(1, D1)).unwrap(),
        4
    );
    assert_eq!(store.save_prediction(&prediction(1)).unwrap(), 4);
    assert_eq!(store.save_simulation(&simulation(1)).unwrap(), 8);
    assert_eq!(store.save_entries(&[entry(1, "8", 1, "B")]).unwrap(), [6]);
    store.reserve_ids(&IdMarks::default()).unwrap();
    assert_eq!(
        store.save_lap_data(&lap(1, D1, 10)).unwrap(),
        42,
        "lower marks change nothing"
    );
}

/// Entries read back with every value given, in id order; values not given read back as `None`.
pub fn entries_round_trip_with_unknown_values_null(h: &dyn Harness) {
    let store = h.open();
    let (s1, s2) = (session(&*store), session(&*store));
    let given = vec![
        entry(s1, "007", 1, "Kévin ESTRE").vehicle("GR010 Hybrid"),
        NewEntry::new(s1, "13"),
        entry(s1, "007", 2, "Nicolás \"Nico\" Müller – 中嶋"),
    ];
    assert_eq!(store.save_entries(&given).unwrap(), [1, 2, 3]);
    assert_eq!(
        store
            .save_entries(&[NewEntry::new(s2, "13").class("Am")])
            .unwrap(),
        [4]
    );
    let read = store.get_session_entries(s1).unwrap();
    assert_eq!(ids(&read, |e| e.id), [1, 2, 3]);
    for (record, input) in read.iter().zip(&given) {
        assert_eq!(NewEntry::from(record), *input);
        assert!(
            is_racestore_timestamp(&record.created_at),
            "{}",
            record.created_at
        );
    }
    let bare = &read[1];
    assert_eq!(
        (&bare.car_number, &bare.driver_name, &bare.class, &bare.group),
        (&None, &None, &None, &None)
    );
    assert_eq!(
        (&bare.team, &bare.manufacturer, &bare.vehicle),
        (&None, &None, &None)
    );
    let json = serde_json::to_value(bare).unwrap();
    let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        Collection::Entries
            .columns()
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>(),
        "the JSON keys are the columns, in order"
    );
    assert_eq!(json["team"], Value::Null);
    store.close().unwrap();
    drop(store);
    let store = h.open();
    assert_eq!(store.get_session_entries(s1).unwrap(), read);
    assert_eq!(ids(&store.get_session_entries(s2).unwrap(), |e| e.id), [4]);
}

/// A read selects entries by any column, `group` (an SQL keyword) and `class` included.
pub fn entries_are_selected_by_any_column_even_one_named_by_an_sql_keyword(h: &dyn Harness) {
    let store = h.open();
    let s = session(&*store);
    store
        .save_entries(&[
            entry(s, "007", 1, "A"),
            entry(s, "8", 1, "B").group("P/A").class("LMP2"),
            entry(s, "007", 2, "C"),
            NewEntry::new(s, "99"),
        ])
        .unwrap();
    let select = |column: &'static str, value: &str| -> Vec<Id> {
        let entries: Vec<Entry> = store
            .read_records(&Query::session(Collection::Entries, s).text_equals(column, value))
            .unwrap();
        ids(&entries, |e| e.id)
    };
    assert_eq!(select("group", "H"), [1, 3]);
    assert_eq!(select("group", "P/A"), [2]);
    assert_eq!(select("class", "LMP2"), [2]);
    assert_eq!(select("car_number", "007"), [1, 3]);
    assert_eq!(select("driver_name", "C"), [3]);
    assert!(select("team", "nobody").is_empty());
}

/// A lap's entry is the entry of its session with its driver id; none when there is none.
pub fn a_laps_entry_is_found_by_session_and_driver(h: &dyn Harness) {
    let store = h.open();
    let (s1, s2) = (session(&*store), session(&*store));
    store
        .save_entries(&[
            entry(s1, "007", 1, "A"),
            entry(s1, "007", 2, "B"),
            entry(s2, "007", 2, "Z"),
        ])
        .unwrap();
    store
        .save_laps(&[lap(s1, "007-2", 1), lap(s1, "8-1", 1)])
        .unwrap();
    let laps = store.get_session_laps(s1).unwrap();
    let found = store.get_lap_entry(s1, &laps[0].driver_id).unwrap().unwrap();
    assert_eq!((found.id, found.driver_name.as_deref()), (2, Some("B")));
    assert_eq!(store.get_lap_entry(s1, &laps[1].driver_id).unwrap(), None);
    assert_eq!(store.get_lap_entry(s2, "007-2").unwrap().unwrap().id, 3);
    assert_eq!(store.get_lap_entry(s2 + 1, "007-2").unwrap(), None);
}

/// A blank driver id, or a value given blank (unknown is `None`), is Invalid naming the field;
/// an entry of an unknown session is NotFound; nothing is stored.
pub fn invalid_entry_input_names_the_field(h: &dyn Harness) {
    let store = h.open();
    let s = session(&*store);
    assert_invalid(store.save_entries(&[NewEntry::new(s, " ")]), "driver_id");
    assert_invalid(store.save_entries(&[NewEntry::new(s, "7").car("")]), "car_number");
    for (field, bad) in [
        ("driver_name", NewEntry::new(s, "7").driver_name(" ")),
        ("class", NewEntry::new(s, "7").class("")),
        ("group", NewEntry::new(s, "7").group("\t")),
        ("team", NewEntry::new(s, "7").team("")),
        ("manufacturer", NewEntry::new(s, "7").manufacturer("")),
        ("vehicle", NewEntry::new(s, "7").vehicle("")),
    ] {
        assert_invalid(store.save_entries(&[entry(s, "1", 1, "ok"), bad]), field);
    }
    assert_not_found(store.save_entries(&[entry(s + 1, "1", 1, "x")]), s + 1);
    assert_eq!(store.counts().unwrap().entries(), 0);
    assert_eq!(store.save_entries(&[entry(s, "1", 1, "ok")]).unwrap(), [1]);
}

/// A NUL character (`\u{0}`) in any text or JSON value (a key included) is invalid, naming the
/// field, on every backend alike (PostgreSQL cannot store one); nothing is stored.
pub fn a_nul_character_in_any_text_or_json_value_is_invalid(h: &dyn Harness) {
    let store = h.open();
    assert_invalid(store.create_session(&NewSession::new("Bar\0ber")), "circuit");
    let id = session(&*store);
    let mut bad_lap = lap(id, D1, 1);
    bad_lap.driver_id = "GR86\0-002".into();
    assert_invalid(store.save_laps(&[lap(id, D1, 2), bad_lap]), "driver_id");
    let mut bad_simulation = simulation(id);
    bad_simulation.results = json!({"win_probability": {"GR86\0": 1.0}});
    assert_invalid(store.save_simulation(&bad_simulation), "results");
    let mut bad_prediction = prediction(id);
    bad_prediction.model_path = "models/\0.pkl".into();
    assert_invalid(store.save_prediction(&bad_prediction), "model_path");
    let counts = store.counts().unwrap();
    assert_eq!(counts.total(), 1, "only the valid session: {counts:?}");
}

/// `delete_orphans` deletes only records whose session does not exist: in a store where every
/// record has its session, nothing goes, and ids keep counting as before.
pub fn deleting_orphans_keeps_every_record_whose_session_exists(h: &dyn Harness) {
    let store = h.open();
    populate(&*store);
    let before = store.counts().unwrap();
    let marks = store.highest_ids().unwrap();
    let removed = store.delete_orphans().unwrap();
    assert_eq!(removed.total(), 0, "{removed:?}");
    assert_eq!(store.counts().unwrap(), before);
    assert_eq!(store.highest_ids().unwrap(), marks);
}

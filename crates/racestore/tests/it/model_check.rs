//! Random operation sequences, run against each backend and against a plain in-memory model of
//! the contract; every read must agree.

use crate::common;

use proptest::prelude::*;
use racestore::{
    Collection, Counts, DriverMetrics, Durability, Error, Id, JsonStore, Lap, LapQuery, NewDriverMetrics,
    NewLap, NewPrediction, NewSession, NewSimulation, PostgresStore, Prediction, RaceStore, RaceStoreExt,
    Sectors, Session, SessionQuery, Simulation, SqliteStore,
};
use serde_json::json;

const CIRCUITS: [&str; 3] = ["Barber", "COTA", "Sebring"];
const DRIVERS: [&str; 3] = ["GR86-002-7", "GR86-013-22", "Kévin"];

#[derive(Debug, Clone)]
struct LapSpec {
    session: Id,
    driver: usize,
    lap_number: i64,
    lap_time: f64,
    s2: Option<f64>,
    position: Option<i64>,
}

#[derive(Debug, Clone)]
enum Op {
    CreateSession {
        circuit: usize,
        race_type: Option<&'static str>,
        dated: bool,
    },
    SaveLap(LapSpec),
    SaveBatch(Vec<LapSpec>),
    SaveMetrics {
        session: Id,
        driver: usize,
        consistency: Option<f64>,
    },
    SavePrediction {
        session: Id,
        confidence: Option<f64>,
    },
    SaveSimulation {
        session: Id,
        n_laps: i64,
    },
    Delete {
        session: Id,
    },
    Reopen,
}

fn lap_spec() -> impl Strategy<Value = LapSpec> {
    (
        0..5i64,
        0..DRIVERS.len(),
        -1..60i64,
        prop_oneof![8 => 60.0..200.0f64, 1 => Just(0.0), 1 => Just(f64::NAN), 1 => Just(-3.0)],
        proptest::option::of(prop_oneof![9 => 20.0..40.0f64, 1 => Just(f64::INFINITY)]),
        proptest::option::of(0..25i64),
    )
        .prop_map(|(session, driver, lap_number, lap_time, s2, position)| LapSpec {
            session,
            driver,
            lap_number,
            lap_time,
            s2,
            position,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..CIRCUITS.len(), proptest::option::of(prop_oneof![Just("qualifying"), Just(""), Just("race")]), any::<bool>())
            .prop_map(|(circuit, race_type, dated)| Op::CreateSession { circuit, race_type, dated }),
        6 => lap_spec().prop_map(Op::SaveLap),
        3 => proptest::collection::vec(lap_spec(), 0..12).prop_map(Op::SaveBatch),
        2 => (0..5i64, 0..DRIVERS.len(), proptest::option::of(prop_oneof![Just(0.9), Just(f64::NAN)]))
            .prop_map(|(session, driver, consistency)| Op::SaveMetrics { session, driver, consistency }),
        2 => (0..5i64, proptest::option::of(prop_oneof![Just(0.5), Just(2.0)]))
            .prop_map(|(session, confidence)| Op::SavePrediction { session, confidence }),
        1 => (0..5i64, -1..30i64).prop_map(|(session, n_laps)| Op::SaveSimulation { session, n_laps }),
        1 => (0..5i64).prop_map(|session| Op::Delete { session }),
        1 => Just(Op::Reopen),
    ]
}

fn new_lap(spec: &LapSpec) -> NewLap {
    NewLap {
        session_id: spec.session,
        driver_id: DRIVERS[spec.driver].to_owned(),
        lap_number: spec.lap_number,
        lap_time: spec.lap_time,
        sectors: Sectors {
            s1: Some(29.0),
            s2: spec.s2,
            s3: None,
        },
        lap_type: "normal".to_owned(),
        position: spec.position,
    }
}

/// The contract, kept as plainly as possible: vectors, counters, and the shared validation.
#[derive(Default)]
struct Model {
    sessions: Vec<Session>,
    metrics: Vec<DriverMetrics>,
    laps: Vec<Lap>,
    predictions: Vec<Prediction>,
    simulations: Vec<Simulation>,
    next: [Id; 5],
}

/// What an operation returned, reduced to what the contract fixes.
#[derive(Debug, PartialEq)]
enum Outcome {
    Ids(Vec<Id>),
    Counts(Counts),
    Invalid(String),
    NotFound(Id),
    Done,
}

fn outcome<T>(result: racestore::Result<T>, ok: impl FnOnce(T) -> Outcome) -> Outcome {
    match result {
        Ok(value) => ok(value),
        Err(Error::Invalid { field, .. }) => Outcome::Invalid(field),
        Err(Error::NotFound { id, .. }) => Outcome::NotFound(id),
        Err(other) => panic!("unexpected error {other}"),
    }
}

const NOW: &str = "<now>";

impl Model {
    fn id(&mut self, collection: usize) -> Id {
        self.next[collection] += 1;
        self.next[collection]
    }

    fn has_session(&self, id: Id) -> bool {
        self.sessions.iter().any(|s| s.id == id)
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        let check = |r: racestore::Result<()>| r.map_err(|e| outcome::<()>(Err(e), |()| Outcome::Done));
        let result: Result<Outcome, Outcome> = (|| match op {
            Op::CreateSession { .. } => {
                let session = session_input(op)
                    .validate(0, NOW)
                    .map_err(|e| outcome::<()>(Err(e), |()| Outcome::Done))?;
                let id = self.id(0);
                self.sessions.push(Session { id, ..session });
                Ok(Outcome::Ids(vec![id]))
            }
            Op::SaveLap(spec) => self.save_laps(std::slice::from_ref(spec)),
            Op::SaveBatch(specs) => self.save_laps(specs),
            Op::SaveMetrics { .. } => {
                let input = metrics_input(op);
                let record = input
                    .validate(0, NOW)
                    .map_err(|e| outcome::<()>(Err(e), |()| Outcome::Done))?;
                check(self.require(input.session_id))?;
                let id = self.id(1);
                self.metrics.push(DriverMetrics { id, ..record });
                Ok(Outcome::Ids(vec![id]))
            }
            Op::SavePrediction { .. } => {
                let input = prediction_input(op);
                let record = input
                    .validate(0, NOW)
                    .map_err(|e| outcome::<()>(Err(e), |()| Outcome::Done))?;
                check(self.require(input.session_id))?;
                let id = self.id(3);
                self.predictions.push(Prediction { id, ..record });
                Ok(Outcome::Ids(vec![id]))
            }
            Op::SaveSimulation { .. } => {
                let input = simulation_input(op);
                let record = input
                    .validate(0, NOW)
                    .map_err(|e| outcome::<()>(Err(e), |()| Outcome::Done))?;
                check(self.require(input.session_id))?;
                let id = self.id(4);
                self.simulations.push(Simulation { id, ..record });
                Ok(Outcome::Ids(vec![id]))
            }
            Op::Delete { session } => {
                check(self.require(*session))?;
                let mut removed = Counts::of(&[(Collection::Sessions, 1)]);
                self.sessions.retain(|s| s.id != *session);
                removed.set(
                    Collection::DriverMetrics,
                    drain(&mut self.metrics, |m| m.session_id == *session),
                );
                removed.set(
                    Collection::Laps,
                    drain(&mut self.laps, |l| l.session_id == *session),
                );
                removed.set(
                    Collection::Predictions,
                    drain(&mut self.predictions, |p| p.session_id == *session),
                );
                removed.set(
                    Collection::Simulations,
                    drain(&mut self.simulations, |s| s.session_id == *session),
                );
                Ok(Outcome::Counts(removed))
            }
            Op::Reopen => Ok(Outcome::Done),
        })();
        result.unwrap_or_else(|failure| failure)
    }

    fn require(&self, session: Id) -> racestore::Result<()> {
        if self.has_session(session) {
            Ok(())
        } else {
            Err(Error::session_not_found(session))
        }
    }

    fn save_laps(&mut self, specs: &[LapSpec]) -> Result<Outcome, Outcome> {
        let mut records = Vec::new();
        for spec in specs {
            records.push(
                new_lap(spec)
                    .validate(0, NOW)
                    .map_err(|e| outcome::<()>(Err(e), |()| Outcome::Done))?,
            );
        }
        for record in &records {
            if !self.has_session(record.session_id) {
                return Err(Outcome::NotFound(record.session_id));
            }
        }
        let mut ids = Vec::new();
        for record in records {
            let id = self.id(2);
            ids.push(id);
            self.laps.push(Lap { id, ..record });
        }
        Ok(Outcome::Ids(ids))
    }
}

fn drain<T>(records: &mut Vec<T>, remove: impl Fn(&T) -> bool) -> u64 {
    let before = records.len();
    records.retain(|r| !remove(r));
    (before - records.len()) as u64
}

fn session_input(op: &Op) -> NewSession {
    let Op::CreateSession {
        circuit,
        race_type,
        dated,
    } = op
    else {
        unreachable!()
    };
    NewSession {
        circuit: CIRCUITS[*circuit].to_owned(),
        date: dated.then(|| "2025-09-06T14:00:00".to_owned()),
        race_type: race_type.map(str::to_owned),
    }
}

fn metrics_input(op: &Op) -> NewDriverMetrics {
    let Op::SaveMetrics {
        session,
        driver,
        consistency,
    } = op
    else {
        unreachable!()
    };
    NewDriverMetrics {
        consistency_index: *consistency,
        sector_strength: json!({"S1": 0.98}),
        ..NewDriverMetrics::new(*session, DRIVERS[*driver])
    }
}

fn prediction_input(op: &Op) -> NewPrediction {
    let Op::SavePrediction { session, confidence } = op else {
        unreachable!()
    };
    NewPrediction {
        session_id: *session,
        driver_id: DRIVERS[0].to_owned(),
        prediction_type: "lap_time".to_owned(),
        prediction_value: 91.5,
        model_path: "models/m.pkl".to_owned(),
        confidence: *confidence,
    }
}

fn simulation_input(op: &Op) -> NewSimulation {
    let Op::SaveSimulation { session, n_laps } = op else {
        unreachable!()
    };
    NewSimulation {
        session_id: *session,
        driver_paces: json!({DRIVERS[0]: 91.5, DRIVERS[2]: 92.25}),
        n_laps: *n_laps,
        iterations: 100,
        results: json!({"win_probability": {DRIVERS[0]: 0.7, DRIVERS[2]: 0.3}, "big": u64::MAX}),
    }
}

fn run(store: &dyn RaceStore, op: &Op) -> Outcome {
    match op {
        Op::CreateSession { .. } => outcome(store.create_session(&session_input(op)), |id| {
            Outcome::Ids(vec![id])
        }),
        Op::SaveLap(spec) => outcome(store.save_lap_data(&new_lap(spec)), |id| Outcome::Ids(vec![id])),
        Op::SaveBatch(specs) => outcome(
            store.save_laps(&specs.iter().map(new_lap).collect::<Vec<_>>()),
            Outcome::Ids,
        ),
        Op::SaveMetrics { .. } => outcome(store.save_driver_metrics(&metrics_input(op)), |id| {
            Outcome::Ids(vec![id])
        }),
        Op::SavePrediction { .. } => outcome(store.save_prediction(&prediction_input(op)), |id| {
            Outcome::Ids(vec![id])
        }),
        Op::SaveSimulation { .. } => outcome(store.save_simulation(&simulation_input(op)), |id| {
            Outcome::Ids(vec![id])
        }),
        Op::Delete { session } => outcome(store.delete_session(*session), Outcome::Counts),
        Op::Reopen => unreachable!("handled by the caller"),
    }
}

/// Blanks what the wall clock decides, so model and store compare on everything else.
fn without_clock<T: serde::Serialize>(records: &[T]) -> serde_json::Value {
    let mut value = serde_json::to_value(records).unwrap();
    for record in value.as_array_mut().unwrap() {
        let record = record.as_object_mut().unwrap();
        for field in ["created_at", "updated_at"] {
            if let Some(stamp) = record.get_mut(field) {
                *stamp = json!(NOW);
            }
        }
        // A session created without a date is dated with the clock too.
        if let Some(date) = record.get_mut("date") {
            if date.as_str().is_some_and(|d| d.ends_with('Z')) {
                *date = json!(NOW);
            }
        }
    }
    value
}

fn compare_reads(store: &dyn RaceStore, model: &Model) {
    assert_eq!(
        without_clock(&store.get_all_sessions().unwrap()),
        without_clock(&model.sessions)
    );
    for circuit in CIRCUITS {
        let expected: Vec<_> = model
            .sessions
            .iter()
            .filter(|s| s.circuit == circuit)
            .cloned()
            .collect();
        assert_eq!(
            without_clock(&store.get_sessions(&SessionQuery::all().circuit(circuit)).unwrap()),
            without_clock(&expected)
        );
    }
    for session in 0..=5 {
        let of = |s: Id| s == session;
        let laps: Vec<_> = model.laps.iter().filter(|l| of(l.session_id)).cloned().collect();
        assert_eq!(
            without_clock(&store.get_session_laps(session).unwrap()),
            without_clock(&laps)
        );
        for driver in DRIVERS {
            let mine: Vec<_> = laps.iter().filter(|l| l.driver_id == driver).cloned().collect();
            assert_eq!(
                without_clock(&store.get_driver_laps(session, driver).unwrap()),
                without_clock(&mine)
            );
        }
        let metrics: Vec<_> = model
            .metrics
            .iter()
            .filter(|m| of(m.session_id))
            .cloned()
            .collect();
        assert_eq!(
            without_clock(&store.get_session_metrics(session).unwrap()),
            without_clock(&metrics)
        );
        let predictions: Vec<_> = model
            .predictions
            .iter()
            .filter(|p| of(p.session_id))
            .cloned()
            .collect();
        assert_eq!(
            without_clock(&store.get_session_predictions(session).unwrap()),
            without_clock(&predictions)
        );
        let simulations: Vec<_> = model
            .simulations
            .iter()
            .filter(|s| of(s.session_id))
            .cloned()
            .collect();
        assert_eq!(
            without_clock(&store.get_session_simulations(session).unwrap()),
            without_clock(&simulations)
        );
        assert_eq!(
            store.get_session(session).unwrap().is_some(),
            model.has_session(session)
        );
    }
    assert_eq!(
        without_clock(&store.get_laps(&LapQuery::all()).unwrap()),
        without_clock(&model.laps)
    );
    let counts = Counts::of(&[
        (Collection::Sessions, model.sessions.len() as u64),
        (Collection::DriverMetrics, model.metrics.len() as u64),
        (Collection::Laps, model.laps.len() as u64),
        (Collection::Predictions, model.predictions.len() as u64),
        (Collection::Simulations, model.simulations.len() as u64),
    ]);
    assert_eq!(store.counts().unwrap(), counts);
}

fn check_sequence(open: &dyn Fn() -> Box<dyn RaceStore>, ops: &[Op]) {
    let mut store = open();
    let mut model = Model::default();
    for (step, op) in ops.iter().enumerate() {
        if let Op::Reopen = op {
            store.close().unwrap();
            drop(store);
            store = open();
        } else {
            let expected = model.apply(op);
            let got = run(&*store, op);
            assert_eq!(got, expected, "step {step}: {op:?}");
        }
        compare_reads(&*store, &model);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn json_backend_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let temp = tempfile::tempdir().unwrap();
        check_sequence(&|| Box::new(JsonStore::open(temp.path(), Durability::Process).unwrap()), &ops);
    }

    #[test]
    fn sqlite_backend_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("race.db");
        check_sequence(&|| Box::new(SqliteStore::open(&path, Durability::Process).unwrap()), &ops);
    }
}

/// The PostgreSQL backend against the model: fewer cases (each runs on a server, in a schema of
/// its own), shrunk like the others on failure. SKIP without `RACESTORE_TEST_POSTGRES_URL`.
#[test]
fn postgres_backend_agrees_with_the_model() {
    const TEST: &str = "postgres_backend_agrees_with_the_model";
    if common::postgres::server_url(TEST).is_none() {
        return;
    }
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 16,
        ..ProptestConfig::default()
    });
    let result = runner.run(&proptest::collection::vec(op(), 1..40), |ops| {
        let schema = common::postgres::TestSchema::new(TEST).expect("server URL checked above");
        let url = schema.url("").parse().unwrap();
        check_sequence(
            &|| Box::new(PostgresStore::open(&url, Durability::Process).unwrap()),
            &ops,
        );
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

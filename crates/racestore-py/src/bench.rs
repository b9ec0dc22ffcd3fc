//! The benchmark's baseline (`bench/bench.py`): the library calls the Python methods wrap, made
//! natively in a loop on the same store, timed in Rust. Private (`racestore._native._bench_*`).

use std::time::Instant;

use pyo3::prelude::*;
use racestore::{Id, NewLap, RaceStoreExt, Sectors};

use crate::store::NativeStore;

/// The lap the benchmark saves, the same in Python (`bench.py`'s `lap_row`) and here.
fn lap(session_id: Id, index: i64) -> NewLap {
    let car = index % 20;
    let lap_time = 90.0 + (index % 1000) as f64 / 100.0;
    NewLap {
        session_id,
        driver_id: format!("GR86-{car:03}"),
        lap_number: index / 20 + 1,
        lap_time,
        sectors: Sectors::new(30.1, 32.5, lap_time - 62.6),
        lap_type: "RACE_LAP".to_owned(),
        position: Some(car + 1),
    }
}

/// Seconds taken by `n` calls of the library's `save_lap_data`, one lap each, into `session_id`.
#[pyfunction]
pub(crate) fn _bench_save_lap_data(
    py: Python<'_>,
    store: &Bound<'_, NativeStore>,
    session_id: Id,
    n: i64,
) -> PyResult<f64> {
    store.get().with_store(py, |s| {
        let start = Instant::now();
        for index in 0..n {
            s.save_lap_data(&lap(session_id, index))?;
        }
        Ok(start.elapsed().as_secs_f64())
    })
}

/// Seconds taken by the library's `save_laps` of `laps_per_session` laps into each session,
/// in batches of `batch` laps (the laps are made before the clock starts).
#[pyfunction]
pub(crate) fn _bench_save_laps(
    py: Python<'_>,
    store: &Bound<'_, NativeStore>,
    session_ids: Vec<Id>,
    laps_per_session: i64,
    batch: usize,
) -> PyResult<f64> {
    let laps: Vec<NewLap> = session_ids
        .iter()
        .flat_map(|&session| (0..laps_per_session).map(move |index| lap(session, index)))
        .collect();
    store.get().with_store(py, |s| {
        let start = Instant::now();
        for chunk in laps.chunks(batch.max(1)) {
            s.save_laps(chunk)?;
        }
        Ok(start.elapsed().as_secs_f64())
    })
}

/// Seconds taken by each of `n` calls of the library's `get_session_laps(session_id)`.
#[pyfunction]
pub(crate) fn _bench_get_session_laps(
    py: Python<'_>,
    store: &Bound<'_, NativeStore>,
    session_id: Id,
    n: usize,
) -> PyResult<Vec<f64>> {
    store.get().with_store(py, |s| {
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let start = Instant::now();
            let laps = s.get_session_laps(session_id)?;
            times.push(start.elapsed().as_secs_f64());
            std::hint::black_box(laps);
        }
        Ok(times)
    })
}

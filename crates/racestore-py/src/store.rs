//! `NativeStore`: one handle on a shared library store, its methods the original's ten and more.

use std::sync::{Arc, PoisonError, RwLock};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use racestore::{
    Counts, Id, LapQuery, NewDriverMetrics, NewEntry, NewLap, NewPrediction, NewSession, NewSimulation,
    RaceStore, RaceStoreExt, SessionQuery, StoreUrl,
};

use crate::convert::{self, JsonOut};
use crate::errors::{self, to_py_err};
use crate::rows;

/// A handle on a racestore store (the base class of `racestore.Store`).
///
/// Every open of one location in a process shares one store (`racestore::open_shared`), which
/// closes when its last handle is closed or collected. Methods release the GIL while the store
/// works, so threads sharing a handle run in parallel.
#[pyclass(subclass, frozen, module = "racestore._native", name = "NativeStore")]
pub(crate) struct NativeStore {
    /// `None` once closed.
    store: RwLock<Option<Arc<dyn RaceStore>>>,
    /// The URL as given, for reopening (see `reopen`).
    open_url: String,
    /// The URL as shown to people: a PostgreSQL password replaced by `***`.
    shown_url: String,
    /// The process that opened the store: a forked child must not use it.
    pid: u32,
    json_out: JsonOut,
    /// Whether a call after `close()` opens the store again, as the original JSON store's object
    /// stayed usable after its (no-op) `close()`.
    reopen: bool,
}

/// The URL as racestore shows it: any password replaced by `***`.
fn shown_url(url: &str) -> String {
    StoreUrl::parse(url).map_or_else(|_| racestore::redact_url(url), |u| u.to_string())
}

fn counts_dict<'py>(py: Python<'py>, counts: &Counts) -> PyResult<Bound<'py, PyDict>> {
    // Every collection by its key, as the library names them: a new collection needs nothing here.
    let d = PyDict::new(py);
    for (collection, n) in counts.iter() {
        d.set_item(collection.key(), n)?;
    }
    Ok(d)
}

impl NativeStore {
    /// Refuses a call from a process the store was not opened in.
    fn check_process(&self, py: Python<'_>) -> PyResult<()> {
        if self.pid == std::process::id() {
            Ok(())
        } else {
            Err(errors::used_after_fork(py, self.pid, &self.shown_url))
        }
    }

    /// Runs `f` on the store with the GIL released, mapping the library's error.
    pub(crate) fn with_store<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&dyn RaceStore) -> racestore::Result<T> + Send,
    ) -> PyResult<T> {
        self.check_process(py)?;
        let result = py.detach(|| {
            {
                let guard = self.store.read().unwrap_or_else(PoisonError::into_inner);
                if let Some(store) = guard.as_ref() {
                    return f(store.as_ref());
                }
            }
            if !self.reopen {
                return Err(racestore::Error::Closed);
            }
            let mut guard = self.store.write().unwrap_or_else(PoisonError::into_inner);
            if guard.is_none() {
                *guard = Some(racestore::open_shared(&self.open_url)?);
            }
            let store = guard.as_ref().map(Arc::clone).ok_or(racestore::Error::Closed)?;
            drop(guard);
            f(store.as_ref())
        });
        result.map_err(|e| to_py_err(py, e))
    }
}

#[pymethods]
impl NativeStore {
    /// Opens the store `url` names (`json:DIR`, `sqlite:FILE`, `postgres://...`; `None` is
    /// `RACESTORE_URL` or `json:storage`), or takes a handle on it when this process has it open.
    ///
    /// `json_text=True` gives JSON columns back as `json.dumps` text, as the original SQLite
    /// module did; `reopen=True` makes a call after `close()` open the store again, as the
    /// original JSON store's object stayed usable after `close()`.
    #[new]
    #[pyo3(signature = (url=None, *, json_text=false, reopen=false))]
    fn new(py: Python<'_>, url: Option<String>, json_text: bool, reopen: bool) -> PyResult<Self> {
        let url = url.unwrap_or_else(racestore::default_url);
        let store = py
            .detach(|| racestore::open_shared(&url))
            .map_err(|e| to_py_err(py, e))?;
        Ok(NativeStore {
            store: RwLock::new(Some(store)),
            shown_url: shown_url(&url),
            open_url: url,
            pid: std::process::id(),
            json_out: if json_text { JsonOut::Text } else { JsonOut::Values },
            reopen,
        })
    }

    /// The store's URL, a PostgreSQL password replaced by `***`.
    #[getter]
    fn url(&self) -> &str {
        &self.shown_url
    }

    /// Whether `close()` has been called on this handle (and it has not been reopened).
    #[getter]
    fn closed(&self) -> bool {
        self.store
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// The id of the process that opened this handle.
    #[getter]
    fn opened_in_process(&self) -> u32 {
        self.pid
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let this = slf.get();
        let name = slf.get_type().qualname()?;
        let state = if this.closed() { ", closed" } else { "" };
        Ok(format!("<{name} {}{state}>", this.shown_url))
    }

    /// Creates a session and returns its id. `date` (ISO 8601) defaults to now, `race_type` to `race`.
    #[pyo3(signature = (circuit, date=None, race_type=Some("race".to_owned())), text_signature = "($self, circuit, date=None, race_type='race')")]
    fn create_session(
        &self,
        py: Python<'_>,
        circuit: &Bound<'_, PyAny>,
        date: Option<&Bound<'_, PyAny>>,
        race_type: Option<String>,
    ) -> PyResult<Id> {
        let session = NewSession {
            circuit: convert::text("circuit", circuit)?,
            date: match date {
                Some(d) => convert::opt_text("date", d)?,
                None => None,
            },
            race_type,
        };
        self.with_store(py, |s| s.create_session(&session))
    }

    /// Saves one driver's metrics for a session: the original's dict (`consistency_index`,
    /// `aggression_score` plain or as `{"aggression_score": ...}`, `sector_strength`,
    /// `pace_stability`, `fatigue_dropoff`). Returns `None`, as the original did.
    #[pyo3(signature = (session_id, driver_id, metrics))]
    fn save_driver_metrics(
        &self,
        py: Python<'_>,
        session_id: &Bound<'_, PyAny>,
        driver_id: &Bound<'_, PyAny>,
        metrics: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let session_id = convert::session_id(session_id)?;
        let driver_id = convert::text("driver_id", driver_id)?;
        let metrics = convert::json("metrics", metrics)?;
        let metrics =
            NewDriverMetrics::from_json(session_id, driver_id, &metrics).map_err(|e| to_py_err(py, e))?;
        self.with_store(py, |s| s.save_driver_metrics(&metrics))?;
        Ok(())
    }

    /// Saves one lap; `sectors` is `{"S1": .., "S2": .., "S3": ..}` (a missing or `None`/NaN
    /// sector is untimed). Returns `None`, as the original did; `save_laps` returns ids.
    #[pyo3(signature = (session_id, driver_id, lap_number, lap_time, sectors, lap_type, position))]
    #[allow(clippy::too_many_arguments)]
    fn save_lap_data(
        &self,
        py: Python<'_>,
        session_id: &Bound<'_, PyAny>,
        driver_id: &Bound<'_, PyAny>,
        lap_number: &Bound<'_, PyAny>,
        lap_time: &Bound<'_, PyAny>,
        sectors: &Bound<'_, PyAny>,
        lap_type: &Bound<'_, PyAny>,
        position: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let lap = NewLap {
            session_id: convert::session_id(session_id)?,
            driver_id: convert::text("driver_id", driver_id)?,
            lap_number: convert::int("lap_number", lap_number)?,
            lap_time: convert::float("lap_time", lap_time)?,
            sectors: convert::sectors(sectors)?,
            lap_type: convert::text("lap_type", lap_type)?,
            position: convert::opt_int("position", position)?,
        };
        self.with_store(py, |s| s.save_lap_data(&lap))?;
        Ok(())
    }

    /// Saves laps all together or not at all and returns their ids (consecutive, in order).
    ///
    /// `rows` is an iterable of dicts, or a pandas DataFrame, with the columns `session_id`
    /// (optional when `session_id` is given), `driver_id`, `lap_number`, `lap_time`, `sectors`
    /// (a dict) or `sector_1`..`sector_3`, `lap_type` (default `normal`) and `position`.
    /// A bad row raises `InvalidInput` naming it (`rows[12].lap_time`) and stores nothing.
    #[pyo3(signature = (rows, session_id=None))]
    fn save_laps(
        &self,
        py: Python<'_>,
        rows: &Bound<'_, PyAny>,
        session_id: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<Id>> {
        let session_id = session_id.map(convert::session_id).transpose()?;
        let laps = rows::laps(rows, session_id)?;
        self.with_store(py, |s| s.save_laps(&laps))
            .map_err(|error| match rows::first_invalid(&laps) {
                Some(index) => errors::with_field_prefix(py, error, &format!("rows[{index}].")),
                None => error,
            })
    }

    /// Saves a prediction. `confidence` is in [0, 1] or `None`. Returns `None`, as the original did.
    #[pyo3(signature = (session_id, driver_id, prediction_type, prediction_value, model_path, confidence=None))]
    #[allow(clippy::too_many_arguments)]
    fn save_prediction(
        &self,
        py: Python<'_>,
        session_id: &Bound<'_, PyAny>,
        driver_id: &Bound<'_, PyAny>,
        prediction_type: &Bound<'_, PyAny>,
        prediction_value: &Bound<'_, PyAny>,
        model_path: &Bound<'_, PyAny>,
        confidence: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let prediction = NewPrediction {
            session_id: convert::session_id(session_id)?,
            driver_id: convert::text("driver_id", driver_id)?,
            prediction_type: convert::text("prediction_type", prediction_type)?,
            prediction_value: convert::float("prediction_value", prediction_value)?,
            model_path: convert::text("model_path", model_path)?,
            confidence: match confidence {
                Some(c) => convert::opt_float("confidence", c)?,
                None => None,
            },
        };
        self.with_store(py, |s| s.save_prediction(&prediction))?;
        Ok(())
    }

    /// Saves a Monte Carlo simulation and returns its id; `driver_paces` and `results` are kept exactly.
    #[pyo3(signature = (session_id, driver_paces, n_laps, iterations, results))]
    fn save_simulation(
        &self,
        py: Python<'_>,
        session_id: &Bound<'_, PyAny>,
        driver_paces: &Bound<'_, PyAny>,
        n_laps: &Bound<'_, PyAny>,
        iterations: &Bound<'_, PyAny>,
        results: &Bound<'_, PyAny>,
    ) -> PyResult<Id> {
        let simulation = NewSimulation {
            session_id: convert::session_id(session_id)?,
            driver_paces: convert::json("driver_paces", driver_paces)?,
            n_laps: convert::int("n_laps", n_laps)?,
            iterations: convert::int("iterations", iterations)?,
            results: convert::json("results", results)?,
        };
        self.with_store(py, |s| s.save_simulation(&simulation))
    }

    /// The driver metrics of a session, as dicts in id order.
    fn get_session_metrics<'py>(
        &self,
        py: Python<'py>,
        session_id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let session_id = convert::session_id(session_id)?;
        let records = self.with_store(py, |s| s.get_session_metrics(session_id))?;
        let mode = self.json_out;
        convert::dict_list(py, &records, |py, m| convert::metrics_dict(py, m, mode))
    }

    /// The laps of a session, as dicts in id order.
    fn get_session_laps<'py>(
        &self,
        py: Python<'py>,
        session_id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let session_id = convert::session_id(session_id)?;
        let records = self.with_store(py, |s| s.get_session_laps(session_id))?;
        convert::dict_list(py, &records, convert::lap_dict)
    }

    /// One driver's laps in a session, as dicts in id order.
    fn get_driver_laps<'py>(
        &self,
        py: Python<'py>,
        session_id: &Bound<'py, PyAny>,
        driver_id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let query = LapQuery::session(convert::session_id(session_id)?)
            .driver(convert::text("driver_id", driver_id)?);
        let records = self.with_store(py, |s| s.get_laps(&query))?;
        convert::dict_list(py, &records, convert::lap_dict)
    }

    /// The predictions of a session, as dicts in id order.
    fn get_session_predictions<'py>(
        &self,
        py: Python<'py>,
        session_id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let session_id = convert::session_id(session_id)?;
        let records = self.with_store(py, |s| s.get_session_predictions(session_id))?;
        convert::dict_list(py, &records, convert::prediction_dict)
    }

    /// Saves entries (who drove which car: dicts with driver_id and any of car_number,
    /// driver_name, class, group, team, manufacturer, vehicle) all together or not at all;
    /// returns their ids.
    fn save_entries(
        &self,
        py: Python<'_>,
        session_id: &Bound<'_, PyAny>,
        rows: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<Id>> {
        let session_id = convert::session_id(session_id)?;
        let mut entries = Vec::new();
        for row in rows.try_iter()? {
            let row = row?;
            let cell = |name: &str| -> PyResult<Option<String>> {
                match row.get_item(name) {
                    Ok(value) => convert::opt_text(name, &value),
                    Err(_) => Ok(None),
                }
            };
            let mut entry = NewEntry::new(
                session_id,
                convert::text("driver_id", &row.get_item("driver_id")?)?,
            );
            entry.car_number = cell("car_number")?;
            entry.driver_name = cell("driver_name")?;
            entry.class = cell("class")?;
            entry.group = cell("group")?;
            entry.team = cell("team")?;
            entry.manufacturer = cell("manufacturer")?;
            entry.vehicle = cell("vehicle")?;
            entries.push(entry);
        }
        self.with_store(py, |s| s.save_entries(&entries))
    }

    /// The entries of a session (who drove which car, in which class, for which team), as dicts
    /// in id order.
    fn get_session_entries<'py>(
        &self,
        py: Python<'py>,
        session_id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let session_id = convert::session_id(session_id)?;
        let records = self.with_store(py, |s| s.get_session_entries(session_id))?;
        let value = serde_json::to_value(&records)
            .map_err(|e| to_py_err(py, racestore::Error::backend("entries", e.to_string())))?;
        convert::py_json(py, &value)
    }

    /// The session's classification as `racestore show --json` gives it (the library's
    /// `analysis::race`): per car where the session's entries name cars, with class positions,
    /// teams and drivers, else per driver; `None` for a session that does not exist.
    fn session_classification<'py>(
        &self,
        py: Python<'py>,
        session_id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let session_id = convert::session_id(session_id)?;
        let read = self.with_store(py, |s| {
            let Some(session) = s.get_session(session_id)? else {
                return Ok(None);
            };
            Ok(Some((
                session,
                s.get_session_laps(session_id)?,
                s.get_session_entries(session_id)?,
            )))
        })?;
        let Some((session, laps, entries)) = read else {
            return Ok(py.None().into_bound(py));
        };
        let analysis = racestore::analysis::race::analyse_entries(&session, &laps, &entries);
        let value = serde_json::to_value(&analysis)
            .map_err(|e| to_py_err(py, racestore::Error::backend("classification", e.to_string())))?;
        convert::py_json(py, &value)
    }

    /// The simulations of a session, as dicts in id order.
    fn get_session_simulations<'py>(
        &self,
        py: Python<'py>,
        session_id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let session_id = convert::session_id(session_id)?;
        let records = self.with_store(py, |s| s.get_session_simulations(session_id))?;
        let mode = self.json_out;
        convert::dict_list(py, &records, |py, m| convert::simulation_dict(py, m, mode))
    }

    /// Every session, or those at `circuit` (an empty `circuit` is every session, as in the original).
    #[pyo3(signature = (circuit=None))]
    fn get_sessions<'py>(
        &self,
        py: Python<'py>,
        circuit: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let circuit = match circuit {
            Some(c) if c.is_truthy()? => Some(convert::text("circuit", c)?),
            _ => None,
        };
        let query = match circuit {
            Some(c) => SessionQuery::all().circuit(c),
            None => SessionQuery::all(),
        };
        let records = self.with_store(py, |s| s.get_sessions(&query))?;
        convert::dict_list(py, &records, convert::session_dict)
    }

    /// The session with this id as a dict, or `None`.
    fn get_session<'py>(
        &self,
        py: Python<'py>,
        session_id: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let session_id = convert::session_id(session_id)?;
        let record = self.with_store(py, |s| s.get_session(session_id))?;
        record.map(|s| convert::session_dict(py, &s)).transpose()
    }

    /// Deletes a session and everything under it; returns how many records of each kind went.
    fn delete_session<'py>(
        &self,
        py: Python<'py>,
        session_id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let session_id = convert::session_id(session_id)?;
        let counts = self.with_store(py, |s| s.delete_session(session_id))?;
        counts_dict(py, &counts)
    }

    /// Deletes every session and everything under it (ids keep counting). Returns `None`.
    fn clear_all(&self, py: Python<'_>) -> PyResult<()> {
        self.with_store(py, racestore::RaceStoreExt::clear_all)?;
        Ok(())
    }

    /// How many records the store holds, per collection.
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let counts = self.with_store(py, racestore::RaceStore::counts)?;
        counts_dict(py, &counts)
    }

    /// The laps of a session column by column (name to list), for `laps_frame`.
    fn _lap_columns<'py>(
        &self,
        py: Python<'py>,
        session_id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let session_id = convert::session_id(session_id)?;
        let laps = self.with_store(py, |s| s.get_session_laps(session_id))?;
        let d = PyDict::new(py);
        d.set_item("id", laps.iter().map(|l| l.id).collect::<Vec<_>>())?;
        d.set_item(
            "session_id",
            laps.iter().map(|l| l.session_id).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "driver_id",
            laps.iter().map(|l| l.driver_id.as_str()).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "lap_number",
            laps.iter().map(|l| l.lap_number).collect::<Vec<_>>(),
        )?;
        d.set_item("lap_time", laps.iter().map(|l| l.lap_time).collect::<Vec<_>>())?;
        // Untimed sectors as NaN, so the columns are float64.
        d.set_item(
            "sector_1",
            laps.iter()
                .map(|l| l.sector_1.unwrap_or(f64::NAN))
                .collect::<Vec<_>>(),
        )?;
        d.set_item(
            "sector_2",
            laps.iter()
                .map(|l| l.sector_2.unwrap_or(f64::NAN))
                .collect::<Vec<_>>(),
        )?;
        d.set_item(
            "sector_3",
            laps.iter()
                .map(|l| l.sector_3.unwrap_or(f64::NAN))
                .collect::<Vec<_>>(),
        )?;
        d.set_item(
            "lap_type",
            laps.iter().map(|l| l.lap_type.as_str()).collect::<Vec<_>>(),
        )?;
        d.set_item("position", laps.iter().map(|l| l.position).collect::<Vec<_>>())?;
        d.set_item(
            "created_at",
            laps.iter().map(|l| l.created_at.as_str()).collect::<Vec<_>>(),
        )?;
        Ok(d)
    }

    /// Releases this handle; the store flushes and closes when no handle on it is left.
    ///
    /// Closing twice is harmless. A handle opened with `reopen=True` (the original's JSON
    /// `RaceStorage`, whose `close()` did nothing) opens the store again on its next call.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.check_process(py)?;
        let taken = py.detach(|| self.store.write().unwrap_or_else(PoisonError::into_inner).take());
        match taken {
            Some(store) => py
                .detach(|| racestore::shared::release(store))
                .map_err(|e| to_py_err(py, e)),
            None => Ok(()),
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    /// Stores cannot be pickled: a child process opens the store from its URL instead.
    fn __reduce__(slf: &Bound<'_, Self>) -> PyResult<()> {
        let name = slf.get_type().qualname()?;
        Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "cannot pickle a {name} ({}): pass the URL to the other process and open the store there",
            slf.get().shown_url
        )))
    }
}

impl Drop for NativeStore {
    fn drop(&mut self) {
        // In a forked child the store's memory is a copy whose threads and files belong to the
        // parent: dropping it would flush and unlock the parent's files. Leave it alone.
        if self.pid != std::process::id() {
            let store = self
                .store
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            std::mem::forget(store);
        }
    }
}

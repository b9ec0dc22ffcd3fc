//! Python values to the library's inputs, and the library's records to plain Python values.
//!
//! Inputs are taken as pandas and NumPy users pass them: NumPy scalars and arrays convert, `None`,
//! NaN and `pd.NA` in an optional field mean missing, an integral float (`3.0`, from a pandas
//! column that holds a NaN) is an integer, and dict keys that are not strings become the strings
//! `json.dumps` makes of them. Whether a value is acceptable (a positive lap time, an existing
//! session, a known sector) is the library's rule, checked there.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use racestore::model::MAX_JSON_DEPTH;
use racestore::{DriverMetrics, Id, Lap, Prediction, Sectors, Session, Simulation};
use serde_json::{Map, Number, Value};

use crate::errors::invalid;

/// The name of an object's type, for messages.
fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "object".to_owned(), |n| n.to_string())
}

/// A short picture of a value, for messages (never more than 80 characters).
fn shown(obj: &Bound<'_, PyAny>) -> String {
    let text = obj.repr().map_or_else(|_| "?".to_owned(), |r| r.to_string());
    let mut out: String = text.chars().take(80).collect();
    if out.len() < text.len() {
        out.push_str("...");
    }
    format!("{} {out}", type_name(obj))
}

/// `pd.NA` and `pd.NaT`, recognised by type so that pandas need not be imported.
fn is_pandas_missing(obj: &Bound<'_, PyAny>) -> bool {
    obj.get_type()
        .name()
        .is_ok_and(|n| matches!(n.to_cow().as_deref(), Ok("NAType" | "NaTType")))
}

/// `None`, NaN (Python or NumPy) or a pandas missing value.
pub(crate) fn is_missing(obj: &Bound<'_, PyAny>) -> bool {
    if obj.is_none() {
        return true;
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return f.value().is_nan();
    }
    if obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyString>() {
        return false;
    }
    // NumPy floats other than float64 (float32, float16) are not `float` subclasses.
    is_pandas_missing(obj) || obj.extract::<f64>().is_ok_and(f64::is_nan)
}

/// NumPy scalars and arrays as plain Python values (`.tolist()`), or `None` for other objects.
fn numpy_plain<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = obj.py();
    if obj.is_instance_of::<PyList>() || !obj.hasattr(intern!(py, "tolist"))? {
        return Ok(None);
    }
    let module = obj.get_type().module()?;
    if !module.to_cow()?.starts_with("numpy") {
        return Ok(None);
    }
    obj.call_method0(intern!(py, "tolist")).map(Some)
}

/// An integer: a Python or NumPy integer, or an integral float.
pub(crate) fn int(field: &str, obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    let py = obj.py();
    if let Ok(i) = obj.cast::<PyInt>() {
        if obj.is_instance_of::<PyBool>() {
            return Err(invalid(
                py,
                field,
                format!("expected an integer, got {}", shown(obj)),
            ));
        }
        return i
            .extract::<i64>()
            .map_err(|_| invalid(py, field, format!("integer {} is out of range", shown(obj))));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            return Ok(v as i64);
        }
        let what = if v.is_nan() {
            "a missing value (NaN)".to_owned()
        } else {
            format!("{v}")
        };
        return Err(invalid(py, field, format!("expected an integer, got {what}")));
    }
    if is_pandas_missing(obj) || obj.is_none() {
        return Err(invalid(py, field, format!("is missing ({})", shown(obj))));
    }
    if let Some(plain) = numpy_plain(obj)? {
        return int(field, &plain);
    }
    Err(invalid(
        py,
        field,
        format!("expected an integer, got {}", shown(obj)),
    ))
}

/// An integer, or `None` when missing.
pub(crate) fn opt_int(field: &str, obj: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
    if is_missing(obj) {
        Ok(None)
    } else {
        int(field, obj).map(Some)
    }
}

/// A number as `f64`; NaN passes (the library says which fields may not be NaN).
pub(crate) fn float(field: &str, obj: &Bound<'_, PyAny>) -> PyResult<f64> {
    let py = obj.py();
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(f.value());
    }
    if obj.is_instance_of::<PyBool>() || obj.is_instance_of::<PyString>() {
        return Err(invalid(
            py,
            field,
            format!("expected a number, got {}", shown(obj)),
        ));
    }
    if let Ok(value) = obj.extract::<f64>() {
        return Ok(value);
    }
    if obj.is_none() || is_pandas_missing(obj) {
        return Err(invalid(py, field, format!("is missing ({})", shown(obj))));
    }
    Err(invalid(
        py,
        field,
        format!("expected a number, got {}", shown(obj)),
    ))
}

/// A number, or `None` when missing (`None`, NaN, `pd.NA`).
pub(crate) fn opt_float(field: &str, obj: &Bound<'_, PyAny>) -> PyResult<Option<f64>> {
    if let Ok(f) = obj.cast::<PyFloat>() {
        let value = f.value();
        return Ok((!value.is_nan()).then_some(value));
    }
    if is_missing(obj) {
        return Ok(None);
    }
    float(field, obj).map(Some)
}

/// Text: a string, or an integer (car numbers are often ints in a DataFrame) as its decimal form.
pub(crate) fn text(field: &str, obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let py = obj.py();
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
        return Ok(obj.str()?.to_cow()?.into_owned());
    }
    if obj.is_none() || is_pandas_missing(obj) {
        return Err(invalid(py, field, format!("is missing ({})", shown(obj))));
    }
    if let Some(plain) = numpy_plain(obj)? {
        if plain.is_instance_of::<PyInt>() || plain.is_instance_of::<PyString>() {
            return text(field, &plain);
        }
    }
    Err(invalid(
        py,
        field,
        format!("expected a string, got {}", shown(obj)),
    ))
}

/// Text, or `None` when missing.
pub(crate) fn opt_text(field: &str, obj: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if is_missing(obj) {
        Ok(None)
    } else {
        text(field, obj).map(Some)
    }
}

/// Where a value sits inside an argument, for messages (`results.win_probability.D1`), made
/// into text only when an error names it.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root(name) => f.write_str(name),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// Any Python value as JSON, the way `json.dumps` would write it, with NaN and `pd.NA` as `null`.
///
/// `field` names the value in errors (`results.win_probability.GR86-002-7`).
pub(crate) fn json(field: &str, obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    json_at(Path::Root(field), obj, 0)
}

fn json_at(path: Path<'_>, obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    let py = obj.py();
    if depth > MAX_JSON_DEPTH + 1 {
        // Cut here (a dict that contains itself would never end); the library would refuse it anyway.
        return Err(invalid(
            py,
            path.to_string(),
            format!("nests deeper than {MAX_JSON_DEPTH} levels, which JSON readers refuse"),
        ));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return float_json(path, f.value(), obj);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        if let Ok(v) = i.extract::<i64>() {
            return Ok(Value::from(v));
        }
        if let Ok(v) = i.extract::<u64>() {
            return Ok(Value::from(v));
        }
        return Err(invalid(
            py,
            path.to_string(),
            format!("integer {} does not fit in 64 bits", shown(obj)),
        ));
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(dict.len());
        for (key, value) in dict.iter() {
            let key = json_key(path, &key)?;
            let value = json_at(Path::Key(&path, &key), &value, depth + 1)?;
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for (index, item) in obj.try_iter()?.enumerate() {
            items.push(json_at(Path::Index(&path, index), &item?, depth + 1)?);
        }
        return Ok(Value::Array(items));
    }
    if obj.is_none() || is_pandas_missing(obj) {
        return Ok(Value::Null);
    }
    if let Some(plain) = numpy_plain(obj)? {
        return json_at(path, &plain, depth);
    }
    Err(invalid(
        py,
        path.to_string(),
        format!("cannot be stored as JSON: {}", shown(obj)),
    ))
}

fn float_json(path: Path<'_>, value: f64, obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if value.is_nan() {
        return Ok(Value::Null);
    }
    Number::from_f64(value).map(Value::Number).ok_or_else(|| {
        invalid(
            obj.py(),
            path.to_string(),
            format!("must be a finite number, got {value}"),
        )
    })
}

/// A dict key as `json.dumps` writes it: strings as they are; `True` as `true`, `None` as
/// `null`, numbers in their `repr` (`NaN`, `Infinity` for the special floats).
fn json_key(path: Path<'_>, key: &Bound<'_, PyAny>) -> PyResult<String> {
    let py = key.py();
    if let Ok(s) = key.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    if let Ok(b) = key.cast::<PyBool>() {
        return Ok(if b.is_true() { "true" } else { "false" }.to_owned());
    }
    if key.is_instance_of::<PyInt>() {
        return Ok(key.str()?.to_cow()?.into_owned());
    }
    if let Ok(f) = key.cast::<PyFloat>() {
        let v = f.value();
        return Ok(if v.is_nan() {
            "NaN".to_owned()
        } else if v.is_infinite() {
            if v > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
        } else {
            key.repr()?.to_cow()?.into_owned()
        });
    }
    if key.is_none() {
        return Ok("null".to_owned());
    }
    if let Some(plain) = numpy_plain(key)? {
        return json_key(path, &plain);
    }
    Err(invalid(
        py,
        path.to_string(),
        format!(
            "keys must be str, int, float, bool or None, as in JSON, not {}",
            shown(key)
        ),
    ))
}

/// A lap's sectors from the dict the original's callers pass (`{"S1": 29.3, ...}`), read by the
/// library's rules (`Sectors::from_entries`): which keys name which sector is the library's.
pub(crate) fn sectors(obj: &Bound<'_, PyAny>) -> PyResult<Sectors> {
    let py = obj.py();
    let to_err = |e| crate::errors::to_py_err(py, e);
    let Ok(dict) = obj.cast::<PyDict>() else {
        return Sectors::from_json(&json("sectors", obj)?).map_err(to_err);
    };
    // The usual keys, written as literals, are interned: recognise them without decoding.
    let known = [
        (intern!(py, "S1"), "S1"),
        (intern!(py, "S2"), "S2"),
        (intern!(py, "S3"), "S3"),
    ];
    let mut entries: Vec<(std::borrow::Cow<'static, str>, Value)> = Vec::with_capacity(dict.len());
    for (key, value) in dict.iter() {
        let name = match known.iter().find(|(interned, _)| key.is(*interned)) {
            Some((_, name)) => std::borrow::Cow::Borrowed(*name),
            None => std::borrow::Cow::Owned(json_key(Path::Root("sectors"), &key)?),
        };
        let value = if let Ok(f) = value.cast::<PyFloat>() {
            float_json(Path::Key(&Path::Root("sectors"), &name), f.value(), &value)?
        } else {
            json_at(Path::Key(&Path::Root("sectors"), &name), &value, 1)?
        };
        entries.push((name, value));
    }
    Sectors::from_entries(entries.iter().map(|(k, v)| (k.as_ref(), v))).map_err(to_err)
}

/// A JSON value as plain Python values: dicts (keys in order), lists, int, float, str, None.
pub(crate) fn py_json<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(py_json(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, py_json(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

static JSON_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// A JSON value as the text Python's `json.dumps` makes of it with its defaults (`", "` and
/// `": "` separators, non-ASCII escaped): what the original SQLite store keeps in its JSON columns.
pub(crate) fn json_text<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    let dumps = JSON_DUMPS.import(py, "json", "dumps")?;
    dumps.call1((py_json(py, value)?,))
}

/// How a store gives JSON values back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonOut {
    /// As Python values (dicts, lists, ...): the JSON store's behaviour and `racestore.open`'s.
    Values,
    /// As `json.dumps` text: the original `db_sqlite.py`'s behaviour.
    Text,
}

fn out_json<'py>(py: Python<'py>, value: &Value, mode: JsonOut) -> PyResult<Bound<'py, PyAny>> {
    match mode {
        JsonOut::Values => py_json(py, value),
        JsonOut::Text => json_text(py, value),
    }
}

fn opt_f64(py: Python<'_>, value: Option<f64>) -> Bound<'_, PyAny> {
    match value {
        Some(v) => PyFloat::new(py, v).into_any(),
        None => py.None().into_bound(py),
    }
}

fn int_obj(py: Python<'_>, value: i64) -> Bound<'_, PyAny> {
    // Converting an i64 to a Python int cannot fail.
    value
        .into_pyobject(py)
        .map_or_else(|e| match e {}, Bound::into_any)
}

fn opt_int_obj(py: Python<'_>, value: Option<i64>) -> Bound<'_, PyAny> {
    match value {
        Some(v) => int_obj(py, v),
        None => py.None().into_bound(py),
    }
}

/// A session as the original's dict: `id, circuit, date, race_type, created_at, updated_at`.
pub(crate) fn session_dict<'py>(py: Python<'py>, s: &Session) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "id"), int_obj(py, s.id))?;
    d.set_item(intern!(py, "circuit"), &s.circuit)?;
    d.set_item(intern!(py, "date"), &s.date)?;
    d.set_item(intern!(py, "race_type"), &s.race_type)?;
    d.set_item(intern!(py, "created_at"), &s.created_at)?;
    d.set_item(intern!(py, "updated_at"), &s.updated_at)?;
    Ok(d)
}

/// Driver metrics as the original's dict, its three objects as values or as JSON text.
pub(crate) fn metrics_dict<'py>(
    py: Python<'py>,
    m: &DriverMetrics,
    mode: JsonOut,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "id"), int_obj(py, m.id))?;
    d.set_item(intern!(py, "session_id"), int_obj(py, m.session_id))?;
    d.set_item(intern!(py, "driver_id"), &m.driver_id)?;
    d.set_item(intern!(py, "consistency_index"), opt_f64(py, m.consistency_index))?;
    d.set_item(intern!(py, "aggression_score"), opt_f64(py, m.aggression_score))?;
    d.set_item(
        intern!(py, "sector_strength"),
        out_json(py, &m.sector_strength, mode)?,
    )?;
    d.set_item(
        intern!(py, "pace_stability"),
        out_json(py, &m.pace_stability, mode)?,
    )?;
    d.set_item(
        intern!(py, "fatigue_dropoff"),
        out_json(py, &m.fatigue_dropoff, mode)?,
    )?;
    d.set_item(intern!(py, "created_at"), &m.created_at)?;
    Ok(d)
}

/// A lap as the original's dict: `id, session_id, driver_id, lap_number, lap_time, sector_1,
/// sector_2, sector_3, lap_type, position, created_at`.
pub(crate) fn lap_dict<'py>(py: Python<'py>, l: &Lap) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "id"), int_obj(py, l.id))?;
    d.set_item(intern!(py, "session_id"), int_obj(py, l.session_id))?;
    d.set_item(intern!(py, "driver_id"), &l.driver_id)?;
    d.set_item(intern!(py, "lap_number"), int_obj(py, l.lap_number))?;
    d.set_item(intern!(py, "lap_time"), PyFloat::new(py, l.lap_time))?;
    d.set_item(intern!(py, "sector_1"), opt_f64(py, l.sector_1))?;
    d.set_item(intern!(py, "sector_2"), opt_f64(py, l.sector_2))?;
    d.set_item(intern!(py, "sector_3"), opt_f64(py, l.sector_3))?;
    d.set_item(intern!(py, "lap_type"), &l.lap_type)?;
    d.set_item(intern!(py, "position"), opt_int_obj(py, l.position))?;
    d.set_item(intern!(py, "created_at"), &l.created_at)?;
    Ok(d)
}

/// A prediction as the original's dict.
pub(crate) fn prediction_dict<'py>(py: Python<'py>, p: &Prediction) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "id"), int_obj(py, p.id))?;
    d.set_item(intern!(py, "session_id"), int_obj(py, p.session_id))?;
    d.set_item(intern!(py, "driver_id"), &p.driver_id)?;
    d.set_item(intern!(py, "prediction_type"), &p.prediction_type)?;
    d.set_item(
        intern!(py, "prediction_value"),
        PyFloat::new(py, p.prediction_value),
    )?;
    d.set_item(intern!(py, "model_path"), &p.model_path)?;
    d.set_item(intern!(py, "confidence"), opt_f64(py, p.confidence))?;
    d.set_item(intern!(py, "created_at"), &p.created_at)?;
    Ok(d)
}

/// A simulation as the original's dict, its two objects as values or as JSON text.
pub(crate) fn simulation_dict<'py>(
    py: Python<'py>,
    s: &Simulation,
    mode: JsonOut,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "id"), int_obj(py, s.id))?;
    d.set_item(intern!(py, "session_id"), int_obj(py, s.session_id))?;
    d.set_item(intern!(py, "driver_paces"), out_json(py, &s.driver_paces, mode)?)?;
    d.set_item(intern!(py, "n_laps"), int_obj(py, s.n_laps))?;
    d.set_item(intern!(py, "iterations"), int_obj(py, s.iterations))?;
    d.set_item(intern!(py, "results"), out_json(py, &s.results, mode)?)?;
    d.set_item(intern!(py, "created_at"), &s.created_at)?;
    Ok(d)
}

/// A list of dicts built by `each`.
pub(crate) fn dict_list<'py, T>(
    py: Python<'py>,
    records: &[T],
    each: impl Fn(Python<'py>, &T) -> PyResult<Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for record in records {
        list.append(each(py, record)?)?;
    }
    Ok(list)
}

/// A session id argument.
pub(crate) fn session_id(obj: &Bound<'_, PyAny>) -> PyResult<Id> {
    int("session_id", obj)
}

//! The library's errors as the Python exceptions of `racestore.errors`, one class per kind.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyModule, PyType};
use racestore::Error;

/// `racestore.errors`, imported once (the classes are defined in Python, where an exception can
/// have two bases: `InvalidInput` is also a `ValueError`, `StoreIOError` an `OSError`).
static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    let module = ERRORS.get_or_try_init(py, || py.import("racestore.errors").map(Bound::unbind))?;
    Ok(module.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

/// An attribute value of an exception.
enum Attr {
    Str(String),
    Bool(bool),
    Int(i64),
    UInt(u64),
    None,
}

impl Attr {
    fn into_py(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        Ok(match self {
            Attr::Str(s) => s.into_pyobject(py)?.into_any(),
            Attr::Bool(b) => pyo3::types::PyBool::new(py, b).to_owned().into_any(),
            Attr::Int(i) => i.into_pyobject(py)?.into_any(),
            Attr::UInt(u) => u.into_pyobject(py)?.into_any(),
            Attr::None => py.None().into_bound(py),
        })
    }
}

fn path(p: &std::path::Path) -> Attr {
    Attr::Str(p.display().to_string())
}

/// Builds an instance of `racestore.errors.<name>` carrying `message` and `attrs`.
fn build(py: Python<'_>, name: &str, message: String, attrs: Vec<(&str, Attr)>) -> PyResult<PyErr> {
    let instance = class(py, name)?.call1((message,))?;
    for (key, value) in attrs {
        instance.setattr(key, value.into_py(py)?)?;
    }
    Ok(PyErr::from_value(instance))
}

/// The Python exception for a library error.
pub(crate) fn to_py_err(py: Python<'_>, error: Error) -> PyErr {
    let message = error.to_string();
    let (name, attrs) = match error {
        Error::Invalid { field, message } => (
            "InvalidInput",
            vec![("field", Attr::Str(field)), ("reason", Attr::Str(message))],
        ),
        Error::NotFound { what, id } => (
            "NotFound",
            vec![("what", Attr::Str(what.to_owned())), ("id", Attr::Int(id))],
        ),
        Error::CorruptFile {
            path: file,
            offset,
            line,
            column,
            message: _,
        } => (
            "CorruptStore",
            vec![
                ("path", path(&file)),
                ("offset", Attr::UInt(offset)),
                ("line", Attr::UInt(line)),
                ("column", Attr::UInt(column)),
                ("table", Attr::None),
                ("id", Attr::None),
            ],
        ),
        Error::CorruptRow {
            table,
            id,
            message: _,
        } => (
            "CorruptStore",
            vec![
                ("path", Attr::None),
                ("offset", Attr::None),
                ("line", Attr::None),
                ("column", Attr::None),
                ("table", Attr::Str(table.to_owned())),
                ("id", Attr::Int(id)),
            ],
        ),
        Error::Locked { path: dir, holder } => (
            "StoreLocked",
            vec![("path", path(&dir)), ("holder", Attr::Str(holder))],
        ),
        Error::Unsupported { url, message: _ } => ("UnsupportedUrl", vec![("url", Attr::Str(url))]),
        Error::Damaged { path: file, .. } => ("StoreDamaged", vec![("path", path(&file))]),
        Error::ReadOnly { path: store } => ("StoreReadOnly", vec![("path", path(&store))]),
        Error::Closed => ("StoreClosed", vec![]),
        Error::Poisoned(_) => ("StorePoisoned", vec![]),
        Error::Io {
            action: _,
            path: file,
            os_error: source,
        } => (
            "StoreIOError",
            vec![
                ("filename", path(&file)),
                (
                    "errno",
                    source.raw_os_error().map_or(Attr::None, |e| Attr::Int(e.into())),
                ),
            ],
        ),
        Error::Backend {
            backend, retryable, ..
        } => (
            "BackendError",
            vec![
                ("backend", Attr::Str(backend.to_owned())),
                ("retryable", Attr::Bool(retryable)),
            ],
        ),
        _ => ("Error", vec![]),
    };
    build(py, name, message, attrs).unwrap_or_else(|e| e)
}

/// `InvalidInput` naming `field`, for input the binding cannot even convert.
pub(crate) fn invalid(py: Python<'_>, field: impl Into<String>, message: impl Into<String>) -> PyErr {
    to_py_err(py, Error::invalid(field, message))
}

/// `UsedAfterFork`: a store opened in one process used in a child it forked.
pub(crate) fn used_after_fork(py: Python<'_>, opened_in: u32, url: &str) -> PyErr {
    let message = format!(
        "this store ({url}) was opened in process {opened_in} and cannot be used in process {}, a child it forked (multiprocessing with the fork start method copies open stores, but not the right to write them); open the store again in the child, e.g. in the pool's initializer, or use the spawn start method",
        std::process::id()
    );
    build(
        py,
        "UsedAfterFork",
        message,
        vec![("opened_in", Attr::UInt(opened_in.into()))],
    )
    .unwrap_or_else(|e| e)
}

/// `error` with `prefix` put before the field it names, when it is an `InvalidInput`
/// (`lap_time` becomes `rows[12].lap_time`); any other error unchanged.
pub(crate) fn with_field_prefix(py: Python<'_>, error: PyErr, prefix: &str) -> PyErr {
    let Ok(invalid_input) = class(py, "InvalidInput") else {
        return error;
    };
    let value = error.value(py);
    if !value.is_instance(&invalid_input).unwrap_or(false) {
        return error;
    }
    let field: Option<String> = value.getattr("field").and_then(|f| f.extract()).ok();
    let reason: Option<String> = value.getattr("reason").and_then(|r| r.extract()).ok();
    match (field, reason) {
        (Some(field), Some(reason)) => invalid(py, format!("{prefix}{field}"), reason),
        _ => error,
    }
}

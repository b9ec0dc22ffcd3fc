//! `racestore._native`: the racestore library as a Python extension module.
//!
//! Thin by design: Python values are converted to the library's inputs (`convert.rs`, `rows.rs`),
//! the library's records to plain dicts, and its errors to the exceptions of
//! `racestore.errors` (`errors.rs`). Every storage rule — validation, ids, atomic batches,
//! locking, sharing one store per location — is the library's. The Python package around it
//! (`python/racestore/`) adds the original module's names and pandas helpers.

mod bench;
mod convert;
mod errors;
mod rows;
mod store;

use pyo3::prelude::*;

/// The native half of the `racestore` package; use `racestore` itself.
#[pymodule(name = "_native")]
fn native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<store::NativeStore>()?;
    module.add_function(wrap_pyfunction!(bench::_bench_save_lap_data, module)?)?;
    module.add_function(wrap_pyfunction!(bench::_bench_save_laps, module)?)?;
    module.add_function(wrap_pyfunction!(bench::_bench_get_session_laps, module)?)?;
    module.add("DEFAULT_URL", racestore::DEFAULT_URL)?;
    module.add("URL_ENV", racestore::URL_ENV)?;
    Ok(())
}

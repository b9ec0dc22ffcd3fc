//! Lap rows for `save_laps`: an iterable of dicts, or a pandas DataFrame, to the library's `NewLap`s.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use racestore::{Id, NewLap, Sectors};

use crate::convert;
use crate::errors::{invalid, with_field_prefix};

/// The columns a lap row may have.
const COLUMNS: &str = "session_id, driver_id, lap_number, lap_time, sectors (a dict like {\"S1\": 29.3, \"S2\": 32.0, \"S3\": 30.1}) or sector_1, sector_2, sector_3, lap_type, position";

/// How often a long conversion lets Python handle a signal (Ctrl-C), in rows.
const SIGNAL_CHECK_ROWS: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    SessionId,
    DriverId,
    LapNumber,
    LapTime,
    Sectors,
    Sector(usize),
    LapType,
    Position,
}

impl Column {
    const ALL: [(&'static str, Column); 10] = [
        ("session_id", Column::SessionId),
        ("driver_id", Column::DriverId),
        ("lap_number", Column::LapNumber),
        ("lap_time", Column::LapTime),
        ("sectors", Column::Sectors),
        ("sector_1", Column::Sector(0)),
        ("sector_2", Column::Sector(1)),
        ("sector_3", Column::Sector(2)),
        ("lap_type", Column::LapType),
        ("position", Column::Position),
    ];

    fn name(self) -> &'static str {
        Column::ALL
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("?", |(name, _)| name)
    }

    /// The column a key names, or `InvalidInput` naming the key.
    fn of(key: &Bound<'_, PyAny>) -> PyResult<Column> {
        let py = key.py();
        // Keys written as literals are interned: compare identities first, text only if need be.
        let interned = [
            intern!(py, "session_id"),
            intern!(py, "driver_id"),
            intern!(py, "lap_number"),
            intern!(py, "lap_time"),
            intern!(py, "sectors"),
            intern!(py, "sector_1"),
            intern!(py, "sector_2"),
            intern!(py, "sector_3"),
            intern!(py, "lap_type"),
            intern!(py, "position"),
        ];
        if let Some(index) = interned.iter().position(|name| key.is(*name)) {
            return Ok(Column::ALL[index].1);
        }
        let text = match key.cast::<PyString>() {
            Ok(s) => s.to_cow()?.into_owned(),
            Err(_) => key.str()?.to_cow()?.into_owned(),
        };
        if let Some((_, column)) = Column::ALL.iter().find(|(name, _)| *name == text) {
            return Ok(*column);
        }
        let hint = match text.as_str() {
            "id" | "created_at" => "; the store gives ids and timestamps, drop that column",
            _ => "",
        };
        Err(invalid(
            py,
            text,
            format!("unknown lap column; expected {COLUMNS}{hint}"),
        ))
    }
}

/// One row's values as they are read.
#[derive(Default)]
struct Row {
    session_id: Option<Id>,
    driver_id: Option<String>,
    lap_number: Option<i64>,
    lap_time: Option<f64>,
    sectors: Option<Sectors>,
    flat_sectors: [Option<f64>; 3],
    has_flat_sectors: bool,
    lap_type: Option<String>,
    position: Option<i64>,
}

impl Row {
    fn set(&mut self, column: Column, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let name = column.name();
        match column {
            Column::SessionId => self.session_id = convert::opt_int(name, value)?,
            Column::DriverId => self.driver_id = convert::opt_text(name, value)?,
            Column::LapNumber => self.lap_number = convert::opt_int(name, value)?,
            Column::LapTime => self.lap_time = Some(convert::float(name, value)?),
            Column::Sectors => self.sectors = Some(convert::sectors(value)?),
            Column::Sector(index) => {
                self.flat_sectors[index] = convert::opt_float(name, value)?;
                self.has_flat_sectors = true;
            }
            Column::LapType => self.lap_type = convert::opt_text(name, value)?,
            Column::Position => self.position = convert::opt_int(name, value)?,
        }
        Ok(())
    }

    fn finish(self, py: Python<'_>, default_session: Option<Id>) -> PyResult<NewLap> {
        let missing = |name: &str| invalid(py, name, "is missing");
        let session_id = self
            .session_id
            .or(default_session)
            .ok_or_else(|| missing("session_id"))?;
        let driver_id = self.driver_id.ok_or_else(|| missing("driver_id"))?;
        let lap_number = self.lap_number.ok_or_else(|| missing("lap_number"))?;
        let lap_time = self.lap_time.ok_or_else(|| missing("lap_time"))?;
        let mut lap = NewLap::new(session_id, driver_id, lap_number, lap_time);
        if self.sectors.is_some() && self.has_flat_sectors {
            return Err(invalid(
                py,
                "sectors",
                "give sectors as a dict or as sector_1, sector_2, sector_3, not both",
            ));
        }
        let [s1, s2, s3] = self.flat_sectors;
        lap.sectors = self.sectors.unwrap_or(Sectors { s1, s2, s3 });
        if let Some(lap_type) = self.lap_type {
            lap.lap_type = lap_type;
        }
        lap.position = self.position;
        Ok(lap)
    }
}

fn row_error(py: Python<'_>, index: usize) -> impl Fn(PyErr) -> PyErr + '_ {
    move |error| with_field_prefix(py, error, &format!("rows[{index}]."))
}

/// Reads `rows` (an iterable of dicts with the lap columns, or a pandas DataFrame) as laps;
/// `session_id`, when given, is the session of rows that do not name one.
pub(crate) fn laps(rows: &Bound<'_, PyAny>, session_id: Option<Id>) -> PyResult<Vec<NewLap>> {
    let py = rows.py();
    if is_data_frame(rows)? {
        return frame_laps(rows, session_id);
    }
    if rows.is_instance_of::<PyDict>() || rows.is_instance_of::<PyString>() {
        return Err(invalid(
            py,
            "rows",
            "expected an iterable of lap dicts or a pandas DataFrame; to save one lap, pass [row]",
        ));
    }
    let iter = rows.try_iter().map_err(|_| {
        invalid(
            py,
            "rows",
            format!(
                "expected an iterable of lap dicts or a pandas DataFrame, got {}",
                rows.get_type().name().map(|n| n.to_string()).unwrap_or_default()
            ),
        )
    })?;
    let mut laps = Vec::with_capacity(rows.len().unwrap_or(0));
    for (index, row) in iter.enumerate() {
        if index % SIGNAL_CHECK_ROWS == SIGNAL_CHECK_ROWS - 1 {
            py.check_signals()?;
        }
        let row = row?;
        let dict = row.cast::<PyDict>().map_err(|_| {
            invalid(
                py,
                format!("rows[{index}]"),
                format!("expected a dict with the lap columns ({COLUMNS})"),
            )
        })?;
        let mut values = Row::default();
        for (key, value) in dict.iter() {
            let column = Column::of(&key).map_err(row_error(py, index))?;
            values.set(column, &value).map_err(row_error(py, index))?;
        }
        laps.push(values.finish(py, session_id).map_err(row_error(py, index))?);
    }
    Ok(laps)
}

fn is_data_frame(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    let ty = obj.get_type();
    Ok(ty.name()?.to_cow()? == "DataFrame" && ty.module()?.to_cow()?.starts_with("pandas"))
}

/// A DataFrame's rows as laps, read column by column (`Series.tolist()`), its index ignored.
fn frame_laps(frame: &Bound<'_, PyAny>, session_id: Option<Id>) -> PyResult<Vec<NewLap>> {
    let py = frame.py();
    let mut columns = Vec::new();
    for name in frame.getattr(intern!(py, "columns"))?.try_iter()? {
        let name = name?;
        let column = Column::of(&name)?;
        let values = frame
            .get_item(&name)?
            .call_method0(intern!(py, "tolist"))?
            .cast_into::<PyList>()?;
        columns.push((column, values));
    }
    let rows = frame.len()?;
    let mut laps = Vec::with_capacity(rows);
    for index in 0..rows {
        if index % SIGNAL_CHECK_ROWS == SIGNAL_CHECK_ROWS - 1 {
            py.check_signals()?;
        }
        let mut values = Row::default();
        for (column, list) in &columns {
            values
                .set(*column, &list.get_item(index)?)
                .map_err(row_error(py, index))?;
        }
        laps.push(values.finish(py, session_id).map_err(row_error(py, index))?);
    }
    Ok(laps)
}

/// The index of the first lap the library's validation refuses: where a batch's `Invalid` came from.
pub(crate) fn first_invalid(laps: &[NewLap]) -> Option<usize> {
    laps.iter().position(|lap| lap.validate(0, "").is_err())
}

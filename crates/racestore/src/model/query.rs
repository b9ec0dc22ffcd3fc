//! What a read selects: one query type every backend runs, and the typed forms callers build.

use super::collection::{CellRef, Collection, Record};
use super::records::{Lap, Session};
use super::Id;

/// A condition on one column of a collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The column's name, as in [`Collection::columns`].
    pub column: &'static str,
    /// The value it must hold.
    pub value: FilterValue,
}

/// A value a [`Filter`] compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    /// The column equals this text.
    Text(String),
    /// The column equals this integer.
    Integer(i64),
}

impl Filter {
    /// Whether `record` passes.
    pub fn matches<R: Record>(&self, record: &R) -> bool {
        match (&self.value, record.cell(self.column)) {
            (FilterValue::Text(want), CellRef::Text(have)) => want == have,
            (FilterValue::Integer(want), CellRef::Integer(have)) => *want == have,
            _ => false,
        }
    }
}

/// Which records of one collection a read returns: those of a session (or every session),
/// passing every filter, with ids above `after_id`, in id order, at most `limit` of them.
///
/// Every backend runs this one query type; [`SessionQuery`] and [`LapQuery`] build it.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The collection read.
    pub collection: Collection,
    /// Only records of this session (for sessions: that session); `None` is every session.
    pub session_id: Option<Id>,
    /// Conditions every record returned meets.
    pub filters: Vec<Filter>,
    /// Only ids above this (`0` for all): the cursor of a paged read.
    pub after_id: Id,
    /// At most this many records; `None` for all.
    pub limit: Option<usize>,
}

impl Query {
    /// Every record of `collection`.
    pub fn all(collection: Collection) -> Self {
        Query {
            collection,
            session_id: None,
            filters: Vec::new(),
            after_id: 0,
            limit: None,
        }
    }

    /// The records of `collection` in one session.
    pub fn session(collection: Collection, session_id: Id) -> Self {
        Query {
            session_id: Some(session_id),
            ..Query::all(collection)
        }
    }

    /// Up to `limit` records with ids above `after_id`: one page of a collection.
    pub fn page(collection: Collection, after_id: Id, limit: usize) -> Self {
        Query {
            after_id,
            limit: Some(limit),
            ..Query::all(collection)
        }
    }

    /// Adds a condition: `column` equals `value`.
    ///
    /// # Panics
    /// When the collection has no such column: a query names its columns in code.
    #[must_use]
    pub fn text_equals(mut self, column: &'static str, value: impl Into<String>) -> Self {
        assert!(
            self.collection.has_column(column),
            "{} has no column {column}",
            self.collection
        );
        self.filters.push(Filter {
            column,
            value: FilterValue::Text(value.into()),
        });
        self
    }

    /// Whether `record` is selected, `limit` aside.
    pub fn matches<R: Record>(&self, record: &R) -> bool {
        record.id() > self.after_id
            && self.session_id.is_none_or(|s| s == record.session_id())
            && self.filters.iter().all(|f| f.matches(record))
    }
}

/// Which sessions [`get_sessions`](crate::RaceStoreExt::get_sessions) returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionQuery {
    /// Only sessions at this circuit (exact match).
    pub circuit: Option<String>,
}

impl SessionQuery {
    /// Every session.
    pub fn all() -> Self {
        SessionQuery::default()
    }

    /// Only sessions at `circuit` (exact match).
    #[must_use]
    pub fn circuit(mut self, circuit: impl Into<String>) -> Self {
        self.circuit = Some(circuit.into());
        self
    }

    /// Whether `session` is selected.
    pub fn matches(&self, session: &Session) -> bool {
        Query::from(self).matches(session)
    }

    /// Whether what a user typed names `circuit`, as the front ends match it: a part of the
    /// name, case ignored (`barber` and `MOTORSPORTS` name Barber Motorsports Park). A filter
    /// of the store ([`circuit`](Self::circuit)) matches exactly; this one picks among the
    /// sessions listed.
    pub fn names_circuit(typed: &str, circuit: &str) -> bool {
        circuit.to_lowercase().contains(&typed.trim().to_lowercase())
    }
}

impl From<&SessionQuery> for Query {
    fn from(query: &SessionQuery) -> Query {
        // Destructured so that a filter added to SessionQuery cannot be silently ignored here.
        let SessionQuery { circuit } = query;
        let mut out = Query::all(Collection::Sessions);
        if let Some(circuit) = circuit {
            out = out.text_equals("circuit", circuit.clone());
        }
        out
    }
}

/// Which laps [`get_laps`](crate::RaceStoreExt::get_laps) returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LapQuery {
    /// Only laps of this session; `None` is every session.
    pub session_id: Option<Id>,
    /// Only laps of this driver.
    pub driver_id: Option<String>,
    /// Only laps of this type.
    pub lap_type: Option<String>,
}

impl LapQuery {
    /// Every lap in the store.
    pub fn all() -> Self {
        LapQuery::default()
    }

    /// The laps of one session.
    pub fn session(session_id: Id) -> Self {
        LapQuery {
            session_id: Some(session_id),
            ..LapQuery::default()
        }
    }

    /// Narrows to one driver.
    #[must_use]
    pub fn driver(mut self, driver_id: impl Into<String>) -> Self {
        self.driver_id = Some(driver_id.into());
        self
    }

    /// Narrows to one lap type.
    #[must_use]
    pub fn lap_type(mut self, lap_type: impl Into<String>) -> Self {
        self.lap_type = Some(lap_type.into());
        self
    }

    /// Whether `lap` is selected.
    pub fn matches(&self, lap: &Lap) -> bool {
        Query::from(self).matches(lap)
    }
}

impl From<&LapQuery> for Query {
    fn from(query: &LapQuery) -> Query {
        // Destructured so that a filter added to LapQuery cannot be silently ignored here.
        let LapQuery {
            session_id,
            driver_id,
            lap_type,
        } = query;
        let mut out = Query::all(Collection::Laps);
        out.session_id = *session_id;
        if let Some(driver_id) = driver_id {
            out = out.text_equals("driver_id", driver_id.clone());
        }
        if let Some(lap_type) = lap_type {
            out = out.text_equals("lap_type", lap_type.clone());
        }
        out
    }
}

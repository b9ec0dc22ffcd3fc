//! The collections a store keeps, each defined once: its name, columns, record and input types.
//!
//! Backends, checks, copies and exports never name a collection: they iterate over
//! [`Collection::ALL`] and reach each collection's types through the [`Record`] trait and the
//! visitors ([`CollectionVisitor`], [`RecordsVisitor`]). Adding a collection is adding its record
//! and input types (with their `Record`/`NewRecord` impls) and one line to the `collections!`
//! invocation at the end of this file; see ARCHITECTURE.md.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::records::{
    DriverMetrics, Entry, Lap, NewDriverMetrics, NewEntry, NewLap, NewPrediction, NewSession, NewSimulation,
    Prediction, Session, Simulation,
};
use super::Id;
use crate::error::{Error, Result};

/// How a column's values are kept: the SQL type, and how a JSON file writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// A 64-bit integer (ids, lap numbers, positions).
    Integer,
    /// A double (times in seconds, scores).
    Real,
    /// UTF-8 text.
    Text,
    /// A JSON value (metric objects, paces, results): TEXT in SQLite, `JSON` in PostgreSQL.
    Json,
}

/// One column of a collection, in the original's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Its name: the original's column and JSON key.
    pub name: &'static str,
    /// Its kind.
    pub kind: ColumnKind,
    /// Whether it may be null.
    pub nullable: bool,
}

impl Column {
    /// A column that is never null.
    pub const fn required(name: &'static str, kind: ColumnKind) -> Column {
        Column {
            name,
            kind,
            nullable: false,
        }
    }

    /// A column that may be null.
    pub const fn optional(name: &'static str, kind: ColumnKind) -> Column {
        Column {
            name,
            kind,
            nullable: true,
        }
    }
}

/// A column's value, borrowed from a record: what a backend writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellRef<'a> {
    /// No value.
    Null,
    /// An integer.
    Integer(i64),
    /// A number.
    Real(f64),
    /// Text.
    Text(&'a str),
    /// A JSON value.
    Json(&'a Value),
}

impl<'a> CellRef<'a> {
    /// An optional integer.
    pub fn opt_integer(value: Option<i64>) -> Self {
        value.map_or(CellRef::Null, CellRef::Integer)
    }

    /// An optional number.
    pub fn opt_real(value: Option<f64>) -> Self {
        value.map_or(CellRef::Null, CellRef::Real)
    }

    /// Optional text.
    pub fn opt_text(value: Option<&'a str>) -> Self {
        value.map_or(CellRef::Null, CellRef::Text)
    }
}

/// A column's value, owned: what a backend reads back.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No value (SQL `NULL`).
    Null,
    /// An integer.
    Integer(i64),
    /// A number.
    Real(f64),
    /// Text.
    Text(String),
    /// A JSON value.
    Json(Value),
}

/// Reads a row's cells in column order into a record's fields, turning anything the column does
/// not promise into [`Error::CorruptRow`] naming the table, the row's id and the column.
#[derive(Debug)]
pub struct CellReader {
    collection: Collection,
    id: Id,
    cells: std::vec::IntoIter<Cell>,
    columns: std::slice::Iter<'static, Column>,
}

impl CellReader {
    /// Starts reading a row of `collection`, whose first cell is the id.
    pub fn new(collection: Collection, cells: Vec<Cell>) -> Self {
        let id = match cells.first() {
            Some(Cell::Integer(id)) => *id,
            _ => 0,
        };
        CellReader {
            collection,
            id,
            cells: cells.into_iter(),
            columns: collection.columns().iter(),
        }
    }

    fn next(&mut self) -> Result<(Cell, &'static str)> {
        let column = self.columns.next().map_or("?", |c| c.name);
        match self.cells.next() {
            Some(cell) => Ok((cell, column)),
            None => Err(self.corrupt(column, "is missing".into())),
        }
    }

    fn corrupt(&self, column: &str, message: String) -> Error {
        Error::CorruptRow {
            table: self.collection.name(),
            id: self.id,
            message: format!("column {column} {message}"),
        }
    }

    /// The next cell, an integer that must be there.
    pub fn integer(&mut self) -> Result<i64> {
        let (cell, column) = self.next()?;
        match cell {
            Cell::Integer(value) => Ok(value),
            Cell::Null => Err(self.corrupt(column, "is NULL, expected an integer".into())),
            other => Err(self.corrupt(column, format!("holds {other:?}, expected an integer"))),
        }
    }

    /// The next cell, an integer or null.
    pub fn opt_integer(&mut self) -> Result<Option<i64>> {
        let (cell, column) = self.next()?;
        match cell {
            Cell::Integer(value) => Ok(Some(value)),
            Cell::Null => Ok(None),
            other => Err(self.corrupt(column, format!("holds {other:?}, expected an integer"))),
        }
    }

    /// The next cell, a number that must be there (an integer reads as the same number).
    pub fn real(&mut self) -> Result<f64> {
        let (cell, column) = self.next()?;
        match cell {
            Cell::Real(value) => Ok(value),
            Cell::Integer(value) => Ok(value as f64),
            Cell::Null => Err(self.corrupt(column, "is NULL, expected a number".into())),
            other => Err(self.corrupt(column, format!("holds {other:?}, expected a number"))),
        }
    }

    /// The next cell, a number or null.
    pub fn opt_real(&mut self) -> Result<Option<f64>> {
        let (cell, column) = self.next()?;
        match cell {
            Cell::Real(value) => Ok(Some(value)),
            Cell::Integer(value) => Ok(Some(value as f64)),
            Cell::Null => Ok(None),
            other => Err(self.corrupt(column, format!("holds {other:?}, expected a number"))),
        }
    }

    /// The next cell, text that must be there.
    pub fn text(&mut self) -> Result<String> {
        let (cell, column) = self.next()?;
        match cell {
            Cell::Text(value) => Ok(value),
            Cell::Null => Err(self.corrupt(column, "is NULL, expected text".into())),
            other => Err(self.corrupt(column, format!("holds {other:?}, expected text"))),
        }
    }

    /// The next cell, text or null.
    pub fn opt_text(&mut self) -> Result<Option<String>> {
        let (cell, column) = self.next()?;
        match cell {
            Cell::Text(value) => Ok(Some(value)),
            Cell::Null => Ok(None),
            other => Err(self.corrupt(column, format!("holds {other:?}, expected text"))),
        }
    }

    /// The next cell, a JSON value (null reads as JSON `null`).
    pub fn json(&mut self) -> Result<Value> {
        let (cell, column) = self.next()?;
        match cell {
            Cell::Json(value) => Ok(value),
            Cell::Null => Ok(Value::Null),
            other => Err(self.corrupt(column, format!("holds {other:?}, expected JSON"))),
        }
    }
}

/// A stored record of one collection: its place in the registry and its columns.
///
/// Implemented once per collection in [`crate::model`]; backends are generic over it.
pub trait Record:
    Clone + std::fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + Member + 'static
{
    /// The input that creates this record.
    type New: NewRecord<Record = Self>;

    /// The collection's columns, in the original's order: the first is `id`, and every
    /// collection but sessions has `session_id` second.
    const COLUMNS: &'static [Column];

    /// The record's id.
    fn id(&self) -> Id;

    /// The session the record belongs to; a session's own id for sessions.
    fn session_id(&self) -> Id;

    /// The record's values, in [`COLUMNS`](Self::COLUMNS) order.
    fn cells(&self) -> Vec<CellRef<'_>>;

    /// The record from its values in [`COLUMNS`](Self::COLUMNS) order.
    fn from_cells(cells: CellReader) -> Result<Self>;

    /// The input that would save this record again: what validating a stored record checks.
    fn to_new(&self) -> Self::New;

    /// The value of one column, by name; [`CellRef::Null`] for a column the record lacks.
    fn cell(&self, column: &str) -> CellRef<'_> {
        Self::COLUMNS
            .iter()
            .position(|c| c.name == column)
            .and_then(|index| self.cells().get(index).copied())
            .unwrap_or(CellRef::Null)
    }
}

/// An input that creates a [`Record`] once validated.
pub trait NewRecord: Clone + std::fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The record it creates.
    type Record: Record<New = Self>;

    /// The session it is saved into; `None` for a session itself.
    fn session_id(&self) -> Option<Id>;

    /// Points the input at another session (a no-op for a session).
    fn set_session_id(&mut self, session_id: Id);

    /// Checks the input and fills the defaults, giving the record to store under `id`, written
    /// at `now`; [`Error::Invalid`] naming the field otherwise.
    fn validate(&self, id: Id, now: &str) -> Result<Self::Record>;

    /// [`validate`](Self::validate), then the rules every field of every collection follows
    /// (no NUL character in any text or JSON value): what every save checks, on every backend.
    fn validate_record(&self, id: Id, now: &str) -> Result<Self::Record> {
        let record = self.validate(id, now)?;
        require_storable(&record)?;
        Ok(record)
    }
}

/// The rules every field of every collection follows, whatever the backend: no NUL character
/// in a text or JSON value; [`Error::Invalid`] naming the field otherwise.
pub(crate) fn require_storable<R: Record>(record: &R) -> Result<()> {
    for (column, cell) in R::COLUMNS.iter().zip(record.cells()) {
        match cell {
            CellRef::Text(text) if text.contains('\0') => {
                super::records::require_no_nul(column.name, &Value::String(text.to_owned()))?;
            }
            CellRef::Json(value) => super::records::require_no_nul(column.name, value)?,
            _ => {}
        }
    }
    Ok(())
}

/// Generic code run for one collection's record type: see [`Collection::visit`].
pub trait CollectionVisitor {
    /// What it gives.
    type Output;
    /// Runs for the collection whose records are `R`.
    fn visit<R: Record>(self) -> Self::Output;
}

/// Generic code run over records of any collection: see [`Records::visit`].
pub trait RecordsVisitor {
    /// What it gives.
    type Output;
    /// Runs on the records.
    fn visit<R: Record>(self, records: &[R]) -> Self::Output;
}

/// Generic code run over inputs of any collection: see [`NewRecords::visit`].
pub trait NewRecordsVisitor {
    /// What it gives.
    type Output;
    /// Runs on the inputs.
    fn visit<N: NewRecord>(self, inputs: &[N]) -> Self::Output;
}

/// Defines the registry: the [`Collection`] enum, [`Records`], [`NewRecords`], [`Counts`] and
/// [`IdMarks`], and each record type's [`Member`] impl, from one line per collection.
macro_rules! collections {
    ($(
        $(#[$doc:meta])*
        $variant:ident: $record:ident, $new:ident, $name:literal, $key:ident, $singular:literal, $plural:literal;
    )+) => {
        /// The collections a store keeps, in the order a copy must follow (sessions first:
        /// children need their session).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Collection {
            $($(#[$doc])* $variant,)+
        }

        impl Collection {
            /// Every collection, sessions first.
            pub const ALL: [Collection; Collection::COUNT] = [$(Collection::$variant),+];

            /// How many collections there are.
            pub const COUNT: usize = [$(stringify!($variant)),+].len();

            /// The original's name for the collection: its table, and its file without `.json`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Collection::$variant => $name,)+
                }
            }

            /// The collection's key in racestore's own output (`--collection`, counts): `laps`.
            pub fn key(self) -> &'static str {
                match self {
                    $(Collection::$variant => stringify!($key),)+
                }
            }

            /// `n` records of the collection in words: `1 session`, `600 laps`.
            pub fn count_text(self, n: u64) -> String {
                match self {
                    $(Collection::$variant => format!("{n} {}", if n == 1 { $singular } else { $plural }),)+
                }
            }

            /// The collection's columns, in the original's order.
            pub fn columns(self) -> &'static [Column] {
                match self {
                    $(Collection::$variant => <$record as Record>::COLUMNS,)+
                }
            }

            /// Runs generic code for this collection's record type.
            pub fn visit<V: CollectionVisitor>(self, visitor: V) -> V::Output {
                match self {
                    $(Collection::$variant => visitor.visit::<$record>(),)+
                }
            }

            /// The collection whose [`key`](Self::key) or [`name`](Self::name) is `text`.
            pub fn from_key(text: &str) -> Option<Collection> {
                Collection::ALL.into_iter().find(|c| c.key() == text || c.name() == text)
            }
        }

        /// Records of one collection, in id order: what reads return and
        /// [`import`](crate::RaceStore::import) takes.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Records {
            $($(#[$doc])* $variant(Vec<$record>),)+
        }

        impl Records {
            /// Runs generic code on the records, whatever their collection.
            pub fn visit<V: RecordsVisitor>(&self, visitor: V) -> V::Output {
                match self {
                    $(Records::$variant(v) => visitor.visit(v),)+
                }
            }

            /// Which collection these records are of.
            pub fn collection(&self) -> Collection {
                match self {
                    $(Records::$variant(_) => Collection::$variant,)+
                }
            }

            /// Appends `more`, records of the same collection (the next page of a read, say);
            /// gives `more` back when it holds another collection.
            pub fn extend(&mut self, more: Records) -> std::result::Result<(), Records> {
                match (self, more) {
                    $((Records::$variant(records), Records::$variant(more)) => {
                        records.extend(more);
                        Ok(())
                    })+
                    #[allow(unreachable_patterns)]
                    (_, more) => Err(more),
                }
            }
        }

        /// Inputs for one collection, to save all together or not at all.
        #[derive(Debug, Clone, PartialEq)]
        pub enum NewRecords {
            $($(#[$doc])* $variant(Vec<$new>),)+
        }

        impl NewRecords {
            /// Runs generic code on the inputs, whatever their collection.
            pub fn visit<V: NewRecordsVisitor>(&self, visitor: V) -> V::Output {
                match self {
                    $(NewRecords::$variant(v) => visitor.visit(v),)+
                }
            }

            /// Which collection the inputs are for.
            pub fn collection(&self) -> Collection {
                match self {
                    $(NewRecords::$variant(_) => Collection::$variant,)+
                }
            }

            /// Points every input at `session_id`.
            pub fn set_session_id(&mut self, session_id: Id) {
                match self {
                    $(NewRecords::$variant(v) => v.iter_mut().for_each(|n| n.set_session_id(session_id)),)+
                }
            }
        }

        $(
            impl Member for $record {
                const COLLECTION: Collection = Collection::$variant;
                fn wrap(records: Vec<Self>) -> Records {
                    Records::$variant(records)
                }
                fn unwrap(records: Records) -> Option<Vec<Self>> {
                    match records {
                        Records::$variant(v) => Some(v),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }
                fn slice(records: &Records) -> Option<&[Self]> {
                    match records {
                        Records::$variant(v) => Some(v),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }
                fn wrap_new(inputs: Vec<$new>) -> NewRecords {
                    NewRecords::$variant(inputs)
                }
            }
        )+

        /// How many records a store holds per collection (or a delete removed).
        ///
        /// Serializes as an object keyed by [`Collection::key`]: `{"sessions": 1, "laps": 600, ...}`.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct Counts([u64; Collection::COUNT]);

        impl Counts {
            $(
                #[doc = concat!("The count of ", stringify!($key), ".")]
                pub fn $key(&self) -> u64 {
                    self.0[Collection::$variant as usize]
                }
            )+
        }

        /// Per collection, the highest id it has given: records since deleted count, so a store
        /// that gives ids above these never repeats one (see
        /// [`RaceStore::highest_ids`](crate::RaceStore::highest_ids)).
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct IdMarks([Id; Collection::COUNT]);

        impl IdMarks {
            $(
                #[doc = concat!("The mark of ", stringify!($key), ".")]
                pub fn $key(&self) -> Id {
                    self.0[Collection::$variant as usize]
                }
            )+
        }
    };
}

/// What ties a record type to its place in the registry; implemented for each record type by
/// the registry itself.
pub trait Member: Sized {
    /// The record type's collection.
    const COLLECTION: Collection;
    /// Records of this type as [`Records`].
    fn wrap(records: Vec<Self>) -> Records;
    /// The records, if `records` holds this type.
    fn unwrap(records: Records) -> Option<Vec<Self>>;
    /// The records, borrowed, if `records` holds this type.
    fn slice(records: &Records) -> Option<&[Self]>;
    /// Inputs for this type as [`NewRecords`].
    fn wrap_new(inputs: Vec<<Self as Record>::New>) -> NewRecords
    where
        Self: Record;
}

impl Collection {
    /// Its index in [`Collection::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The file a JSON directory keeps the collection in: the original's name plus `.json`.
    pub fn file_name(self) -> String {
        format!("{}.json", self.name())
    }

    /// The column that names a record's session: `id` for sessions, `session_id` for the rest.
    pub fn session_column(self) -> &'static str {
        if self == Collection::Sessions {
            "id"
        } else {
            "session_id"
        }
    }

    /// Whether the collection has a column named `column`.
    pub fn has_column(self, column: &str) -> bool {
        self.columns().iter().any(|c| c.name == column)
    }
}

impl std::fmt::Display for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

struct Len;
impl RecordsVisitor for Len {
    type Output = usize;
    fn visit<R: Record>(self, records: &[R]) -> usize {
        records.len()
    }
}

struct Ids;
impl RecordsVisitor for Ids {
    type Output = Vec<(Id, Id)>;
    fn visit<R: Record>(self, records: &[R]) -> Vec<(Id, Id)> {
        records.iter().map(|r| (r.id(), r.session_id())).collect()
    }
}

struct ToJson;
impl RecordsVisitor for ToJson {
    type Output = Vec<Value>;
    fn visit<R: Record>(self, records: &[R]) -> Vec<Value> {
        records
            .iter()
            .map(|r| serde_json::to_value(r).expect("records serialize"))
            .collect()
    }
}

struct Empty;
impl CollectionVisitor for Empty {
    type Output = Records;
    fn visit<R: Record>(self) -> Records {
        R::wrap(Vec::new())
    }
}

impl Records {
    /// No records of `collection`.
    pub fn empty(collection: Collection) -> Records {
        collection.visit(Empty)
    }

    /// Records of one type.
    pub fn of<R: Record>(records: Vec<R>) -> Records {
        R::wrap(records)
    }

    /// How many records there are.
    pub fn len(&self) -> usize {
        self.visit(Len)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The records' ids, in order.
    pub fn ids(&self) -> Vec<Id> {
        self.visit(Ids).into_iter().map(|(id, _)| id).collect()
    }

    /// The session each record belongs to (a session's own id for sessions), in order.
    pub fn session_ids(&self) -> Vec<Id> {
        self.visit(Ids).into_iter().map(|(_, s)| s).collect()
    }

    /// Each record as a JSON object with the original's keys, in order.
    pub fn to_json(&self) -> Vec<Value> {
        self.visit(ToJson)
    }

    /// The records, if they are of type `R`.
    pub fn into_vec<R: Record>(self) -> Option<Vec<R>> {
        R::unwrap(self)
    }

    /// Checks records about to be imported: ids ascending and above `after_id`, JSON values
    /// readable back. Values are otherwise kept as they are: they were valid where they came from.
    pub fn validate_import(&self, after_id: Id) -> Result<()> {
        let mut previous = after_id;
        for id in self.ids() {
            if id <= previous {
                return Err(Error::invalid(
                    "id",
                    format!(
                        "{} id {id} is not above {previous}: imported ids must ascend and be above every id the collection has given",
                        self.collection()
                    ),
                ));
            }
            previous = id;
        }
        struct Depths;
        impl RecordsVisitor for Depths {
            type Output = Result<()>;
            fn visit<R: Record>(self, records: &[R]) -> Result<()> {
                for record in records {
                    for (column, cell) in R::COLUMNS.iter().zip(record.cells()) {
                        if let CellRef::Json(value) = cell {
                            super::records::require_json_depth(column.name, value)?;
                        }
                    }
                }
                Ok(())
            }
        }
        self.visit(Depths)?;
        self.check_storable()
    }

    /// Checks that every record follows the rules every backend stores by (no NUL character in
    /// a text or JSON value): [`Error::Invalid`] naming the field, the collection and the id of
    /// the first that does not.
    pub fn check_storable(&self) -> Result<()> {
        struct Storable;
        impl RecordsVisitor for Storable {
            type Output = Result<()>;
            fn visit<R: Record>(self, records: &[R]) -> Result<()> {
                for record in records {
                    require_storable(record).map_err(|e| match e {
                        Error::Invalid { field, message } => Error::Invalid {
                            field,
                            message: format!("{} id {}: {message}", R::COLLECTION, record.id()),
                        },
                        other => other,
                    })?;
                }
                Ok(())
            }
        }
        self.visit(Storable)
    }
}

struct NewLen;
impl NewRecordsVisitor for NewLen {
    type Output = usize;
    fn visit<N: NewRecord>(self, inputs: &[N]) -> usize {
        inputs.len()
    }
}

impl NewRecords {
    /// Inputs of one type.
    pub fn of<N: NewRecord>(inputs: Vec<N>) -> NewRecords {
        <N::Record as Member>::wrap_new(inputs)
    }

    /// How many inputs there are.
    pub fn len(&self) -> usize {
        self.visit(NewLen)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Counts {
    /// The count for one collection.
    pub fn get(&self, collection: Collection) -> u64 {
        self.0[collection.index()]
    }

    /// Sets the count for one collection.
    pub fn set(&mut self, collection: Collection, n: u64) {
        self.0[collection.index()] = n;
    }

    /// Adds `n` to the count of one collection.
    pub fn add(&mut self, collection: Collection, n: u64) {
        self.0[collection.index()] += n;
    }

    /// Counts of the collections named; the others 0.
    pub fn of(counts: &[(Collection, u64)]) -> Counts {
        let mut out = Counts::default();
        for (collection, n) in counts {
            out.set(*collection, *n);
        }
        out
    }

    /// Counts given per collection, in [`Collection::ALL`] order.
    pub fn from_fn(mut count: impl FnMut(Collection) -> u64) -> Counts {
        Counts(Collection::ALL.map(&mut count))
    }

    /// The total over every collection.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Each collection with its count, in [`Collection::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Collection, u64)> + '_ {
        Collection::ALL.into_iter().map(|c| (c, self.get(c)))
    }
}

impl IdMarks {
    /// The mark of one collection.
    pub fn get(&self, collection: Collection) -> Id {
        self.0[collection.index()]
    }

    /// Sets the mark of one collection.
    pub fn set(&mut self, collection: Collection, id: Id) {
        self.0[collection.index()] = id;
    }

    /// Marks of the collections named; the others 0.
    pub fn of(marks: &[(Collection, Id)]) -> IdMarks {
        let mut out = IdMarks::default();
        for (collection, id) in marks {
            out.set(*collection, *id);
        }
        out
    }

    /// Marks given per collection, in [`Collection::ALL`] order.
    pub fn from_fn(mut mark: impl FnMut(Collection) -> Id) -> IdMarks {
        IdMarks(Collection::ALL.map(&mut mark))
    }

    /// Per collection, the higher of the two marks.
    #[must_use]
    pub fn max(&self, other: &IdMarks) -> IdMarks {
        IdMarks::from_fn(|c| self.get(c).max(other.get(c)))
    }
}

/// Serialized as an object keyed by [`Collection::key`].
fn serialize_per_collection<S: serde::Serializer, T: Serialize>(
    values: impl Iterator<Item = (Collection, T)>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(Collection::COUNT))?;
    for (collection, value) in values {
        map.serialize_entry(collection.key(), &value)?;
    }
    map.end()
}

fn deserialize_per_collection<'de, D: serde::Deserializer<'de>, T: Deserialize<'de> + Default + Copy>(
    deserializer: D,
) -> std::result::Result<[T; Collection::COUNT], D::Error> {
    let map = std::collections::BTreeMap::<String, T>::deserialize(deserializer)?;
    let mut out = [T::default(); Collection::COUNT];
    for (key, value) in map {
        let collection = Collection::from_key(&key)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown collection {key:?}")))?;
        out[collection.index()] = value;
    }
    Ok(out)
}

impl Serialize for Counts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_per_collection(self.iter(), serializer)
    }
}

impl<'de> Deserialize<'de> for Counts {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserialize_per_collection(deserializer).map(Counts)
    }
}

impl Serialize for IdMarks {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_per_collection(Collection::ALL.into_iter().map(|c| (c, self.get(c))), serializer)
    }
}

impl<'de> Deserialize<'de> for IdMarks {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserialize_per_collection(deserializer).map(IdMarks)
    }
}

collections! {
    /// Race sessions (`race_sessions`).
    Sessions: Session, NewSession, "race_sessions", sessions, "session", "sessions";
    /// Driver metrics (`driver_metrics`).
    DriverMetrics: DriverMetrics, NewDriverMetrics, "driver_metrics", driver_metrics, "driver metrics", "driver metrics";
    /// Laps (`lap_data`).
    Laps: Lap, NewLap, "lap_data", laps, "lap", "laps";
    /// Predictions (`predictions`).
    Predictions: Prediction, NewPrediction, "predictions", predictions, "prediction", "predictions";
    /// Simulations (`simulations`).
    Simulations: Simulation, NewSimulation, "simulations", simulations, "simulation", "simulations";
    /// Entries (`entries`): who drove which car, in which class, for whom.
    Entries: Entry, NewEntry, "entries", entries, "entry", "entries";
}

impl Collection {
    /// Whether the original GR Race Guardian kept this collection: a JSON directory it wrote
    /// has this file from the start, so a store missing it has lost it.
    pub fn original(self) -> bool {
        matches!(
            self,
            Collection::Sessions
                | Collection::DriverMetrics
                | Collection::Laps
                | Collection::Predictions
                | Collection::Simulations
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_collection_starts_with_id_and_children_name_their_session_second() {
        for collection in Collection::ALL {
            let columns = collection.columns();
            assert_eq!(columns[0].name, "id", "{collection}");
            if collection != Collection::Sessions {
                assert_eq!(columns[1].name, "session_id", "{collection}");
            }
            assert_eq!(Collection::from_key(collection.key()), Some(collection));
            assert_eq!(Collection::from_key(collection.name()), Some(collection));
        }
    }

    #[test]
    fn counts_serialize_keyed_by_collection() {
        let mut counts = Counts::default();
        counts.set(Collection::Laps, 600);
        let json = serde_json::to_value(counts).unwrap();
        assert_eq!(json["laps"], 600);
        assert_eq!(json["sessions"], 0);
        assert_eq!(serde_json::from_value::<Counts>(json).unwrap(), counts);
        assert_eq!(counts.laps(), 600);
    }
}

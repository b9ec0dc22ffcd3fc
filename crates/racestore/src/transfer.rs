//! Moving whole stores: copying every record from one store to another (any backends), a
//! fingerprint of a store's contents and the verification that proves a copy exact, and backups.

use std::path::Path;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::{Collection, Counts, Id, Records};
use crate::store::{RaceStore, RaceStoreExt};
use crate::url::StoreUrl;

/// How many records a copy reads and writes at a time.
pub const PAGE_SIZE: usize = 10_000;

/// What a store holds, in a form two stores can be compared by: per collection, the number of
/// records and a checksum over every record (all fields, ids and timestamps included, in id order).
///
/// The checksum is FNV-1a (64-bit) over each record's canonical JSON (object keys sorted), so it
/// does not depend on the backend or on the key order a backend keeps inside JSON values.
///
/// As JSON: `{"counts": {"sessions": 1, ...}, "records": 580, "checksums": {"race_sessions":
/// "d1d74ba5bead0794", ...}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// Records per collection.
    pub counts: Counts,
    /// Per collection (in [`Collection::ALL`] order), the checksum as 16 hex digits.
    pub checksums: Vec<(Collection, String)>,
}

impl Fingerprint {
    /// The checksum of `collection`.
    pub fn checksum(&self, collection: Collection) -> Option<&str> {
        self.checksums
            .iter()
            .find(|(c, _)| *c == collection)
            .map(|(_, sum)| sum.as_str())
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        struct Checksums<'a>(&'a [(Collection, String)]);
        impl Serialize for Checksums<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.len()))?;
                for (collection, sum) in self.0 {
                    map.serialize_entry(collection.name(), sum)?;
                }
                map.end()
            }
        }
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("counts", &self.counts)?;
        map.serialize_entry("records", &self.counts.total())?;
        map.serialize_entry("checksums", &Checksums(&self.checksums))?;
        map.end()
    }
}

/// Reads every record of every collection, `PAGE_SIZE` at a time, calling `each` with each page.
pub fn for_each_page(store: &dyn RaceStore, mut each: impl FnMut(&Records) -> Result<()>) -> Result<()> {
    for collection in Collection::ALL {
        let mut after = 0;
        loop {
            let page = store.export_page(collection, after, PAGE_SIZE)?;
            let Some(&last) = page.ids().last() else { break };
            each(&page)?;
            after = last;
        }
    }
    Ok(())
}

/// The fingerprint of everything `store` holds.
pub fn fingerprint(store: &dyn RaceStore) -> Result<Fingerprint> {
    let mut counts = Counts::default();
    let mut hashes = [FNV_OFFSET; Collection::COUNT];
    for_each_page(store, |page| {
        let index = page.collection().index();
        for record in page.to_json() {
            hashes[index] = fnv1a(hashes[index], canonical(&record).as_bytes());
            hashes[index] = fnv1a(hashes[index], b"\n");
        }
        counts.add(page.collection(), page.len() as u64);
        Ok(())
    })?;
    Ok(Fingerprint {
        counts,
        checksums: Collection::ALL
            .iter()
            .zip(hashes)
            .map(|(c, h)| (*c, format!("{h:016x}")))
            .collect(),
    })
}

/// Copies every record of `from` into `to`, ids and timestamps included, sessions first, all
/// read from one moment of `from` ([`RaceStore::read_snapshot`]) while others may keep saving
/// into it; then gives `to` the highest ids `from` had given ([`RaceStore::reserve_ids`]), so
/// that neither store ever gives an id the other gave (a deleted record's included).
///
/// `progress` is called after each page with the collection, the records copied so far in it
/// and its total (as counted before the copy). `to` should be empty: [`RaceStore::import`]
/// refuses ids at or below those it has given. Returns what was copied; compare
/// [`fingerprint`]s to verify.
pub fn copy_all(
    from: &dyn RaceStore,
    to: &dyn RaceStore,
    mut progress: impl FnMut(Collection, u64, u64),
) -> Result<Counts> {
    // Every record is checked before anything is written, so a source holding what the target
    // cannot take (a NUL character, which PostgreSQL refuses) stops the copy before it starts.
    for_each_page(from, Records::check_storable)?;
    let totals = from.counts()?;
    let mut copied = Counts::default();
    let marks = from.read_snapshot(&mut |page| {
        to.import(page).map_err(|e| match e {
            Error::Invalid { field, message } if field == "id" => Error::Invalid {
                field,
                message: format!("{message} (is the target store empty?)"),
            },
            other => other,
        })?;
        let collection = page.collection();
        copied.add(collection, page.len() as u64);
        progress(
            collection,
            copied.get(collection),
            totals.get(collection).max(copied.get(collection)),
        );
        Ok(())
    })?;
    to.reserve_ids(&marks)?;
    Ok(copied)
}

/// The format a [`backup`] was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupFormat {
    /// The store's own: a JSON directory of a JSON store, a SQLite file of a SQLite store.
    SameAsStore,
    /// A JSON directory, for a store without a format on disk (PostgreSQL).
    JsonDirectory,
}

/// Writes a consistent copy of `store` to `destination`, which must not exist yet, while others
/// may keep saving into it; says in which format (see [`StoreUrl::backup_url`] for the URL it
/// opens with).
///
/// A JSON directory or SQLite file is copied in its own format ([`RaceStore::backup`]); a store
/// without a format on disk (PostgreSQL) is copied into a new JSON directory from one snapshot
/// ([`RaceStore::read_snapshot`]), its id marks included.
pub fn backup(store: &dyn RaceStore, destination: &Path) -> Result<BackupFormat> {
    match store.backup(destination) {
        Ok(()) => return Ok(BackupFormat::SameAsStore),
        Err(Error::Unsupported { .. }) => {}
        Err(other) => return Err(other),
    }
    if destination.exists() {
        return Err(Error::invalid(
            "destination",
            format!(
                "{} already exists; a backup goes to a new directory",
                destination.display()
            ),
        ));
    }
    #[cfg(feature = "json")]
    {
        // Written under a temporary name and renamed once complete, so a backup cut short
        // never looks like a (smaller) store.
        let mut name = destination.file_name().unwrap_or_default().to_os_string();
        name.push(".racestore-partial");
        let partial = destination.with_file_name(name);
        if let Some(parent) = destination.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("creating directory", parent, e))?;
        }
        let _ = std::fs::remove_dir_all(&partial);
        let written = (|| {
            let copy = crate::backend::json::JsonStore::open(&partial, crate::store::Durability::PowerLoss)?;
            let marks = store.read_snapshot(&mut |page| copy.import(page))?;
            copy.reserve_ids(&marks)?;
            copy.close()?;
            std::fs::rename(&partial, destination).map_err(|e| Error::io("renaming", &partial, e))
        })();
        if written.is_err() {
            let _ = std::fs::remove_dir_all(&partial);
        }
        written.map(|()| BackupFormat::JsonDirectory)
    }
    #[cfg(not(feature = "json"))]
    Err(Error::Unsupported {
        url: destination.display().to_string(),
        message: "backing up this store writes a JSON directory, and this racestore was built without the json backend (cargo feature \"json\")".into(),
    })
}

impl StoreUrl {
    /// The URL a [`backup`] of this store written at `destination` in `format` opens with.
    pub fn backup_url(&self, destination: &Path, format: BackupFormat) -> String {
        match (format, self.location.url_at(destination)) {
            (BackupFormat::SameAsStore, Some(url)) => url,
            _ => format!("json:{}", destination.display()),
        }
    }
}

/// What verifying a copy found ([`verify_copy`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The two stores' fingerprints are equal: the same records in every collection, ids and
    /// timestamps included. Holds the fingerprint.
    Equal(Fingerprint),
    /// Every record of the source reads back equal from the target, which also holds the
    /// records it had before the copy.
    Contained,
    /// In `collection` the stores' record counts or checksums differ.
    FingerprintsDiffer {
        /// The first collection (in [`Collection::ALL`] order) that differs.
        collection: Collection,
        /// The source's fingerprint.
        source: Fingerprint,
        /// The target's fingerprint.
        target: Fingerprint,
    },
    /// Record `id` of `collection` in the source is missing from the target or differs there.
    RecordDiffers {
        /// Its collection.
        collection: Collection,
        /// Its id.
        id: Id,
    },
}

impl Verification {
    /// Whether the copy is exact.
    pub fn is_verified(&self) -> bool {
        matches!(self, Verification::Equal(_) | Verification::Contained)
    }

    /// The collection that differs, if one does.
    pub fn differing_collection(&self) -> Option<Collection> {
        match self {
            Verification::Equal(_) | Verification::Contained => None,
            Verification::FingerprintsDiffer { collection, .. }
            | Verification::RecordDiffers { collection, .. } => Some(*collection),
        }
    }

    /// The difference in words, naming the collection, if there is one: `lap_data differs: the
    /// source has 2 records (checksum 71c8a95426a58726), the target 2 records (checksum
    /// 0e0cdbd6b5a3c1f0)`.
    pub fn mismatch(&self) -> Option<String> {
        let records = |n: u64| format!("{n} record{}", if n == 1 { "" } else { "s" });
        match self {
            Verification::Equal(_) | Verification::Contained => None,
            Verification::FingerprintsDiffer {
                collection,
                source,
                target,
            } => Some(format!(
                "{collection} differs: the source has {} (checksum {}), the target {} (checksum {})",
                records(source.counts.get(*collection)),
                source.checksum(*collection).unwrap_or("?"),
                records(target.counts.get(*collection)),
                target.checksum(*collection).unwrap_or("?"),
            )),
            Verification::RecordDiffers { collection, id } => Some(format!(
                "{collection} differs: record {id} of the source does not read back equal from the target"
            )),
        }
    }
}

/// Verifies that `to` holds what `from` holds, after [`copy_all`] copied `from` into `to`.
///
/// `target_before` is what `to` held before the copy ([`RaceStore::counts`]). When it held
/// nothing, the two stores' [`fingerprint`]s must be equal: every collection the same records,
/// counted and checksummed. Otherwise the fingerprints cannot match, and every record of `from`
/// is read back from `to` by id instead and compared as canonical JSON (so key order inside JSON
/// values does not matter). Either way, a difference names its collection; a store that cannot
/// be read is an error.
pub fn verify_copy(from: &dyn RaceStore, to: &dyn RaceStore, target_before: &Counts) -> Result<Verification> {
    if target_before.total() > 0 {
        return verify_records(from, to);
    }
    let source = fingerprint(from)?;
    let target = fingerprint(to)?;
    let differs = Collection::ALL.into_iter().find(|c| {
        source.counts.get(*c) != target.counts.get(*c) || source.checksum(*c) != target.checksum(*c)
    });
    Ok(match differs {
        None => Verification::Equal(source),
        Some(collection) => Verification::FingerprintsDiffer {
            collection,
            source,
            target,
        },
    })
}

/// Reads every record of `from` back from `to` by id and compares them as canonical JSON.
fn verify_records(from: &dyn RaceStore, to: &dyn RaceStore) -> Result<Verification> {
    for collection in Collection::ALL {
        let mut after = 0;
        loop {
            let page = from.export_page(collection, after, PAGE_SIZE)?;
            let ids = page.ids();
            let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else {
                break;
            };
            let copy = to.export_page(collection, first - 1, page.len())?;
            let (ours, theirs) = (page.to_json(), copy.to_json());
            for (i, id) in ids.iter().enumerate() {
                let same = theirs.get(i).is_some_and(|t| canonical(t) == canonical(&ours[i]));
                if !same {
                    return Ok(Verification::RecordDiffers { collection, id: *id });
                }
            }
            after = last;
        }
    }
    Ok(Verification::Contained)
}

/// JSON text with every object's keys sorted, recursively.
pub fn canonical(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), sorted(v))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NewLap, NewSession};
    use serde_json::json;

    /// A JSON store in `dir/name`.
    fn store(dir: &tempfile::TempDir, name: &str) -> Box<dyn RaceStore> {
        crate::open(&format!("json:{}", dir.path().join(name).display())).unwrap()
    }

    /// A session with two laps.
    fn fill(store: &dyn RaceStore) {
        let s = store.create_session(&NewSession::new("Barber")).unwrap();
        store
            .save_laps(&[
                NewLap::new(s, "GR86-002-7", 1, 92.0),
                NewLap::new(s, "GR86-002-7", 2, 91.0),
            ])
            .unwrap();
    }

    #[test]
    fn an_exact_copy_is_verified_by_fingerprint_or_record_by_record() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (store(&dir, "from"), store(&dir, "to"));
        fill(from.as_ref());
        let before = to.counts().unwrap();
        copy_all(from.as_ref(), to.as_ref(), |_, _, _| {}).unwrap();
        let verified = verify_copy(from.as_ref(), to.as_ref(), &before).unwrap();
        assert_eq!(verified, Verification::Equal(fingerprint(from.as_ref()).unwrap()));
        assert!(verified.is_verified() && verified.mismatch().is_none());

        // Into a store that held a session already: its records stay, the copy is contained.
        let (other, into) = (store(&dir, "other"), store(&dir, "into"));
        into.create_session(&NewSession::new("COTA")).unwrap();
        let held = into.counts().unwrap();
        other
            .reserve_ids(&crate::model::IdMarks::of(&[(Collection::Sessions, 1)]))
            .unwrap();
        fill(other.as_ref());
        copy_all(other.as_ref(), into.as_ref(), |_, _, _| {}).unwrap();
        assert_eq!(
            verify_copy(other.as_ref(), into.as_ref(), &held).unwrap(),
            Verification::Contained
        );
        // Compared by fingerprint instead, the session the target held first is a difference.
        let whole = verify_copy(other.as_ref(), into.as_ref(), &Counts::default()).unwrap();
        assert_eq!(whole.differing_collection(), Some(Collection::Sessions));
    }

    #[test]
    fn a_copy_that_differs_fails_verification_naming_the_collection() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (store(&dir, "from"), store(&dir, "to"));
        fill(from.as_ref());
        // The same records, except one lap time.
        to.import(&from.export_page(Collection::Sessions, 0, 10).unwrap())
            .unwrap();
        let Records::Laps(mut laps) = from.export_page(Collection::Laps, 0, 10).unwrap() else {
            unreachable!()
        };
        laps[1].lap_time = 91.5;
        to.import(&Records::Laps(laps)).unwrap();

        let verified = verify_copy(from.as_ref(), to.as_ref(), &Counts::default()).unwrap();
        assert!(!verified.is_verified());
        assert_eq!(verified.differing_collection(), Some(Collection::Laps));
        let source = fingerprint(from.as_ref()).unwrap();
        let target = fingerprint(to.as_ref()).unwrap();
        assert_eq!(
            verified.mismatch().unwrap(),
            format!(
                "lap_data differs: the source has 2 records (checksum {}), the target 2 records (checksum {})",
                source.checksum(Collection::Laps).unwrap(),
                target.checksum(Collection::Laps).unwrap()
            )
        );

        // Record by record, the lap is named; a record missing from the target is too.
        let held = Counts::of(&[(Collection::Sessions, 1)]);
        let verified = verify_copy(from.as_ref(), to.as_ref(), &held).unwrap();
        assert_eq!(
            verified,
            Verification::RecordDiffers {
                collection: Collection::Laps,
                id: 2
            }
        );
        assert_eq!(
            verified.mismatch().unwrap(),
            "lap_data differs: record 2 of the source does not read back equal from the target"
        );
        let s = from.get_all_sessions().unwrap()[0].id;
        from.save_lap_data(&NewLap::new(s, "GR86-002-7", 3, 90.0))
            .unwrap();
        let empty = store(&dir, "empty");
        empty
            .import(&from.export_page(Collection::Sessions, 0, 10).unwrap())
            .unwrap();
        assert_eq!(
            verify_copy(from.as_ref(), empty.as_ref(), &held).unwrap(),
            Verification::RecordDiffers {
                collection: Collection::Laps,
                id: 1
            }
        );
    }

    #[test]
    fn a_fingerprint_serializes_with_its_checksums_by_table_name() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir, "s");
        fill(s.as_ref());
        let fp = fingerprint(s.as_ref()).unwrap();
        let value = serde_json::to_value(&fp).unwrap();
        assert_eq!(value["records"], 3);
        assert_eq!(value["counts"]["laps"], 2);
        let tables: Vec<&str> = value["checksums"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            tables,
            Collection::ALL.map(Collection::name),
            "every collection, in order"
        );
        assert_eq!(
            value["checksums"]["lap_data"],
            fp.checksum(Collection::Laps).unwrap()
        );
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let a = json!({"b": 1, "a": {"d": [1, {"y": 2, "x": 1}], "c": null}});
        let b = json!({"a": {"c": null, "d": [1, {"x": 1, "y": 2}]}, "b": 1});
        assert_eq!(canonical(&a), canonical(&b));
        assert_eq!(canonical(&a), r#"{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}"#);
    }

    #[test]
    fn fnv1a_matches_the_reference_values() {
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
    }
}

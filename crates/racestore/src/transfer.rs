//! Moving whole stores: copying every record from one store to another (any backends), and a
//! fingerprint of a store's contents to prove a copy is exact.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::{Collection, Counts, Records};
use crate::store::{RaceStore, RaceStoreExt};
use crate::url::StoreUrl;

/// How many records a copy reads and writes at a time.
pub const PAGE_SIZE: usize = 10_000;

/// What a store holds, in a form two stores can be compared by: per collection, the number of
/// records and a checksum over every record (all fields, ids and timestamps included, in id order).
///
/// The checksum is FNV-1a (64-bit) over each record's canonical JSON (object keys sorted), so it
/// does not depend on the backend or on the key order a backend keeps inside JSON values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fingerprint {
    /// Records per collection.
    pub counts: Counts,
    /// Per collection (in [`Collection::ALL`] order), the checksum as 16 hex digits.
    pub checksums: Vec<(Collection, String)>,
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
        let copy = crate::backend::json::JsonStore::open(destination, crate::store::Durability::PowerLoss)?;
        let marks = store.read_snapshot(&mut |page| copy.import(page))?;
        copy.reserve_ids(&marks)?;
        copy.close()?;
        Ok(BackupFormat::JsonDirectory)
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
    use serde_json::json;

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

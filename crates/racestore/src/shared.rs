//! One open store per location in a process, shared by every part of the program that opens it.
//!
//! Every open of a location is a store of its own: opening a JSON directory twice gives two
//! stores that take turns on its files and each keep an index of them in memory. Programs
//! built from independent parts (a web app whose handlers each call `get_db()`, a notebook
//! that opens the same folder in two cells) want the second open to give the store already
//! open instead, with one index and no catching up between them. [`open_shared`] does that: it
//! keeps a process-wide registry of weak handles keyed by the store's canonical location, gives
//! the open store to every later open of the same location, and the store closes when the last
//! handle is dropped (or released with [`release`]).
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let url = format!("json:{}", dir.path().join("storage").display());
//! let a = racestore::open_shared(&url)?;
//! let b = racestore::open_shared(&url)?; // no lock error: the same store
//! assert!(std::sync::Arc::ptr_eq(&a, &b));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A process started by `fork` inherits the registry's memory but not the parent's threads or
//! its right to write: entries made in another process are ignored, so a forked child opens its
//! own store (and meets the backend's multi-process rules, such as the JSON directory's lock).

use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::error::{Error, Result};
use crate::store::{Durability, Opened, RaceStore};
use crate::url::StoreUrl;

/// One open store in the registry.
struct Entry {
    /// The backend and [`StoreLocation::identity`](crate::StoreLocation::identity) of its location.
    key: (&'static str, String),
    durability: Durability,
    /// The process that opened it: a forked child must not use its parent's store.
    pid: u32,
    store: Weak<dyn RaceStore>,
}

static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// Opens the store a URL names, or gives the store already open at the same location in this
/// process; see [`StoreUrl::parse`] for the URL forms.
///
/// Two URLs name the same location when their backend's
/// [`identity`](crate::StoreLocation::identity) is the same: the same directory or file
/// (relative paths, `..` and symbolic links resolved) or, for PostgreSQL, the same server,
/// database and schema. Asking for a store open with another `durability` is
/// [`Error::Unsupported`]: one store cannot keep two promises. Opening holds a process-wide lock,
/// so two threads opening one location at once get one store.
///
/// The store closes when the last handle is dropped; [`release`] drops a handle and, when it is
/// the last, reports what closing found.
pub fn open_shared(url: &str) -> Result<Arc<dyn RaceStore>> {
    open_shared_reporting(url).map(|opened| opened.store)
}

/// [`open_shared`], saying whether this call created the store (see
/// [`StoreLocation::open_reporting`](crate::StoreLocation::open_reporting)); a store already
/// open in this process was not created by it.
pub fn open_shared_reporting(url: &str) -> Result<Opened<Arc<dyn RaceStore>>> {
    let parsed = StoreUrl::parse(url)?;
    let key = |parsed: &StoreUrl| (parsed.location.backend(), parsed.location.identity());
    let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    let pid = std::process::id();
    registry.retain(|entry| entry.pid == pid && entry.store.strong_count() > 0);
    let wanted = key(&parsed);
    if let Some(entry) = registry.iter().find(|entry| entry.key == wanted) {
        if let Some(store) = entry.store.upgrade() {
            if entry.durability != parsed.durability {
                return Err(Error::Unsupported {
                    url: parsed.to_string(),
                    message: format!(
                        "this store is already open in this process with durability={}; open it with the same durability, or close the other handles first",
                        durability_name(entry.durability)
                    ),
                });
            }
            return Ok(Opened {
                store,
                created: false,
            });
        }
    }
    let Opened { store, created } = parsed.open_reporting()?;
    let store: Arc<dyn RaceStore> = Arc::from(store);
    registry.push(Entry {
        // Opening may have created the directory or file: key it by the identity it has now.
        key: key(&parsed),
        durability: parsed.durability,
        pid,
        store: Arc::downgrade(&store),
    });
    Ok(Opened { store, created })
}

/// Drops one handle from [`open_shared`]; when it is the last one, closes the store and returns
/// what closing reported (a failed flush, say), which a plain drop could only log.
pub fn release(store: Arc<dyn RaceStore>) -> Result<()> {
    // Under the registry's lock no other handle can be made from the registry, so a count of one
    // means this handle is the last.
    let _registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    if Arc::strong_count(&store) == 1 {
        store.close()
    } else {
        Ok(())
    }
}

fn durability_name(durability: Durability) -> &'static str {
    match durability {
        Durability::Process => "process",
        Durability::PowerLoss => "power-loss",
    }
}

#[cfg(all(test, feature = "json", feature = "sqlite"))]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::model::{NewLap, NewSession};
    use crate::store::RaceStoreExt;

    fn json_url(dir: &Path) -> String {
        format!("json:{}", dir.display())
    }

    #[test]
    fn opening_one_location_twice_gives_one_store() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("storage");
        let a = open_shared(&json_url(&dir)).unwrap();
        // Another spelling of the same directory: relative parts and a symbolic link.
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        let dotted = tmp.path().join("sub").join("..").join("storage");
        let b = open_shared(&json_url(&dotted)).unwrap();
        std::os::unix::fs::symlink(&dir, tmp.path().join("link")).unwrap();
        let c = open_shared(&json_url(&tmp.path().join("link"))).unwrap();
        assert!(Arc::ptr_eq(&a, &b) && Arc::ptr_eq(&a, &c));

        let session = a.create_session(&NewSession::new("Barber")).unwrap();
        b.save_lap_data(&NewLap::new(session, "GR86-002-7", 1, 91.5))
            .unwrap();
        assert_eq!(c.get_session_laps(session).unwrap().len(), 1);

        // A plain open beside it is another store on the same files: each sees the other's saves.
        let plain = crate::open(&json_url(&dir)).unwrap();
        assert!(!Arc::ptr_eq(
            &a,
            &Arc::from(crate::open(&json_url(&dir)).unwrap())
        ));
        assert_eq!(plain.get_session_laps(session).unwrap().len(), 1);
        plain
            .save_lap_data(&NewLap::new(session, "GR86-002-7", 2, 90.9))
            .unwrap();
        assert_eq!(a.get_session_laps(session).unwrap().len(), 2);

        // Another durability is another promise: refused, naming the one in force.
        let err = open_shared(&format!("{}?durability=power-loss", json_url(&dir))).unwrap_err();
        assert!(err.to_string().contains("durability=process"), "{err}");
    }

    #[test]
    fn the_store_closes_when_the_last_handle_goes() {
        let tmp = tempfile::tempdir().unwrap();
        let url = json_url(&tmp.path().join("storage"));
        let a = open_shared(&url).unwrap();
        let b = open_shared(&url).unwrap();
        let session = a.create_session(&NewSession::new("Barber")).unwrap();
        release(a).unwrap();
        // One handle left: the store is still open and usable.
        b.save_lap_data(&NewLap::new(session, "D1", 1, 90.0)).unwrap();
        release(b).unwrap();
        // Closed and unlocked: a plain open now succeeds and sees everything saved.
        let store = crate::open(&url).unwrap();
        assert_eq!(store.get_session_laps(session).unwrap().len(), 1);
        drop(store);

        // Dropping the last handle closes the store too.
        let c = open_shared(&url).unwrap();
        drop(c);
        let d = open_shared(&url).unwrap();
        assert_eq!(d.get_session_laps(session).unwrap().len(), 1);
    }

    #[test]
    fn different_locations_are_different_stores() {
        let tmp = tempfile::tempdir().unwrap();
        let json = open_shared(&json_url(&tmp.path().join("a"))).unwrap();
        let other = open_shared(&json_url(&tmp.path().join("b"))).unwrap();
        let sqlite = open_shared(&format!("sqlite:{}", tmp.path().join("a.db").display())).unwrap();
        let sqlite_again = open_shared(&tmp.path().join("a.db").display().to_string()).unwrap();
        assert!(!Arc::ptr_eq(&json, &other));
        assert!(Arc::ptr_eq(&sqlite, &sqlite_again));
        json.create_session(&NewSession::new("Barber")).unwrap();
        assert_eq!(other.counts().unwrap().sessions(), 0);
    }

    #[test]
    fn threads_opening_at_once_get_one_store() {
        let tmp = tempfile::tempdir().unwrap();
        let url = json_url(&tmp.path().join("storage"));
        let stores: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| open_shared(&url).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(stores.iter().all(|s| Arc::ptr_eq(s, &stores[0])));
    }
}

//! The racestore benchmark: every backend measured the same way, on the same generated laps,
//! through the [`RaceStore`] calls a user makes, with the machine they ran on.
//!
//! Each backend gets fresh stores (directories under one temporary directory; fresh schemas for a
//! server), each opened by [`racestore::open`] from a URL and driven only through [`RaceStore`],
//! so the numbers differ only by what the backends do.
//!
//! Per backend, in this order:
//! 1. single-save throughput: [`RaceStoreExt::save_lap_data`] in a loop, at the default
//!    durability and at `?durability=power-loss`, each in a store of its own;
//! 2. the same loop in [`CONCURRENT_PROCESSES`] fresh processes saving into one store at once
//!    (a store of its own), for [`CONCURRENT_SAVES_TIME`]: their saves per second together, or
//!    that the store refused a second process;
//! 3. the cost of a single save in a store holding 10,000 laps (a store of its own): the mean over
//!    1,000 saves, in the fastest of five rounds;
//! 4. batch ingest of N laps into the large store, in batches of 10,000 laps that fill sessions
//!    of 1,000 laps each;
//! 5. the large store's size on disk, once it is closed;
//! 6. reopening it in [`OPEN_RUNS`] fresh processes ([`Options::probe`], which calls
//!    [`run_probe`]), with the page cache warm: the median time [`racestore::open`] takes and the
//!    highest peak memory of those processes; for a JSON directory, in the same rounds, the time
//!    a fresh process takes to read its data files once (`std::fs::read` of each), and, if it
//!    keeps on-disk cache files ([`CACHE_FILE_PREFIX`]), the open again with them deleted first;
//! 7. [`RaceStoreExt::get_session_laps`] latency for random 1,000-lap sessions;
//! 8. the cost of a single save in the large store, which then holds N + 5,100 laps (five rounds
//!    of 20 untimed warm-up saves and 1,000 timed ones).
//!
//! [`Bench::prepare`] checks the options and makes the bench's directory; [`Bench::run`] measures
//! and returns a [`Report`] (one JSON object with [`Report::to_json`]); front ends draw progress
//! through [`Progress`] and print the report as they like (`racestore bench` does).
#![warn(missing_docs)]

mod machine;
mod probe;
mod report;
mod rng;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use racestore::{Durability, Id, NewLap, NewSession, RaceStore, RaceStoreExt, Sectors};
use serde_json::{json, Value};

pub use machine::Machine;
pub use probe::{open_probe, run_probe, ConcurrentSaves, OpenCost, ReadFiles, CACHE_FILE_PREFIX};
pub use report::{Outcome, Ratio, Report};
pub use rng::Rng;

use probe::{cache_files, kilobytes_field, median, Prober};

/// Laps in every session the bench creates: 20 cars over 50 laps.
pub const SESSION_LAPS: usize = 1_000;
/// Cars in a session.
pub const CARS: usize = 20;
/// Laps per `save_laps` call during batch ingest.
pub const BATCH_LAPS: usize = 10_000;
/// Laps in the store where the base cost of a single save is measured.
pub const BASE_LAPS: u64 = 10_000;
/// The fewest laps the large store may hold: the base store's size.
pub const MIN_LAPS: u64 = BASE_LAPS;
/// Single saves made before each timed loop, untimed, in a session of their own: the first calls
/// pay for warming caches (and, on a server, for connecting).
pub const WARMUP_SAVES: usize = 20;
/// The longest a loop of single saves runs; it stops there, and reports what it did.
pub const SAVE_BUDGET: Duration = Duration::from_secs(10);
/// Single-save throughput at the default durability.
pub const THROUGHPUT_LOOP: SaveLoop = SaveLoop {
    saves: 2_000,
    min_time: Duration::from_millis(500),
};
/// Single-save throughput in power-loss mode, where each save waits for the disk.
pub const POWER_LOSS_LOOP: SaveLoop = SaveLoop {
    saves: 200,
    min_time: Duration::from_millis(500),
};
/// One round of the cost of a single save at 10,000 laps and at N: one 1,000-lap session.
pub const PROBE_LOOP: SaveLoop = SaveLoop {
    saves: SESSION_LAPS,
    min_time: Duration::ZERO,
};
/// Rounds of [`PROBE_LOOP`] at each size. The fastest round counts: a round takes milliseconds,
/// and on a shared machine another process taking the core for part of one would otherwise decide
/// the growth ratio. A cost that grows with the store slows every round, so it still shows.
pub const PROBE_ROUNDS: usize = 5;
/// `get_session_laps` calls timed in the large store.
pub const READS: usize = 200;
/// Fresh processes that open the large store (and, for a JSON directory, read its data files);
/// the median time counts, so one slowed by other work on the machine does not decide it.
pub const OPEN_RUNS: usize = 5;
/// Processes saving into one store at once.
pub const CONCURRENT_PROCESSES: u64 = 2;
/// How long each of the [`CONCURRENT_PROCESSES`] makes single saves.
pub const CONCURRENT_SAVES_TIME: Duration = Duration::from_secs(1);
/// Seed of the lap generator and of the choice of sessions read: every backend gets the same.
const SEED: u64 = 2025;
/// The session every bench session is: the same race, many times.
const CIRCUIT: &str = "Barber Motorsports Park";
const DATE: &str = "2025-09-06T14:00:00";
const RACE_TYPE: &str = "race";

/// A backend the bench can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The JSON directory.
    Json,
    /// One SQLite file.
    Sqlite,
    /// A PostgreSQL database (needs [`Options::postgres`]).
    Postgres,
}

impl Backend {
    /// Every backend, in the order they are listed.
    pub const ALL: [Backend; 3] = [Backend::Json, Backend::Sqlite, Backend::Postgres];

    /// Its name: `json`, `sqlite`, `postgres`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Json => "json",
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(name: &str) -> Result<Backend, String> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Backend::ALL.iter().map(|b| b.name()).collect();
                format!("unknown backend {name:?}: choose from {}", names.join(", "))
            })
    }
}

/// What to measure, and where.
#[derive(Debug, Clone)]
pub struct Options {
    /// Laps in the large store ([`MIN_LAPS`] or more): batch ingest, cost per save at N, reads,
    /// open time, memory and size are measured on it.
    pub laps: u64,
    /// Backends to measure, in report order; PostgreSQL is added when [`postgres`](Self::postgres)
    /// is given, and a backend named twice is measured once.
    pub backends: Vec<Backend>,
    /// The PostgreSQL database to measure in: `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`. Each
    /// phase runs in a schema of its own (`racestore_bench_*`), emptied afterwards unless
    /// [`keep`](Self::keep).
    pub postgres: Option<String>,
    /// Where the bench's temporary directory goes (created if missing); the system's temporary
    /// directory by default. The filesystem measured is this directory's.
    pub dir: Option<PathBuf>,
    /// Keep the stores after the run instead of removing them.
    pub keep: bool,
    /// The program (and its first arguments) that runs a probe in a fresh process
    /// (`racestore bench-probe`): the bench appends the probe's arguments, gives the store's URL
    /// in [`racestore::URL_ENV`], and the program calls [`run_probe`] with them.
    pub probe: Vec<OsString>,
}

/// Told how the bench is getting on: a front end draws bars, or nothing.
///
/// Each phase is [`start`](Self::start)ed, [`advance`](Self::advance)d and
/// [`finish`](Self::finish)ed in turn, from the thread that called [`Bench::run`].
pub trait Progress {
    /// A phase of `backend` starts: `total` steps, or `None` for one long call.
    fn start(&self, backend: &str, phase: &str, total: Option<u64>);
    /// `done` steps of the current phase are done.
    fn advance(&self, done: u64);
    /// The current phase is over.
    fn finish(&self);
}

/// Progress nobody is shown.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _backend: &str, _phase: &str, _total: Option<u64>) {}
    fn advance(&self, _done: u64) {}
    fn finish(&self) {}
}

/// A bench ready to run: the options checked, its directory made, the machine looked at.
#[derive(Debug)]
pub struct Bench {
    options: Options,
    backends: Vec<Backend>,
    temp: tempfile::TempDir,
    machine: Machine,
}

impl Bench {
    /// Checks `options` and makes the bench's temporary directory.
    pub fn prepare(options: Options) -> anyhow::Result<Bench> {
        ensure!(
            options.laps >= MIN_LAPS,
            "the large store needs at least {} laps, not {}",
            thousands(MIN_LAPS),
            thousands(options.laps)
        );
        let mut backends: Vec<Backend> = Vec::new();
        for backend in options
            .backends
            .iter()
            .copied()
            .chain(options.postgres.is_some().then_some(Backend::Postgres))
        {
            if !backends.contains(&backend) {
                backends.push(backend);
            }
        }
        if backends.contains(&Backend::Postgres) && options.postgres.is_none() {
            bail!("measuring postgres needs the URL of the database to measure in");
        }
        ensure!(
            !options.probe.is_empty(),
            "no program to open a store in a fresh process with"
        );

        let parent = match &options.dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                dir.clone()
            }
            None => std::env::temp_dir(),
        };
        let temp = tempfile::Builder::new()
            .prefix("racestore-bench-")
            .tempdir_in(&parent)
            .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
        if temp.path().to_string_lossy().contains('?') {
            bail!(
                "the bench directory {} holds a '?', which store URLs read as options; choose another directory",
                temp.path().display()
            );
        }
        let machine = Machine::probe(temp.path());
        Ok(Bench {
            options,
            backends,
            temp,
            machine,
        })
    }

    /// The backends it will measure, in report order.
    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// The directory its stores go in.
    pub fn dir(&self) -> &Path {
        self.temp.path()
    }

    /// Measures every backend in turn, then removes the stores unless [`Options::keep`].
    ///
    /// A backend that cannot be measured is reported in its [`Outcome`] and the others still
    /// are; an error here is the bench itself failing (its directory cannot be removed).
    pub fn run(self, progress: &dyn Progress) -> anyhow::Result<Report> {
        let Bench {
            options,
            backends,
            temp,
            machine,
        } = self;
        let dir = temp.path().to_path_buf();
        let run_id = format!("{}_{}", std::process::id(), unix_seconds());
        let outcomes: Vec<Outcome> = backends
            .iter()
            .map(|&backend| {
                let target = Target {
                    backend,
                    place: match (backend, &options.postgres) {
                        (Backend::Postgres, Some(url)) => Place::Server {
                            url: url.clone(),
                            run: run_id.clone(),
                        },
                        _ => Place::Dir(dir.join(backend.name())),
                    },
                };
                let result =
                    measure(&target, &options, progress).map_err(|err| target.scrub(&format!("{err:#}")));
                Outcome { backend, result }
            })
            .collect();

        let kept = if options.keep {
            Some(temp.keep())
        } else {
            temp.close()
                .with_context(|| format!("removing the bench directory {}", dir.display()))?;
            None
        };
        Ok(Report {
            machine,
            laps: options.laps,
            outcomes,
            kept,
        })
    }
}

/// One backend under test, and where its fresh stores go.
#[derive(Debug)]
struct Target {
    backend: Backend,
    place: Place,
}

/// Where a backend's stores live.
#[derive(Debug)]
enum Place {
    /// Files: one subdirectory of this directory per store.
    Dir(PathBuf),
    /// A server: one schema per store, named after the run.
    Server { url: String, run: String },
}

impl Target {
    fn name(&self) -> &'static str {
        self.backend.name()
    }

    /// Names a fresh store for `phase` at `durability`, creating its directory if it has one.
    ///
    /// Every backend's stores are then opened by the same [`open_fresh`].
    fn store_url(&self, phase: &str, durability: Durability) -> anyhow::Result<String> {
        let option = match durability {
            Durability::PowerLoss => Some("durability=power-loss"),
            Durability::Process => None,
        };
        match &self.place {
            Place::Dir(root) => {
                let dir = root.join(phase);
                std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                let url = match self.backend {
                    Backend::Sqlite => format!("sqlite:{}", dir.join("race.db").display()),
                    _ => format!("json:{}", dir.display()),
                };
                Ok(with_options(&url, option.into_iter()))
            }
            Place::Server { url, run } => {
                let schema = format!("racestore_bench_{run}_{}", phase.replace('-', "_"));
                let (base, query) = url.split_once('?').unwrap_or((url, ""));
                // The bench chooses the schema and the durability; every other option stays.
                let options = query
                    .split('&')
                    .filter(|o| !o.is_empty() && !o.starts_with("schema=") && !o.starts_with("durability="))
                    .map(str::to_owned)
                    .chain(std::iter::once(format!("schema={schema}")))
                    .chain(option.map(str::to_owned));
                Ok(with_options(base, options))
            }
        }
    }

    /// Bytes on disk of the store for `phase`: every file in its directory (for SQLite the
    /// database and its `-wal` and `-shm` files). `None` for a server.
    fn size_on_disk(&self, phase: &str) -> anyhow::Result<Option<u64>> {
        match &self.place {
            Place::Dir(root) => {
                let dir = root.join(phase);
                directory_size(&dir)
                    .map(Some)
                    .with_context(|| format!("measuring the size of {}", dir.display()))
            }
            Place::Server { .. } => Ok(None),
        }
    }

    /// The files of the JSON directory for `phase` that hold its records (one per collection:
    /// the original's five and `entries.json`), the ones there are; `None` for other backends.
    fn data_files(&self, phase: &str) -> Option<Vec<PathBuf>> {
        match (&self.place, self.backend) {
            (Place::Dir(root), Backend::Json) => Some(
                racestore::Collection::ALL
                    .iter()
                    .map(|c| root.join(phase).join(c.file_name()))
                    .filter(|file| file.is_file())
                    .collect(),
            ),
            _ => None,
        }
    }

    /// The on-disk cache files of the JSON directory for `phase` (see [`CACHE_FILE_PREFIX`]);
    /// none for other backends.
    fn cache_files(&self, phase: &str) -> anyhow::Result<Vec<PathBuf>> {
        match (&self.place, self.backend) {
            (Place::Dir(root), Backend::Json) => {
                let dir = root.join(phase);
                cache_files(&dir).with_context(|| format!("listing the cache files of {}", dir.display()))
            }
            _ => Ok(Vec::new()),
        }
    }

    /// `message` with the server URL's password, wherever it appears, replaced by `***`: error
    /// messages may quote the URL as given.
    fn scrub(&self, message: &str) -> String {
        match &self.place {
            Place::Server { url, .. } => match password_of(url) {
                Some(password) if !password.is_empty() => message.replace(password, "***"),
                _ => message.to_owned(),
            },
            Place::Dir(_) => message.to_owned(),
        }
    }

    /// The URL as it may be printed: a password replaced by `***`.
    fn shown(&self, url: &str) -> String {
        match self.place {
            Place::Server { .. } => racestore::redact_url(url),
            Place::Dir(_) => url.to_owned(),
        }
    }
}

/// `url` with `options` appended as a query.
fn with_options(url: &str, options: impl Iterator<Item = impl AsRef<str>>) -> String {
    let mut out = url.to_owned();
    for (i, option) in options.enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(option.as_ref());
    }
    out
}

/// The password of a `scheme://user:password@host/...` URL, or of its `password=` option.
fn password_of(url: &str) -> Option<&str> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let in_query = query.split('&').find_map(|o| o.strip_prefix("password="));
    let rest = base.split_once("://")?.1;
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let in_user_info = authority
        .rsplit_once('@')
        .and_then(|(user_info, _)| user_info.split_once(':'))
        .map(|(_, password)| password);
    in_user_info.or(in_query)
}

/// Opens a store that must be new: the one factory every backend's stores come from.
fn open_fresh(url: &str, shown: &str) -> anyhow::Result<Box<dyn RaceStore>> {
    let store = racestore::open(url).with_context(|| format!("opening {shown}"))?;
    let counts = store
        .counts()
        .with_context(|| format!("counting the records of {shown}"))?;
    ensure!(
        counts.sessions() == 0 && counts.laps() == 0,
        "{shown} is not empty ({} sessions, {} laps): the bench needs a fresh store",
        counts.sessions(),
        counts.laps()
    );
    Ok(store)
}

/// Closes a store the bench is done with; on a server, without `--keep`, empties it first.
fn finish(store: Box<dyn RaceStore>, target: &Target, shown: &str, keep: bool) -> anyhow::Result<()> {
    if matches!(target.place, Place::Server { .. }) && !keep {
        for session in store.get_all_sessions()? {
            store
                .delete_session(session.id)
                .with_context(|| format!("removing the bench's session {} from {shown}", session.id))?;
        }
    }
    store
        .close()
        .with_context(|| format!("closing {shown}: the last writes may not have reached the disk"))
}

/// Everything measured on one backend.
#[derive(Debug)]
pub struct Measures {
    /// `save_lap_data` in a loop, default durability.
    pub single_process: SaveRun,
    /// `save_lap_data` in a loop, `?durability=power-loss`.
    pub single_power_loss: SaveRun,
    /// `save_lap_data` in a loop in [`CONCURRENT_PROCESSES`] processes into one store at once.
    pub concurrent: ConcurrentSaves,
    /// Single saves into a store holding [`BASE_LAPS`] laps.
    pub at_base: Probe,
    /// Single saves into the large store, holding N laps.
    pub at_n: Probe,
    /// Batch ingest of N laps.
    pub ingest: Ingest,
    /// `get_session_laps` in the large store.
    pub reads: Latency,
    /// Listing every session of the large store with its counts and best lap
    /// (`session_summaries`, what `racestore sessions` prints): the fastest of three, seconds.
    pub list_sessions: f64,
    /// Reopening the large store, each time in a fresh process, with any cache files it keeps.
    pub open: Opens,
    /// Reopening it with its cache files ([`cache_files`](Self::cache_files)) deleted first;
    /// `None` when it keeps none.
    pub open_cache_deleted: Option<Opens>,
    /// The names of the on-disk cache files the large store had after the ingest.
    pub cache_files: Vec<String>,
    /// A JSON directory's data files read once by fresh processes, in the rounds of the opens;
    /// `None` for the other backends.
    pub read_files: Option<ReadFiles>,
    /// The large store's bytes on disk; `None` when the backend has no files.
    pub size: Option<u64>,
    /// Laps the reopened large store reported holding.
    pub laps_after_reopen: u64,
    /// Laps the large store held at the end, after the single saves timed at N.
    pub laps_at_end: u64,
    /// What the reader of the results should know about this backend's run.
    pub notes: Vec<String>,
    /// The large store's URL (password redacted).
    pub store: String,
}

impl Measures {
    /// The cost of a save at N over its cost at the base size.
    pub fn growth(&self) -> f64 {
        self.at_n.micros_per_save() / self.at_base.micros_per_save()
    }

    /// The median open time, with any cache files deleted first, over the median time to read
    /// the data files once; `None` for a backend whose files are not read.
    pub fn open_over_read_files(&self) -> Option<f64> {
        let open = self.open_cache_deleted.as_ref().unwrap_or(&self.open);
        Some(open.seconds() / self.read_files.as_ref()?.seconds())
    }
}

/// Opens of the large store, each in a fresh process.
#[derive(Debug, Clone)]
pub struct Opens {
    /// Each process's open.
    pub runs: Vec<OpenCost>,
}

impl Opens {
    /// The median time [`racestore::open`] took, in seconds.
    pub fn seconds(&self) -> f64 {
        median(self.runs.iter().map(|r| r.seconds))
    }

    /// The median resident memory of the processes before they opened the store, in bytes;
    /// `None` where it could not be read.
    pub fn rss_before(&self) -> Option<u64> {
        let values: Option<Vec<f64>> = self.runs.iter().map(|r| r.rss_before.map(|b| b as f64)).collect();
        Some(median(values?) as u64)
    }

    /// The highest of the processes' peak resident memory while opening, in bytes; `None`
    /// where the peak could not be measured.
    pub fn peak_rss(&self) -> Option<u64> {
        let peaks: Option<Vec<u64>> = self.runs.iter().map(|r| r.peak_rss).collect();
        peaks?.into_iter().max()
    }
}

/// How many single saves a loop makes: at least `saves`, for at least `min_time`, and stopping
/// at [`SAVE_BUDGET`] whatever it reached.
#[derive(Debug, Clone, Copy)]
pub struct SaveLoop {
    /// The fewest saves.
    pub saves: usize,
    /// The shortest time.
    pub min_time: Duration,
}

/// A loop of single saves.
#[derive(Debug, Clone, Copy)]
pub struct SaveRun {
    /// Saves made.
    pub saves: usize,
    /// Seconds they took, only the saves timed.
    pub seconds: f64,
}

impl SaveRun {
    /// Saves per second.
    pub fn per_second(self) -> f64 {
        self.saves as f64 / self.seconds
    }

    /// The mean cost of a save, in microseconds.
    pub fn micros_per_save(self) -> f64 {
        self.seconds * 1e6 / self.saves as f64
    }

    fn to_json(self) -> Value {
        json!({
            "saves": self.saves,
            "seconds": self.seconds,
            "saves_per_second": self.per_second(),
            "micros_per_save": self.micros_per_save(),
        })
    }
}

/// [`PROBE_ROUNDS`] loops of single saves at one store size.
#[derive(Debug)]
pub struct Probe {
    /// Each round.
    pub rounds: Vec<SaveRun>,
}

impl Probe {
    /// The mean cost of a save in the fastest round, in microseconds.
    pub fn micros_per_save(&self) -> f64 {
        self.rounds
            .iter()
            .map(|r| r.micros_per_save())
            .fold(f64::INFINITY, f64::min)
    }

    fn to_json(&self) -> Value {
        json!({
            "micros_per_save": self.micros_per_save(),
            "saves_per_round": self.rounds.first().map(|r| r.saves),
            "rounds_micros_per_save": self.rounds.iter().map(|r| r.micros_per_save()).collect::<Vec<_>>(),
        })
    }
}

/// Batch ingest of the large store.
#[derive(Debug)]
pub struct Ingest {
    /// Laps saved.
    pub laps: u64,
    /// Sessions holding exactly [`SESSION_LAPS`] laps.
    pub full_sessions: Vec<Id>,
    /// Time in `create_session` and `save_laps`; generating the laps is not counted.
    pub seconds: f64,
}

impl Ingest {
    /// Laps saved per second.
    pub fn laps_per_second(&self) -> f64 {
        self.laps as f64 / self.seconds
    }
}

/// Read latencies, sorted.
#[derive(Debug)]
pub struct Latency {
    /// Each read's time, shortest first.
    pub sorted: Vec<Duration>,
}

impl Latency {
    /// The nearest-rank percentile `p` (0 to 100), in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        let rank = ((p / 100.0 * self.sorted.len() as f64).ceil() as usize).clamp(1, self.sorted.len());
        self.sorted[rank - 1].as_secs_f64() * 1e3
    }
}

/// Runs every measure on one backend.
fn measure(target: &Target, options: &Options, progress: &dyn Progress) -> anyhow::Result<Measures> {
    let (laps, keep) = (options.laps, options.keep);
    let progress = Reporter {
        backend: target.name(),
        progress,
    };
    let mut laps_gen = LapGenerator::new(SEED);
    let prober = Prober {
        command: &options.probe,
    };

    let single_process = single_save_store(
        target,
        "single",
        Durability::Process,
        THROUGHPUT_LOOP,
        &mut laps_gen,
        &progress,
        keep,
    )?;
    let single_power_loss = single_save_store(
        target,
        "single-power-loss",
        Durability::PowerLoss,
        POWER_LOSS_LOOP,
        &mut laps_gen,
        &progress,
        keep,
    )?;
    let concurrent = concurrent_saves(target, &prober, &progress, keep)?;

    // The base cost: single saves into a store holding 10,000 laps, filled as the large one is.
    let at_base = {
        let url = target.store_url("10k", Durability::Process)?;
        let shown = target.shown(&url);
        let store = open_fresh(&url, &shown)?;
        ingest(
            store.as_ref(),
            &mut laps_gen,
            BASE_LAPS,
            &progress.bar("fill to 10,000 laps", BASE_LAPS),
        )
        .with_context(|| format!("filling {shown} with {} laps", thousands(BASE_LAPS)))?;
        let probe = probe(
            store.as_ref(),
            &mut laps_gen,
            &progress,
            "single saves at 10,000 laps",
        )
        .with_context(|| format!("single saves in {shown}"))?;
        finish(store, target, &shown, keep)?;
        probe
    };

    // The large store.
    let url = target.store_url("large", Durability::Process)?;
    let shown = target.shown(&url);
    let store = open_fresh(&url, &shown)?;
    let ingested = ingest(
        store.as_ref(),
        &mut laps_gen,
        laps,
        &progress.bar(&format!("batch ingest of {} laps", thousands(laps)), laps),
    )
    .with_context(|| format!("ingesting {} laps into {shown}", thousands(laps)))?;
    store
        .close()
        .with_context(|| format!("closing {shown} after the ingest"))?;
    drop(store);
    let size = target.size_on_disk("large")?;

    let cache = target.cache_files("large")?;
    let bar = progress.bar(
        &format!("opening the {}-lap store", thousands(laps)),
        OPEN_RUNS as u64,
    );
    let opened = reopen(
        &prober,
        &url,
        &shown,
        laps,
        &cache,
        target.data_files("large"),
        &bar,
    )?;
    let laps_after_reopen = laps;
    // Reopened here too (untimed) for the reads and the single saves at N.
    let store = racestore::open(&url).with_context(|| format!("reopening {shown}"))?;
    let mut read_rng = Rng::new(SEED);
    let reads = session_reads(
        store.as_ref(),
        &ingested.full_sessions,
        &mut read_rng,
        &progress.bar("get_session_laps", READS as u64),
    )
    .with_context(|| format!("reading sessions of {shown}"))?;
    let list_sessions =
        list_sessions(store.as_ref(), laps).with_context(|| format!("listing the sessions of {shown}"))?;
    let at_n = probe(
        store.as_ref(),
        &mut laps_gen,
        &progress,
        &format!("single saves at {} laps", thousands(laps)),
    )
    .with_context(|| format!("single saves in {shown}"))?;
    let laps_at_end = store
        .counts()
        .with_context(|| format!("counting the laps of {shown}"))?
        .laps();
    finish(store, target, &shown, keep)?;

    let mut notes = Vec::new();
    if let Place::Server { run, .. } = &target.place {
        notes.push(if keep {
            format!("the stores are kept in the schemas racestore_bench_{run}_*")
        } else {
            format!(
                "the schemas racestore_bench_{run}_* are left behind, emptied: racestore has no call \
                 to remove a store"
            )
        });
    }
    if let ConcurrentSaves::Locked(message) = &concurrent {
        notes.push(format!(
            "{CONCURRENT_PROCESSES} processes saving at once: not supported, a second process was refused: {message}"
        ));
    }
    Ok(Measures {
        single_process,
        single_power_loss,
        concurrent,
        at_base,
        at_n,
        ingest: ingested,
        reads,
        list_sessions,
        open: opened.open,
        open_cache_deleted: opened.open_cache_deleted,
        cache_files: cache
            .iter()
            .filter_map(|f| f.file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .collect(),
        read_files: opened.read_files,
        size,
        laps_after_reopen,
        laps_at_end,
        notes,
        store: shown,
    })
}

/// What [`reopen`] measured.
struct Reopened {
    open: Opens,
    open_cache_deleted: Option<Opens>,
    read_files: Option<ReadFiles>,
}

/// Opens the large store `url` in [`OPEN_RUNS`] rounds of fresh processes, each of which must
/// find its `laps` laps. In each round, in turn: `data_files` read once (when given), the open
/// as the store is, and, when it keeps `cache` files, the open with them deleted first (then
/// put back as they were, so that every round starts alike).
fn reopen(
    prober: &Prober<'_>,
    url: &str,
    shown: &str,
    laps: u64,
    cache: &[PathBuf],
    data_files: Option<Vec<PathBuf>>,
    bar: &Phase<'_>,
) -> anyhow::Result<Reopened> {
    let aside: Vec<(PathBuf, Vec<u8>)> = cache
        .iter()
        .map(|file| Ok((file.clone(), std::fs::read(file)?)))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading the cache files of {shown}"))?;
    let open = |what: &str| -> anyhow::Result<OpenCost> {
        let (cost, found) = prober
            .open(url)
            .with_context(|| format!("reopening {shown} in a fresh process{what}"))?;
        ensure!(
            found == laps,
            "{shown} holds {found} laps after reopening{what}, not the {} ingested",
            thousands(laps)
        );
        Ok(cost)
    };
    let mut reopened = Reopened {
        open: Opens { runs: Vec::new() },
        open_cache_deleted: (!cache.is_empty()).then(|| Opens { runs: Vec::new() }),
        read_files: None,
    };
    let mut read_runs = Vec::new();
    let mut read_bytes = 0;
    for round in 1..=OPEN_RUNS {
        if let Some(files) = &data_files {
            let (seconds, bytes) = prober
                .read_files(files)
                .with_context(|| format!("reading the data files of {shown} in a fresh process"))?;
            read_runs.push(seconds);
            read_bytes = bytes;
        }
        reopened.open.runs.push(open("")?);
        if let Some(opens) = &mut reopened.open_cache_deleted {
            for file in cache {
                std::fs::remove_file(file).with_context(|| format!("deleting {}", file.display()))?;
            }
            opens.runs.push(open(" with its cache files deleted")?);
            for (file, bytes) in &aside {
                std::fs::write(file, bytes).with_context(|| format!("putting back {}", file.display()))?;
            }
        }
        bar.set_position(round as u64);
    }
    bar.finish_and_clear();
    reopened.read_files = data_files.map(|files| ReadFiles {
        files: files.len(),
        bytes: read_bytes,
        runs: read_runs,
    });
    Ok(reopened)
}

/// Single saves from [`CONCURRENT_PROCESSES`] fresh processes into one fresh store at once, for
/// [`CONCURRENT_SAVES_TIME`]; the store must then hold every lap they said they saved.
fn concurrent_saves(
    target: &Target,
    prober: &Prober<'_>,
    progress: &Reporter<'_>,
    keep: bool,
) -> anyhow::Result<ConcurrentSaves> {
    let url = target.store_url("concurrent", Durability::Process)?;
    let shown = target.shown(&url);
    // Made (and found empty) here, and closed before the processes open it.
    open_fresh(&url, &shown)?
        .close()
        .with_context(|| format!("closing {shown}"))?;
    let spinner = progress.spinner(&format!(
        "single saves from {CONCURRENT_PROCESSES} processes at once"
    ));
    let concurrent = prober
        .concurrent_saves(&url, CONCURRENT_PROCESSES, SEED + 1, CONCURRENT_SAVES_TIME)
        .with_context(|| format!("single saves from {CONCURRENT_PROCESSES} processes into {shown}"))?;
    spinner.finish_and_clear();
    let store = racestore::open(&url).with_context(|| format!("opening {shown}"))?;
    if let ConcurrentSaves::Measured(runs) = &concurrent {
        let saved: u64 = runs.iter().map(|r| (WARMUP_SAVES + r.saves) as u64).sum();
        let held = store
            .counts()
            .with_context(|| format!("counting the laps of {shown}"))?
            .laps();
        ensure!(
            held == saved,
            "{shown} holds {held} laps after {CONCURRENT_PROCESSES} processes saved {saved}"
        );
    }
    finish(store, target, &shown, keep)?;
    Ok(concurrent)
}

/// Times single saves in a fresh store of their own.
fn single_save_store(
    target: &Target,
    phase: &str,
    durability: Durability,
    plan: SaveLoop,
    laps_gen: &mut LapGenerator,
    progress: &Reporter<'_>,
    keep: bool,
) -> anyhow::Result<SaveRun> {
    let url = target.store_url(phase, durability)?;
    let shown = target.shown(&url);
    let store = open_fresh(&url, &shown)?;
    let mode = match durability {
        Durability::PowerLoss => "power-loss",
        Durability::Process => "process",
    };
    let bar = progress.bar(&format!("single saves ({mode})"), plan.saves as u64);
    let run = single_saves(store.as_ref(), laps_gen, plan, &bar)
        .with_context(|| format!("single saves in {shown}"))?;
    finish(store, target, &shown, keep)?;
    Ok(run)
}

/// Times [`PROBE_ROUNDS`] rounds of [`PROBE_LOOP`] in `store`.
fn probe(
    store: &dyn RaceStore,
    laps_gen: &mut LapGenerator,
    progress: &Reporter<'_>,
    what: &str,
) -> anyhow::Result<Probe> {
    let rounds = (0..PROBE_ROUNDS)
        .map(|_| {
            single_saves(
                store,
                laps_gen,
                PROBE_LOOP,
                &progress.bar(what, PROBE_LOOP.saves as u64),
            )
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Probe { rounds })
}

/// Saves laps one `save_lap_data` call at a time, as `plan` says, after [`WARMUP_SAVES`] untimed
/// ones; each session gets [`SESSION_LAPS`] laps, and only the saves are timed.
fn single_saves(
    store: &dyn RaceStore,
    laps_gen: &mut LapGenerator,
    plan: SaveLoop,
    bar: &Phase<'_>,
) -> anyhow::Result<SaveRun> {
    warm_up(store, laps_gen)?;
    single_saves_after_warm_up(store, laps_gen, plan, bar)
}

/// Makes the [`WARMUP_SAVES`] untimed saves that come before a timed loop, in a session of their
/// own.
fn warm_up(store: &dyn RaceStore, laps_gen: &mut LapGenerator) -> anyhow::Result<()> {
    let warmup = store.create_session(&LapGenerator::session())?;
    for k in 0..WARMUP_SAVES {
        store.save_lap_data(&laps_gen.lap(warmup, k))?;
    }
    Ok(())
}

/// The timed part of [`single_saves`].
fn single_saves_after_warm_up(
    store: &dyn RaceStore,
    laps_gen: &mut LapGenerator,
    plan: SaveLoop,
    bar: &Phase<'_>,
) -> anyhow::Result<SaveRun> {
    let mut timed = Duration::ZERO;
    let mut saves: usize = 0;
    let mut laps: Vec<NewLap> = Vec::with_capacity(SESSION_LAPS);
    let enough = |saves: usize, elapsed: Duration| {
        (saves >= plan.saves && elapsed >= plan.min_time) || elapsed >= SAVE_BUDGET
    };
    while !enough(saves, timed) {
        // The next session's laps, made before the clock runs.
        let session = store.create_session(&LapGenerator::session())?;
        laps.clear();
        laps.extend((0..SESSION_LAPS).map(|k| laps_gen.lap(session, k)));
        let start = Instant::now();
        for lap in &laps {
            store.save_lap_data(lap)?;
            saves += 1;
            if saves.is_multiple_of(10) {
                bar.set_position(saves as u64);
                if enough(saves, timed + start.elapsed()) {
                    break;
                }
            }
        }
        timed += start.elapsed();
    }
    bar.finish_and_clear();
    Ok(SaveRun {
        saves,
        seconds: timed.as_secs_f64(),
    })
}

/// Saves `laps` laps in `save_laps` batches of [`BATCH_LAPS`], creating a session for every
/// [`SESSION_LAPS`] of them; times the store's calls alone, not the making of the laps.
fn ingest(
    store: &dyn RaceStore,
    laps_gen: &mut LapGenerator,
    laps: u64,
    bar: &Phase<'_>,
) -> anyhow::Result<Ingest> {
    let total = usize::try_from(laps).context("too many laps for this machine")?;
    let mut sessions: Vec<Id> = Vec::with_capacity(total.div_ceil(SESSION_LAPS));
    let mut timed = Duration::ZERO;
    let mut batch: Vec<NewLap> = Vec::with_capacity(BATCH_LAPS);
    let mut saved = 0;
    while saved < total {
        let end = (saved + BATCH_LAPS).min(total);
        let new_sessions = (saved..end).filter(|i| i.is_multiple_of(SESSION_LAPS)).count();
        let start = Instant::now();
        for _ in 0..new_sessions {
            sessions.push(store.create_session(&LapGenerator::session())?);
        }
        timed += start.elapsed();

        batch.clear();
        batch.extend((saved..end).map(|i| laps_gen.lap(sessions[i / SESSION_LAPS], i % SESSION_LAPS)));
        let start = Instant::now();
        store
            .save_laps(&batch)
            .with_context(|| format!("saving laps {} to {}", saved + 1, end))?;
        timed += start.elapsed();
        saved = end;
        bar.set_position(saved as u64);
    }
    bar.finish_and_clear();
    sessions.truncate(total / SESSION_LAPS);
    Ok(Ingest {
        laps,
        full_sessions: sessions,
        seconds: timed.as_secs_f64(),
    })
}

/// Times [`READS`] `get_session_laps` calls on sessions drawn at random from `sessions`, each of
/// which must give back its [`SESSION_LAPS`] laps.
fn session_reads(
    store: &dyn RaceStore,
    sessions: &[Id],
    rng: &mut Rng,
    bar: &Phase<'_>,
) -> anyhow::Result<Latency> {
    ensure!(!sessions.is_empty(), "no session holds {SESSION_LAPS} laps");
    let mut sorted = Vec::with_capacity(READS);
    for read in 1..=READS {
        let session = sessions[rng.below(sessions.len())];
        let start = Instant::now();
        let laps = store.get_session_laps(session)?;
        sorted.push(start.elapsed());
        ensure!(
            laps.len() == SESSION_LAPS,
            "session {session} gave back {} laps, not {SESSION_LAPS}",
            laps.len()
        );
        bar.set_position(read as u64);
    }
    bar.finish_and_clear();
    sorted.sort();
    Ok(Latency { sorted })
}

/// Times listing every session with its summary (the fastest of three calls), checking that the
/// summaries count every lap of the store.
fn list_sessions(store: &dyn RaceStore, laps: u64) -> anyhow::Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        let summaries = store.session_summaries(&racestore::SessionQuery::all())?;
        best = best.min(start.elapsed().as_secs_f64());
        let counted: u64 = summaries.iter().map(|s| s.counts.laps()).sum();
        ensure!(
            counted == laps,
            "the session summaries count {counted} laps, not the {} stored",
            thousands(laps)
        );
    }
    Ok(best)
}

/// Bytes in every file under `dir`.
fn directory_size(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            directory_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// The bench's laps, fixed by a seed: sessions of 20 cars over 50 laps, lap times of 90 to
/// 100 s made of three sectors in whole milliseconds, a standing-start first lap, one car
/// pitting per session (an `IN_LAP`, then an `OUT_LAP`), and running positions.
#[derive(Debug)]
struct LapGenerator {
    rng: Rng,
    drivers: Vec<String>,
    /// Each car's base lap time, in seconds.
    pace: Vec<f64>,
}

impl LapGenerator {
    /// How a Barber lap splits between the sectors.
    const SECTOR_SHARE: [f64; 3] = [0.295, 0.385, 0.320];

    fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let drivers = (0..CARS)
            .map(|car| format!("GR86-{:03}-{}", 4 + car * 5, 2 + car * 3))
            .collect();
        let pace = (0..CARS).map(|_| rng.range(92.0, 96.0)).collect();
        LapGenerator { rng, drivers, pace }
    }

    /// The session every bench session is: the same race, many times.
    fn session() -> NewSession {
        NewSession::new(CIRCUIT).date(DATE).race_type(RACE_TYPE)
    }

    /// The `k`th lap (from 0) of session `session`: car `k % 20` on lap `k / 20 + 1`.
    fn lap(&mut self, session: Id, k: usize) -> NewLap {
        let car = k % CARS;
        let lap_number = (k / CARS + 1) as i64;
        let pit_car = session.rem_euclid(CARS as i64) as usize;
        let lap_type = match lap_number {
            25 if car == pit_car => "IN_LAP",
            26 if car == pit_car => "OUT_LAP",
            _ => "RACE_LAP",
        };
        let mut ms: [i64; 3] = std::array::from_fn(|s| {
            let seconds = self.pace[car] * Self::SECTOR_SHARE[s] + self.rng.normal(0.0, 0.2);
            (seconds * 1000.0).round() as i64
        });
        match (lap_number, lap_type) {
            (1, _) => ms[0] += 2_500,
            (_, "IN_LAP") => ms[2] += 18_000,
            (_, "OUT_LAP") => ms[0] += 3_000,
            _ => {}
        }
        let [s1, s2, s3] = ms.map(|m| m.max(1) as f64 / 1000.0);
        NewLap::new(
            session,
            &self.drivers[car],
            lap_number,
            ms.iter().sum::<i64>() as f64 / 1000.0,
        )
        .sectors(Sectors::new(s1, s2, s3))
        .lap_type(lap_type)
        .position(((k + lap_number as usize) % CARS + 1) as i64)
    }
}

/// One backend's progress, told to the front end's [`Progress`].
struct Reporter<'a> {
    backend: &'static str,
    progress: &'a dyn Progress,
}

impl Reporter<'_> {
    /// A phase of `len` steps.
    fn bar(&self, what: &str, len: u64) -> Phase<'_> {
        self.progress.start(self.backend, what, Some(len));
        Phase {
            progress: self.progress,
        }
    }

    /// A phase that is one long call.
    fn spinner(&self, what: &str) -> Phase<'_> {
        self.progress.start(self.backend, what, None);
        Phase {
            progress: self.progress,
        }
    }
}

/// The phase under way.
struct Phase<'a> {
    progress: &'a dyn Progress,
}

impl Phase<'_> {
    fn set_position(&self, done: u64) {
        self.progress.advance(done);
    }

    fn finish_and_clear(&self) {
        self.progress.finish();
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(url: &str) -> Target {
        Target {
            backend: Backend::Postgres,
            place: Place::Server {
                url: url.to_owned(),
                run: "42_7".to_owned(),
            },
        }
    }

    #[test]
    fn file_stores_get_a_directory_each_and_the_durability_as_an_option() {
        let dir = tempfile::tempdir().unwrap();
        let json = Target {
            backend: Backend::Json,
            place: Place::Dir(dir.path().join("json")),
        };
        let url = json.store_url("single", Durability::PowerLoss).unwrap();
        let expected = dir.path().join("json/single");
        assert_eq!(url, format!("json:{}?durability=power-loss", expected.display()));
        assert!(expected.is_dir());
        let sqlite = Target {
            backend: Backend::Sqlite,
            place: Place::Dir(dir.path().join("sqlite")),
        };
        let url = sqlite.store_url("large", Durability::Process).unwrap();
        assert_eq!(
            url,
            format!("sqlite:{}", dir.path().join("sqlite/large/race.db").display())
        );
        assert_eq!(sqlite.size_on_disk("large").unwrap(), Some(0));
    }

    #[test]
    fn server_stores_get_a_schema_each_and_keep_the_other_options() {
        let target = server("postgres://u:pw@db/race?sslmode=disable&schema=mine&durability=process");
        assert_eq!(
            target
                .store_url("single-power-loss", Durability::PowerLoss)
                .unwrap(),
            "postgres://u:pw@db/race?sslmode=disable&schema=racestore_bench_42_7_single_power_loss\
             &durability=power-loss"
        );
        assert_eq!(
            server("postgres://u@db/race")
                .store_url("10k", Durability::Process)
                .unwrap(),
            "postgres://u@db/race?schema=racestore_bench_42_7_10k"
        );
        assert_eq!(target.size_on_disk("large").unwrap(), None);
    }

    #[test]
    fn passwords_never_reach_the_report() {
        let target = server("postgres://u:pw@db/race");
        assert_eq!(
            target.shown("postgres://u:s3cret@db:5432/race?schema=s"),
            "postgres://u:***@db:5432/race?schema=s"
        );
        assert_eq!(
            target.shown("postgres://u@db/race?password=s3cret&sslmode=disable"),
            "postgres://u@db/race?password=***&sslmode=disable"
        );
        let target = server("postgres://u:s3cret@db/race");
        assert_eq!(
            target.scrub("unsupported store URL \"postgres://u:s3cret@db/race?schema=x\""),
            "unsupported store URL \"postgres://u:***@db/race?schema=x\""
        );
        assert_eq!(password_of("postgres://u@db/race?password=pw&x=1"), Some("pw"));
        assert_eq!(password_of("postgres://u@db/race"), None);
    }

    #[test]
    fn generated_laps_look_like_a_race_and_are_the_same_for_every_backend() {
        let mut a = LapGenerator::new(SEED);
        let mut b = LapGenerator::new(SEED);
        let laps: Vec<NewLap> = (0..SESSION_LAPS).map(|k| a.lap(3, k)).collect();
        let again: Vec<NewLap> = (0..SESSION_LAPS).map(|k| b.lap(3, k)).collect();
        assert_eq!(laps, again);
        for lap in &laps {
            lap.validate(1, "2025-09-06").unwrap();
            let sectors = [lap.sectors.s1, lap.sectors.s2, lap.sectors.s3].map(Option::unwrap);
            assert!(
                (sectors.iter().sum::<f64>() - lap.lap_time).abs() < 1e-9,
                "{lap:?}"
            );
            if lap.lap_type == "RACE_LAP" && lap.lap_number > 1 {
                assert!((88.0..102.0).contains(&lap.lap_time), "{lap:?}");
            }
        }
        let count = |t: &str| laps.iter().filter(|l| l.lap_type == t).count();
        assert_eq!((count("IN_LAP"), count("OUT_LAP")), (1, 1));
        let drivers: std::collections::BTreeSet<&str> = laps.iter().map(|l| l.driver_id.as_str()).collect();
        assert_eq!(drivers.len(), CARS);
        assert_eq!(laps.last().unwrap().lap_number, (SESSION_LAPS / CARS) as i64);
    }

    fn options(dir: &Path) -> Options {
        Options {
            laps: MIN_LAPS,
            backends: vec![Backend::Json, Backend::Sqlite],
            postgres: None,
            dir: Some(dir.to_path_buf()),
            keep: false,
            probe: vec!["racestore".into(), "bench-probe".into()],
        }
    }

    #[test]
    fn a_bench_is_prepared_only_from_options_it_can_run() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("made/for/it");
        let bench = Bench::prepare(Options {
            backends: vec![Backend::Sqlite, Backend::Json, Backend::Sqlite],
            postgres: Some("postgres://u@db/race".into()),
            ..options(&dir)
        })
        .unwrap();
        assert_eq!(
            bench.backends(),
            [Backend::Sqlite, Backend::Json, Backend::Postgres],
            "in the order given, each once, PostgreSQL added for its URL"
        );
        assert!(bench.dir().starts_with(&dir) && bench.dir().is_dir());

        let refused = |options: Options, says: &str| {
            let err = Bench::prepare(options).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        };
        refused(
            Options {
                laps: MIN_LAPS - 1,
                ..options(&dir)
            },
            "at least 10,000 laps, not 9,999",
        );
        refused(
            Options {
                backends: vec![Backend::Postgres],
                ..options(&dir)
            },
            "the URL of the database",
        );
        refused(
            Options {
                probe: Vec::new(),
                ..options(&dir)
            },
            "no program to open a store",
        );
        assert_eq!("sqlite".parse::<Backend>(), Ok(Backend::Sqlite));
        assert_eq!(
            "mongo".parse::<Backend>(),
            Err("unknown backend \"mongo\": choose from json, sqlite, postgres".to_owned())
        );
    }

    #[test]
    fn the_open_probe_reports_the_laps_of_the_store_it_opened() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("json:{}", dir.path().display());
        let store = racestore::open(&url).unwrap();
        let mut laps = LapGenerator::new(SEED);
        let session = store.create_session(&LapGenerator::session()).unwrap();
        store
            .save_laps(&(0..30).map(|k| laps.lap(session, k)).collect::<Vec<_>>())
            .unwrap();
        store.close().unwrap();
        drop(store);

        let report = open_probe(&url).unwrap();
        assert_eq!(report["laps"], 30);
        assert!(report["seconds"].as_f64().is_some_and(|s| s >= 0.0), "{report}");

        // A probe process that fails is named in the error.
        let err = Prober {
            command: &["false".into()],
        }
        .open(&url)
        .unwrap_err();
        assert!(format!("{err:#}").starts_with("false open failed"), "{err:#}");
    }

    /// Runs the probe `args` in this process with `input`; the lines it printed, as JSON.
    fn probe_lines(args: &[&str], url: &str, input: &str) -> Vec<Value> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let mut output = Vec::new();
        run_probe(&args, url, &mut input.as_bytes(), &mut output).unwrap();
        String::from_utf8(output)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn the_read_files_probe_reads_every_file_it_is_given_once() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
        std::fs::write(&a, [b'x'; 1000]).unwrap();
        std::fs::write(&b, "[]").unwrap();
        let lines = probe_lines(&["read-files", a.to_str().unwrap(), b.to_str().unwrap()], "", "");
        assert_eq!(lines.len(), 1);
        assert_eq!(
            (&lines[0]["files"], &lines[0]["bytes"]),
            (&json!(2), &json!(1002))
        );
        assert!(lines[0]["seconds"].as_f64().is_some_and(|s| s >= 0.0));

        let args = [
            "read-files".to_owned(),
            dir.path().join("gone.json").display().to_string(),
        ];
        let err = run_probe(&args, "", &mut "".as_bytes(), &mut Vec::new()).unwrap_err();
        assert!(format!("{err:#}").contains("gone.json"), "{err:#}");
        let err = run_probe(&["reopen".to_owned()], "", &mut "".as_bytes(), &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("unknown probe"), "{err}");
    }

    #[test]
    fn the_single_saves_probe_saves_only_when_told_to_go_and_says_how_many() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("json:{}", dir.path().display());
        let laps = |url: &str| {
            let store = racestore::open(url).unwrap();
            let laps = store.counts().unwrap().laps();
            store.close().unwrap();
            laps
        };
        // Input closed instead of the signal: warmed up, then stopped without timing a save.
        let lines = probe_lines(&["single-saves", "7", "20"], &url, "");
        assert_eq!(lines, [json!({"ready": true})]);
        assert_eq!(laps(&url), WARMUP_SAVES as u64);

        let lines = probe_lines(&["single-saves", "7", "20"], &url, "go\n");
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0], json!({"ready": true}));
        let saves = lines[1]["saves"].as_u64().unwrap();
        assert!(
            saves > 0 && lines[1]["seconds"].as_f64().is_some_and(|s| s > 0.0),
            "{lines:?}"
        );
        assert_eq!(laps(&url), 2 * WARMUP_SAVES as u64 + saves);
    }

    #[test]
    fn the_cache_files_are_the_racestore_index_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "lap_data.json",
            "racestore.lock",
            "racestore.index",
            "racestore.index.sessions",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("racestore.index.d")).unwrap();
        assert_eq!(
            cache_files(dir.path()).unwrap(),
            [
                dir.path().join("racestore.index"),
                dir.path().join("racestore.index.sessions")
            ]
        );
    }

    #[test]
    fn opens_count_the_median_time_and_the_highest_peak() {
        let run = |seconds, peak| OpenCost {
            seconds,
            rss_before: Some(4),
            peak_rss: peak,
        };
        let opens = Opens {
            runs: vec![run(0.9, Some(10)), run(0.1, Some(30)), run(0.5, Some(20))],
        };
        assert_eq!(
            (opens.seconds(), opens.peak_rss(), opens.rss_before()),
            (0.5, Some(30), Some(4))
        );
        let unmeasured = Opens {
            runs: vec![run(0.2, Some(10)), run(0.4, None)],
        };
        assert!(
            (unmeasured.seconds() - 0.3).abs() < 1e-12,
            "the mean of the middle two"
        );
        assert_eq!(unmeasured.peak_rss(), None);
        assert!(median([]).is_nan());
    }

    #[test]
    fn a_probe_costs_what_its_fastest_round_cost() {
        let round = |seconds| SaveRun {
            saves: 1_000,
            seconds,
        };
        let probe = Probe {
            rounds: vec![round(0.004), round(0.002), round(0.009)],
        };
        assert!((probe.micros_per_save() - 2.0).abs() < 1e-9);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let latency = Latency {
            sorted: (1..=200).map(Duration::from_millis).collect(),
        };
        assert_eq!(latency.percentile_ms(50.0), 100.0);
        assert_eq!(latency.percentile_ms(99.0), 198.0);
        assert_eq!(latency.percentile_ms(100.0), 200.0);
    }

    #[test]
    fn proc_fields_and_counts_read_as_people_write_them() {
        assert_eq!(
            kilobytes_field("VmPeak:\t  100 kB\nVmHWM:\t    2048 kB\n", "VmHWM"),
            Some(2048 * 1024)
        );
        assert_eq!(kilobytes_field("VmHWMx: 1 kB", "VmHWM"), None);
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}

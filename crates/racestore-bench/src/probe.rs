//! The measures taken in fresh processes (probes): opening a store, reading a store's files once,
//! and single saves from several processes into one store at once.
//!
//! The bench runs [`Options::probe`](crate::Options::probe) (`racestore bench-probe`) followed by
//! a probe's arguments, with the store's URL in [`racestore::URL_ENV`]; that process calls
//! [`run_probe`], which prints each of its results as one line of JSON. A process of its own, so
//! that what the bench itself allocated before (and the allocator kept) counts neither in the
//! peak nor against the store's memory, and so that several processes share a store as a team's
//! server, importer and notebook would.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use racestore::RaceStore;
use serde_json::{json, Value};

use super::{single_saves_after_warm_up, warm_up, LapGenerator, NoProgress, Phase, SaveLoop, SaveRun};

/// The probe's first argument: opening a store ([`open_probe`]).
const OPEN: &str = "open";
/// The probe's first argument: reading files once, each with `std::fs::read`.
const READ_FILES: &str = "read-files";
/// The probe's first argument: single saves that start when told to.
const SINGLE_SAVES: &str = "single-saves";

/// Runs the probe `args` name (what the bench appended to [`Options::probe`](crate::Options::probe))
/// on the store `url`, reading the bench's signals from `input` and writing its results, one
/// JSON object a line, to `output`:
///
/// - `open`: [`open_probe`]'s object;
/// - `read-files FILE...`: each file read once with `std::fs::read`: `seconds` (all of them),
///   `bytes`, `files`;
/// - `single-saves SEED MILLIS`: opens the store and makes the untimed warm-up saves, then prints
///   `{"ready":true}` and waits for a line on `input`; then saves laps one `save_lap_data` call at
///   a time (laps drawn from seed `SEED`) for `MILLIS` ms and prints `saves` and `seconds`. A
///   store that refuses this process because another holds it prints `{"locked":MESSAGE}`
///   instead of being ready; `input` closed instead of the signal stops it without saving.
pub fn run_probe(
    args: &[String],
    url: &str,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> anyhow::Result<()> {
    let usage = "a probe is: open | read-files FILE... | single-saves SEED MILLIS";
    match args {
        [kind] if kind == OPEN => {
            writeln!(output, "{}", open_probe(url)?)?;
        }
        [kind, files @ ..] if kind == READ_FILES => {
            writeln!(output, "{}", read_files_probe(files)?)?;
        }
        [kind, seed, millis] if kind == SINGLE_SAVES => {
            let seed: u64 = seed
                .parse()
                .with_context(|| format!("{seed:?} is not a seed; {usage}"))?;
            let millis: u64 = millis
                .parse()
                .with_context(|| format!("{millis:?} is not a number of milliseconds; {usage}"))?;
            single_saves_probe(url, seed, Duration::from_millis(millis), input, output)?;
        }
        _ => bail!("unknown probe {args:?}: {usage}"),
    }
    output.flush()?;
    Ok(())
}

/// The open probe: opens the store `url` names and returns the seconds [`racestore::open`] took
/// (`seconds`), the process's resident memory before (`rss_before_bytes`), its peak while opening
/// (`peak_rss_bytes`), and the laps the store holds (`laps`).
pub fn open_probe(url: &str) -> anyhow::Result<Value> {
    let (store, cost) = timed_open(url).with_context(|| format!("opening {}", racestore::redact_url(url)))?;
    let laps = store.counts()?.laps();
    store.close()?;
    Ok(json!({
        "seconds": cost.seconds,
        "rss_before_bytes": cost.rss_before,
        "peak_rss_bytes": cost.peak_rss,
        "laps": laps,
    }))
}

/// Reads each file once, whole, as the JSON directory's open would at the least.
fn read_files_probe(files: &[String]) -> anyhow::Result<Value> {
    let start = Instant::now();
    let mut bytes = 0;
    for file in files {
        bytes += std::fs::read(file)
            .with_context(|| format!("reading {file}"))?
            .len() as u64;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(json!({ "seconds": seconds, "bytes": bytes, "files": files.len() }))
}

/// The single-saves probe: see [`run_probe`].
fn single_saves_probe(
    url: &str,
    seed: u64,
    duration: Duration,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> anyhow::Result<()> {
    let shown = racestore::redact_url(url);
    let store = match racestore::open(url) {
        Ok(store) => store,
        Err(err @ racestore::Error::Locked { .. }) => {
            writeln!(output, "{}", json!({ "locked": err.to_string() }))?;
            return Ok(());
        }
        Err(err) => return Err(err).with_context(|| format!("opening {shown}")),
    };
    let mut laps_gen = LapGenerator::new(seed);
    warm_up(store.as_ref(), &mut laps_gen).with_context(|| format!("warm-up saves in {shown}"))?;
    writeln!(output, "{}", json!({ "ready": true }))?;
    output.flush()?;
    let mut signal = String::new();
    if input.read_line(&mut signal)? == 0 {
        // The bench gave up on this measure: nothing to time.
        return Ok(store.close()?);
    }
    let plan = SaveLoop {
        saves: 0,
        min_time: duration,
    };
    let bar = Phase {
        progress: &NoProgress,
    };
    let run = single_saves_after_warm_up(store.as_ref(), &mut laps_gen, plan, &bar)
        .with_context(|| format!("single saves in {shown}"))?;
    store
        .close()
        .with_context(|| format!("closing {shown}: the last writes may not have reached the disk"))?;
    writeln!(
        output,
        "{}",
        json!({ "saves": run.saves, "seconds": run.seconds })
    )?;
    Ok(())
}

/// Reopening a store, in one fresh process.
#[derive(Debug, Clone, Copy)]
pub struct OpenCost {
    /// Seconds [`racestore::open`] took.
    pub seconds: f64,
    /// The process's resident memory just before the open, in bytes.
    pub rss_before: Option<u64>,
    /// The process's peak resident memory from just before the open to just after, in bytes;
    /// `None` where the peak cannot be reset (`/proc/self/clear_refs` not writable).
    pub peak_rss: Option<u64>,
}

/// Opens `url`, timing [`racestore::open`] and recording the process's peak memory meanwhile.
///
/// The peak is reset by writing `5` to `/proc/self/clear_refs` just before the open and read
/// (`VmHWM` in `/proc/self/status`) just after: it is the process's peak resident memory while
/// opening, which includes what the process held before (`rss_before`).
fn timed_open(url: &str) -> racestore::Result<(Box<dyn RaceStore>, OpenCost)> {
    let rss_before = proc_status_bytes("VmRSS");
    let peak_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let start = Instant::now();
    let store = racestore::open(url)?;
    let seconds = start.elapsed().as_secs_f64();
    let peak_rss = if peak_reset {
        proc_status_bytes("VmHWM")
    } else {
        None
    };
    Ok((
        store,
        OpenCost {
            seconds,
            rss_before,
            peak_rss,
        },
    ))
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    kilobytes_field(&status, field)
}

/// `FIELD:   1234 kB` in a `/proc` file, in bytes.
pub(crate) fn kilobytes_field(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
        Some(kb * 1024)
    })
}

/// Single saves from several processes into one store at once.
#[derive(Debug, Clone)]
pub enum ConcurrentSaves {
    /// Each process's loop of single saves, all started together.
    Measured(Vec<SaveRun>),
    /// The store refused a process because another held it: the error that process got.
    Locked(String),
}

impl ConcurrentSaves {
    /// Saves per second of all the processes together (the sum of each one's rate), or `None`
    /// when the store refused a process.
    pub fn per_second(&self) -> Option<f64> {
        match self {
            ConcurrentSaves::Measured(runs) => Some(runs.iter().map(|r| r.per_second()).sum()),
            ConcurrentSaves::Locked(_) => None,
        }
    }
}

/// The files read once: the baseline a JSON directory's open is compared with.
#[derive(Debug, Clone)]
pub struct ReadFiles {
    /// Files read each time.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Seconds each fresh process took to read them all.
    pub runs: Vec<f64>,
}

impl ReadFiles {
    /// The median of [`runs`](Self::runs), in seconds.
    pub fn seconds(&self) -> f64 {
        median(self.runs.iter().copied())
    }
}

/// The median of `values` (the mean of the middle two for an even count); NaN for none.
pub(crate) fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut sorted: Vec<f64> = values.into_iter().collect();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => f64::midpoint(sorted[n / 2 - 1], sorted[n / 2]),
    }
}

/// The program that runs probes in fresh processes ([`Options::probe`](crate::Options::probe)).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prober<'a> {
    pub(crate) command: &'a [OsString],
}

/// A probe process the bench talks to while it runs.
struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Prober<'_> {
    /// The probe `args` as a command, with `url` in [`racestore::URL_ENV`].
    fn command(&self, url: &str, args: &[String]) -> anyhow::Result<Command> {
        let (program, fixed) = self
            .command
            .split_first()
            .context("no program to run the bench's probes with")?;
        let mut command = Command::new(program);
        command.args(fixed).args(args).env(racestore::URL_ENV, url);
        Ok(command)
    }

    /// The program and the probe's first argument, as an error message names them.
    fn shown(&self, args: &[String]) -> String {
        self.command
            .iter()
            .map(|part| part.to_string_lossy().into_owned())
            .chain(args.first().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs the probe `args` to its end and reads the one JSON object it prints.
    fn run(&self, url: &str, args: &[String]) -> anyhow::Result<Value> {
        let shown = self.shown(args);
        let output = self
            .command(url, args)?
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {shown}"))?;
        ensure!(
            output.status.success(),
            "{shown} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
        serde_json::from_slice(&output.stdout).with_context(|| format!("reading the report of {shown}"))
    }

    /// Opens the store `url` in a fresh process: what that cost, and the laps the store holds.
    pub(crate) fn open(&self, url: &str) -> anyhow::Result<(OpenCost, u64)> {
        let args = [OPEN.to_owned()];
        let shown = self.shown(&args);
        let report = self.run(url, &args)?;
        let bytes = |key: &str| report[key].as_u64();
        let cost = OpenCost {
            seconds: report["seconds"]
                .as_f64()
                .with_context(|| format!("{shown} reported no seconds"))?,
            rss_before: bytes("rss_before_bytes"),
            peak_rss: bytes("peak_rss_bytes"),
        };
        Ok((
            cost,
            bytes("laps").with_context(|| format!("{shown} reported no laps"))?,
        ))
    }

    /// Reads `files` once in a fresh process: the seconds that took, and their bytes.
    pub(crate) fn read_files(&self, files: &[PathBuf]) -> anyhow::Result<(f64, u64)> {
        let args: Vec<String> = std::iter::once(READ_FILES.to_owned())
            .chain(files.iter().map(|f| f.display().to_string()))
            .collect();
        let shown = self.shown(&args);
        let report = self.run("", &args)?;
        Ok((
            report["seconds"]
                .as_f64()
                .with_context(|| format!("{shown} reported no seconds"))?,
            report["bytes"]
                .as_u64()
                .with_context(|| format!("{shown} reported no bytes"))?,
        ))
    }

    /// Single saves for `duration` from `processes` fresh processes into the store `url`, all
    /// started together once each has opened the store and made its warm-up saves.
    pub(crate) fn concurrent_saves(
        &self,
        url: &str,
        processes: u64,
        seed: u64,
        duration: Duration,
    ) -> anyhow::Result<ConcurrentSaves> {
        let mut running = Vec::new();
        for process in 0..processes {
            let args = [
                SINGLE_SAVES.to_owned(),
                (seed + process).to_string(),
                duration.as_millis().to_string(),
            ];
            let mut child = self
                .command(url, &args)?
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .with_context(|| format!("running {}", self.shown(&args)))?;
            let stdin = child.stdin.take();
            let stdout = BufReader::new(child.stdout.take().context("the probe's output")?);
            running.push(Running { child, stdin, stdout });
        }
        // Each is ready or refused; one that failed stops the measure (and the others see their
        // input closed, and stop).
        let mut locked = None;
        let mut ready = Vec::new();
        for mut probe in running {
            let Some(line) = probe.line()? else {
                return Err(probe.stopped());
            };
            match (line["ready"].as_bool(), line["locked"].as_str()) {
                (Some(true), _) => ready.push(probe),
                (_, Some(message)) => {
                    locked = Some(message.to_owned());
                    probe.end()?;
                }
                _ => bail!("the single-saves probe said {line}, not that it was ready"),
            }
        }
        if let Some(message) = locked {
            for probe in ready {
                probe.end()?;
            }
            return Ok(ConcurrentSaves::Locked(message));
        }
        for probe in &mut ready {
            let stdin = probe.stdin.as_mut().context("the probe's input")?;
            writeln!(stdin, "go")?;
            stdin.flush()?;
        }
        let mut runs = Vec::new();
        for mut probe in ready {
            let Some(line) = probe.line()? else {
                return Err(probe.stopped());
            };
            let said = |what: &str| format!("the single-saves probe said {line}, not its {what}");
            runs.push(SaveRun {
                saves: line["saves"]
                    .as_u64()
                    .and_then(|s| usize::try_from(s).ok())
                    .with_context(|| said("saves"))?,
                seconds: line["seconds"].as_f64().with_context(|| said("seconds"))?,
            });
            probe.end()?;
        }
        Ok(ConcurrentSaves::Measured(runs))
    }
}

impl Running {
    /// The probe's next line of JSON; `None` when it stopped instead.
    fn line(&mut self) -> anyhow::Result<Option<Value>> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let value =
            serde_json::from_str(&line).with_context(|| format!("reading the probe's line {line:?}"))?;
        Ok(Some(value))
    }

    /// Why the probe stopped before saying what it was asked: its exit status and error output.
    fn stopped(self) -> anyhow::Error {
        match self.end() {
            Ok(()) => anyhow::anyhow!("the single-saves probe stopped without a word"),
            Err(err) => err,
        }
    }

    /// Closes the probe's input and waits for it to exit, which it must do successfully.
    fn end(mut self) -> anyhow::Result<()> {
        self.stdin.take();
        let output = self.child.wait_with_output()?;
        ensure!(
            output.status.success(),
            "the single-saves probe failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(())
    }
}

/// The store's on-disk cache files in `dir`: files named `racestore.index*`, which a JSON
/// directory may keep to open faster and rebuilds when they are gone (none today). Sorted.
pub(crate) fn cache_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(CACHE_FILE_PREFIX) && entry.file_type()?.is_file()
        {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

/// How the names of a JSON directory's cache files begin.
pub const CACHE_FILE_PREFIX: &str = "racestore.index";

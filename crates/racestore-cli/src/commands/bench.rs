//! `racestore bench`: runs the benchmark of the `racestore-bench` crate and prints its report, as
//! a table with one column per backend and the ratios between them, or as one JSON object.

use std::cell::RefCell;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use racestore_bench::{
    thousands, Backend, Bench, ConcurrentSaves, Measures, Options, Report, BASE_LAPS, BATCH_LAPS,
    CACHE_FILE_PREFIX, CONCURRENT_PROCESSES, CONCURRENT_SAVES_TIME, MIN_LAPS, OPEN_RUNS, POWER_LOSS_LOOP,
    PROBE_LOOP, PROBE_ROUNDS, READS, SAVE_BUDGET, SESSION_LAPS, THROUGHPUT_LOOP, WARMUP_SAVES,
};

use crate::table::{Align, Table};

/// Options of `racestore bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Laps in the large store (10,000 or more): batch ingest, cost per save at N, reads, open
    /// time, memory and size are measured on it
    #[arg(
        long,
        value_name = "N",
        default_value_t = 100_000,
        value_parser = clap::value_parser!(u64).range(MIN_LAPS..=100_000_000)
    )]
    laps: u64,

    /// Backends to measure, comma-separated, in column order: json, sqlite, postgres
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "json,sqlite",
        value_parser = PossibleValuesParser::new(Backend::ALL.map(Backend::name))
            .map(|name| name.parse::<Backend>().expect("a listed backend"))
    )]
    backends: Vec<Backend>,

    /// Measure PostgreSQL too, in this database: postgres://USER[:PASSWORD]@HOST[:PORT]/DB
    ///
    /// Each phase runs in a schema of its own (racestore_bench_*), emptied afterwards unless
    /// --keep is given.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,

    /// Create the bench's temporary directory in DIR (created if missing) instead of the
    /// system's temporary directory; the filesystem measured is DIR's
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,

    /// Print everything as one JSON object instead of tables
    #[arg(long)]
    json: bool,

    /// Keep the stores after the run (their directory is printed) instead of removing them
    #[arg(long)]
    keep: bool,
}

/// Runs `racestore bench`. The global `--store` plays no part: the bench makes its own stores.
pub(crate) fn run(args: &BenchArgs) -> anyhow::Result<()> {
    if args.backends.contains(&Backend::Postgres) && args.postgres.is_none() {
        bail!("--backends postgres needs --postgres URL: the database to measure");
    }
    let exe = std::env::current_exe().context("finding the racestore executable")?;
    let bench = Bench::prepare(Options {
        laps: args.laps,
        backends: args.backends.clone(),
        postgres: args.postgres.clone(),
        dir: args.dir.clone(),
        keep: args.keep,
        probe: vec![exe.into_os_string(), "bench-probe".into()],
    })?;
    // Told once, on stderr, so that a long run does not look stuck before its first bar.
    if !args.json {
        eprintln!(
            "measuring {} with {} laps in {}",
            bench
                .backends()
                .iter()
                .map(|b| b.name())
                .collect::<Vec<_>>()
                .join(", "),
            thousands(args.laps),
            bench.dir().display()
        );
    }
    let report = bench.run(&Bars::default())?;

    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report.to_json())?)?;
    } else {
        write_text(&report, &mut out)?;
    }
    out.flush()?;

    let failed = report.failed();
    if !failed.is_empty() {
        bail!(
            "{} of {} backends could not be measured: {} (the reason is in the report above)",
            failed.len(),
            report.outcomes.len(),
            failed.iter().map(|b| b.name()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// Options of the hidden `racestore bench-probe`.
#[derive(Debug, Args)]
pub(crate) struct ProbeArgs {
    /// The probe and its arguments, as the bench gives them
    #[arg(required = true)]
    args: Vec<String>,
}

/// Runs the hidden `racestore bench-probe` (the bench's measures in a fresh process, see
/// `racestore_bench::run_probe`) on the store `url`, talking to the bench on stdin and stdout.
pub(crate) fn run_probe(url: &str, args: &ProbeArgs) -> anyhow::Result<()> {
    racestore_bench::run_probe(
        &args.args,
        url,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
    )
}

/// Progress bars on stderr for the bench's phases; they draw nothing when stderr is not a
/// terminal (indicatif's stderr target hides itself then).
#[derive(Debug, Default)]
struct Bars {
    current: RefCell<Option<ProgressBar>>,
}

impl racestore_bench::Progress for Bars {
    fn start(&self, backend: &str, phase: &str, total: Option<u64>) {
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        let template = match total {
            Some(_) => "{prefix:>8} {msg:36} [{bar:30}] {human_pos}/{human_len} {elapsed}",
            None => "{prefix:>8} {spinner} {msg} {elapsed}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(backend.to_owned());
        bar.set_message(phase.to_owned());
        if total.is_none() && !bar.is_hidden() {
            bar.enable_steady_tick(Duration::from_millis(100));
        }
        if let Some(previous) = self.current.replace(Some(bar)) {
            previous.finish_and_clear();
        }
    }

    fn advance(&self, done: u64) {
        if let Some(bar) = &*self.current.borrow() {
            bar.set_position(done);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.current.take() {
            bar.finish_and_clear();
        }
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// How a table row shows one backend's measure.
type Cell = Box<dyn Fn(&Measures) -> String>;

/// The report as text: the machine, a table with one column per backend, the ratios between
/// backends, the growth ratios, and how each measure was taken.
fn write_text(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    let n = thousands(report.laps);
    let base = thousands(BASE_LAPS);
    writeln!(
        out,
        "racestore bench: {n} laps in the large store, ingested in batches of {} laps in sessions of {}",
        thousands(BATCH_LAPS as u64),
        thousands(SESSION_LAPS as u64)
    )?;
    writeln!(out, "{}", report.machine.line())?;
    writeln!(out)?;

    let mut columns = vec![("MEASURE", Align::Left)];
    columns.extend(report.outcomes.iter().map(|o| (o.backend.name(), Align::Right)));
    let mut table = Table::new(&columns);
    let measured = || report.measured().map(|(_, m)| m);
    let mut rows: Vec<(String, Cell)> = vec![
        (
            "single saves/s, durability=process".into(),
            Box::new(|m| thousands(m.single_process.per_second().round() as u64)),
        ),
        (
            "single saves/s, durability=power-loss".into(),
            Box::new(|m| thousands(m.single_power_loss.per_second().round() as u64)),
        ),
        (
            format!("single saves/s, {CONCURRENT_PROCESSES} processes at once"),
            Box::new(|m| match &m.concurrent {
                ConcurrentSaves::Measured(_) => {
                    thousands(m.concurrent.per_second().unwrap_or_default().round() as u64)
                }
                ConcurrentSaves::Locked(_) => "n/a (locked)".to_owned(),
            }),
        ),
        (
            format!("batch ingest of {n} laps (s)"),
            Box::new(|m| format!("{:.3}", m.ingest.seconds)),
        ),
        (
            "batch ingest (laps/s)".into(),
            Box::new(|m| thousands(m.ingest.laps_per_second().round() as u64)),
        ),
        (
            format!("µs per single save at {base} laps"),
            Box::new(|m| format!("{:.1}", m.at_base.micros_per_save())),
        ),
        (
            format!("µs per single save at {n} laps"),
            Box::new(|m| format!("{:.1}", m.at_n.micros_per_save())),
        ),
        (
            format!("growth (at {n} / at {base})"),
            Box::new(|m| format!("{:.2}x", m.growth())),
        ),
        (
            "get_session_laps median (ms)".into(),
            Box::new(|m| format!("{:.3}", m.reads.percentile_ms(50.0))),
        ),
        (
            "get_session_laps p99 (ms)".into(),
            Box::new(|m| format!("{:.3}", m.reads.percentile_ms(99.0))),
        ),
        (
            format!("list the sessions of the {n}-lap store (ms)"),
            Box::new(|m| format!("{:.1}", m.list_sessions * 1000.0)),
        ),
        (
            format!("open the {n}-lap store (ms, median of {OPEN_RUNS})"),
            Box::new(|m| format!("{:.1}", m.open.seconds() * 1e3)),
        ),
    ];
    if measured().any(|m| m.open_cache_deleted.is_some()) {
        rows.push((
            format!("open, {CACHE_FILE_PREFIX}* deleted first (ms, median)"),
            Box::new(|m| {
                m.open_cache_deleted
                    .as_ref()
                    .map_or_else(|| "n/a".to_owned(), |o| format!("{:.1}", o.seconds() * 1e3))
            }),
        ));
    }
    if measured().any(|m| m.read_files.is_some()) {
        rows.push((
            format!("read its data files once (ms, median of {OPEN_RUNS})"),
            Box::new(|m| {
                m.read_files
                    .as_ref()
                    .map_or_else(|| "n/a".to_owned(), |r| format!("{:.1}", r.seconds() * 1e3))
            }),
        ));
    }
    rows.extend::<[(String, Cell); 3]>([
        (
            "memory before open (MiB, median)".into(),
            Box::new(|m| mib(m.open.rss_before())),
        ),
        (
            format!("peak memory while opening (MiB, max of {OPEN_RUNS})"),
            Box::new(|m| mib(m.open.peak_rss())),
        ),
        ("size on disk (MiB)".into(), Box::new(|m| mib(m.size))),
    ]);
    if measured().any(|m| m.open_cache_deleted.is_some()) {
        rows.insert(
            rows.len() - 1,
            (
                format!("peak memory, {CACHE_FILE_PREFIX}* deleted first (MiB, max)"),
                Box::new(|m| {
                    m.open_cache_deleted
                        .as_ref()
                        .map_or_else(|| "n/a".to_owned(), |o| mib(o.peak_rss()))
                }),
            ),
        );
    }
    for (label, cell) in &rows {
        let mut cells = vec![label.clone()];
        cells.extend(report.outcomes.iter().map(|o| match &o.result {
            Ok(m) => cell(m),
            Err(_) => "-".to_owned(),
        }));
        table.row(cells);
    }
    table.write(out)?;

    for o in &report.outcomes {
        if let Err(error) = &o.result {
            writeln!(out)?;
            writeln!(out, "{}: not measured: {error}", o.backend.name())?;
        }
    }

    let mut pair = None;
    for r in &report.ratios() {
        if pair != Some((r.backend, r.versus)) {
            pair = Some((r.backend, r.versus));
            writeln!(out)?;
            writeln!(out, "{} vs {}, measured in this run:", r.backend, r.versus)?;
        }
        writeln!(
            out,
            "  {} {} = {}x {}'s ({} is better)",
            r.backend,
            r.label,
            ratio(r.ratio),
            r.versus,
            if r.higher_is_better { "higher" } else { "lower" }
        )?;
    }

    for (name, m) in report.measured() {
        let (Some(read), Some(open_over_read)) = (&m.read_files, m.open_over_read_files()) else {
            continue;
        };
        writeln!(out)?;
        writeln!(out, "{name} vs reading its own files, measured in this run:")?;
        let deleted = if m.open_cache_deleted.is_some() {
            format!(" (with {CACHE_FILE_PREFIX}* deleted first)")
        } else {
            String::new()
        };
        writeln!(
            out,
            "  {name} open time{deleted} = {}x reading its {} data files ({:.1} MiB) once (lower is better)",
            ratio(open_over_read),
            read.files,
            read.bytes as f64 / MIB
        )?;
    }

    let growth: Vec<String> = report
        .measured()
        .map(|(name, m)| format!("{name} {:.2}x", m.growth()))
        .collect();
    if !growth.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "growth ratio (µs per single save at {n} laps / at {base} laps): {}",
            growth.join(", ")
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "single saves: at least {} and {} ms at durability=process, {} and {} ms at power-loss;",
        thousands(THROUGHPUT_LOOP.saves as u64),
        THROUGHPUT_LOOP.min_time.as_millis(),
        POWER_LOSS_LOOP.saves,
        POWER_LOSS_LOOP.min_time.as_millis(),
    )?;
    writeln!(
        out,
        "  at {base} and at {n} laps, the fastest of {PROBE_ROUNDS} rounds of {}; each loop after {WARMUP_SAVES} \
         untimed",
        thousands(PROBE_LOOP.saves as u64),
    )?;
    writeln!(
        out,
        "  saves and stopped at {} s. get_session_laps: {READS} reads of random {}-lap sessions.",
        SAVE_BUDGET.as_secs(),
        thousands(SESSION_LAPS as u64),
    )?;
    writeln!(
        out,
        "{CONCURRENT_PROCESSES} processes at once: fresh racestore processes saving into one store for {} s each,",
        CONCURRENT_SAVES_TIME.as_secs_f64()
    )?;
    writeln!(
        out,
        "  started together after their warm-up saves; their saves per second added up."
    )?;
    writeln!(
        out,
        "open: the median of {OPEN_RUNS} fresh racestore processes, page cache warm; memory: their resident"
    )?;
    writeln!(
        out,
        "  memory (VmRSS) before the open (median), and the highest of their peaks (VmHWM, reset through"
    )?;
    writeln!(
        out,
        "  /proc/self/clear_refs) until just after. Data files read once: std::fs::read of each collection"
    )?;
    writeln!(
        out,
        "  file of the JSON directory in a fresh process, in the same rounds as the opens."
    )?;
    for o in &report.outcomes {
        for note in o.result.iter().flat_map(|m| &m.notes) {
            writeln!(out, "{}: {note}", o.backend.name())?;
        }
    }
    if let Some(dir) = &report.kept {
        writeln!(
            out,
            "stores kept in {}: BACKEND/large is the {n}-lap store, with the laps of the single \
             saves timed at {n} laps saved after it was measured",
            dir.display(),
        )?;
    }
    Ok(())
}

/// Bytes as MiB with one decimal, or `n/a`.
fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "n/a".to_owned(), |b| format!("{:.1}", b as f64 / MIB))
}

/// A ratio with two decimals, or two significant digits below 0.1 (`0.0035`), so that one far
/// below the other does not read as `0.00`.
fn ratio(r: f64) -> String {
    if r >= 0.1 || r <= 0.0 {
        format!("{r:.2}")
    } else {
        let decimals = (1 - r.log10().floor() as i64) as usize;
        format!("{r:.decimals$}")
    }
}

#[cfg(test)]
mod tests {
    use super::ratio;

    #[test]
    fn small_ratios_keep_two_significant_digits() {
        assert_eq!(ratio(5212.3), "5212.30");
        assert_eq!(ratio(0.37), "0.37");
        assert_eq!(ratio(0.1), "0.10");
        assert_eq!(ratio(0.0035), "0.0035");
        assert_eq!(ratio(0.04), "0.040");
        assert_eq!(ratio(0.000_123_4), "0.00012");
    }
}

//! Import benchmark at Formula 1's full-history scale: `scripts/bench-import`.
//!
//! Makes Ergast tables the size of the whole database from the 2020–2024 tables in
//! `../shared/data/ergast-f1-2020-2024`: five copies of every race with its lap times, pit stops
//! and results, each copy five seasons earlier under new race ids (582,885 laps in 535 races,
//! as the real history has about 590,000 laps since 1996), and six more copies of the races
//! alone, without lap times (1,177 races in all, as 1950–2024 has about 1,125). Then, in the same
//! run, per JSON store (the default) and SQLite file:
//!
//! - **import**: `ergast::parse` of the tables and `ergast::save` of every race, one batch per
//!   race (session, laps, entries), as `racestore import ergast` does;
//! - **one batch**: the same laps saved in a single batch into one session (the baseline);
//!
//! and prints the times, laps per second, and the ratio import / one batch. Each measure runs
//! `--runs` times into a fresh store; the median is shown.
//!
//! ```text
//! cargo run --release -p racestore --example bench_import -- [--data DIR] [--runs N] [--keep-tables DIR]
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use racestore::import::ergast::{self, Options};
use racestore::{Batch, NewLap, NewRecords, NewSession, RaceStore};

/// Copies of the 2020–2024 races with their laps.
const LAP_COPIES: i64 = 5;
/// Copies of the races alone (no lap times), after those.
const RACE_ONLY_COPIES: i64 = 6;
/// How far apart the ids of two copies are.
const ID_STEP: i64 = 100_000;
/// How many seasons earlier each copy is.
const YEARS_STEP: i64 = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ergast-f1-2020-2024");
    let mut runs = 3usize;
    let mut keep: Option<PathBuf> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data" => data = PathBuf::from(args.next().ok_or("--data needs a folder")?),
            "--runs" => runs = args.next().ok_or("--runs needs a number")?.parse()?,
            "--keep-tables" => keep = Some(PathBuf::from(args.next().ok_or("--keep-tables needs a folder")?)),
            other => {
                return Err(format!(
                    "unknown argument {other:?}; expected --data DIR, --runs N, --keep-tables DIR"
                )
                .into())
            }
        }
    }
    let data = data.canonicalize().unwrap_or(data);
    if !data.join("lap_times.csv").is_file() {
        return Err(format!(
            "{} has no lap_times.csv: give the Ergast 2020-2024 tables with --data DIR",
            data.display()
        )
        .into());
    }
    let temp = tempfile::tempdir()?;
    let tables = keep.clone().unwrap_or_else(|| temp.path().join("tables"));
    std::fs::create_dir_all(&tables)?;
    let made = Instant::now();
    generate(&data, &tables)?;
    let parsed = ergast::parse(&tables, &Options::default())?;
    let laps = parsed.laps();
    println!(
        "tables: {} races with {} laps, {} races without lap times (made from {} in {:.1} s)",
        parsed.races.len(),
        thousands(laps),
        parsed.races_without_laps.len(),
        data.display(),
        made.elapsed().as_secs_f64()
    );
    let all_laps: Vec<NewLap> = parsed.races.iter().flat_map(|r| r.laps.iter().cloned()).collect();
    drop(parsed);

    println!(
        "{:<8} {:>12} {:>12} {:>12} {:>14} {:>8}",
        "backend", "parse", "import", "one batch", "import laps/s", "ratio"
    );
    for (backend, url) in [("json", "json:{}"), ("sqlite", "sqlite:{}.db")] {
        let mut parse_times = Vec::new();
        let mut import_times = Vec::new();
        let mut batch_times = Vec::new();
        for run in 0..runs {
            let at = |name: &str| {
                url.replace(
                    "{}",
                    &temp
                        .path()
                        .join(format!("{backend}-{name}-{run}"))
                        .display()
                        .to_string(),
                )
            };
            // The import, as the command runs it: parse, then one batch per race.
            let store = racestore::open(&at("import"))?;
            let started = Instant::now();
            let parsed = ergast::parse(&tables, &Options::default())?;
            let parsed_at = started.elapsed();
            for race in &parsed.races {
                ergast::save(store.as_ref(), race)?;
            }
            store.close()?;
            import_times.push(started.elapsed());
            parse_times.push(parsed_at);
            drop(parsed);
            // The baseline: the same laps in one batch.
            let store = racestore::open(&at("batch"))?;
            let started = Instant::now();
            one_batch(store.as_ref(), &all_laps)?;
            store.close()?;
            batch_times.push(started.elapsed());
        }
        let (parse, import, batch) = (median(parse_times), median(import_times), median(batch_times));
        println!(
            "{backend:<8} {:>10.3} s {:>10.3} s {:>10.3} s {:>14} {:>7.2}x",
            parse.as_secs_f64(),
            import.as_secs_f64(),
            batch.as_secs_f64(),
            thousands((laps as f64 / import.as_secs_f64()) as usize),
            import.as_secs_f64() / batch.as_secs_f64()
        );
    }
    println!("(median of {runs} runs; import = parse + one batch per race; ratio = import / one batch of the same laps)");
    if let Some(keep) = keep {
        println!("tables kept in {}", keep.display());
    }
    Ok(())
}

fn one_batch(store: &dyn RaceStore, laps: &[NewLap]) -> racestore::Result<()> {
    let batch =
        Batch::session(NewSession::new("all laps").date("2024-12-08")).with(NewRecords::Laps(laps.to_vec()));
    store.save(&batch).map(|_| ())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// `582885` as `582,885`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The tables of `data`, copied as the module documentation says, into `out`.
fn generate(data: &Path, out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    // races.csv: every copy, with its id and dates moved.
    copy_table(
        data,
        out,
        "races.csv",
        0..LAP_COPIES + RACE_ONLY_COPIES,
        |k, row, columns| {
            shift(row, columns["raceid"], k * ID_STEP);
            shift(row, columns["year"], -k * YEARS_STEP);
            let date = &mut row[columns["date"]];
            let year: i64 = date[..4].parse().expect("a date starts with its year");
            *date = format!("{}{}", year - k * YEARS_STEP, &date[4..]);
        },
    )?;
    for name in ["lap_times.csv", "pit_stops.csv", "results.csv"] {
        copy_table(data, out, name, 0..LAP_COPIES, |k, row, columns| {
            shift(row, columns["raceid"], k * ID_STEP);
        })?;
    }
    for name in ["drivers.csv", "constructors.csv"] {
        std::fs::copy(data.join(name), out.join(name))?;
    }
    Ok(())
}

/// Adds `by` to the whole number in `row[column]`.
fn shift(row: &mut [String], column: usize, by: i64) {
    let value: i64 = row[column].parse().expect("a whole number");
    row[column] = (value + by).to_string();
}

/// Writes `name` into `out`: the header, then the rows of `data`'s table once per copy `k`,
/// each changed by `change(k, row, columns by lower-case name)`.
fn copy_table(
    data: &Path,
    out: &Path,
    name: &str,
    copies: std::ops::Range<i64>,
    change: impl Fn(i64, &mut Vec<String>, &HashMap<String, usize>),
) -> Result<(), Box<dyn std::error::Error>> {
    let mut reader = csv::Reader::from_path(data.join(name))?;
    let header = reader.headers()?.clone();
    let columns: HashMap<String, usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| (h.to_lowercase(), i))
        .collect();
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.map(|r| r.iter().map(str::to_owned).collect()))
        .collect::<Result<_, _>>()?;
    let mut writer = csv::Writer::from_path(out.join(name))?;
    writer.write_record(&header)?;
    for k in copies {
        for row in &rows {
            let mut row = row.clone();
            change(k, &mut row, &columns);
            writer.write_record(&row)?;
        }
    }
    writer.flush()?;
    Ok(())
}

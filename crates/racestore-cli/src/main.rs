//! `racestore`: the command line over the racestore library.
//!
//! This file parses the command line and dispatches; each command group lives in its own file
//! under `commands/`. Every storage decision is the library's: commands only call the public
//! [`racestore::RaceStore`] API.

mod commands;
mod synthetic;
mod table;

use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Record and inspect motor-racing data: sessions, laps, entries, driver metrics, predictions and simulations.
///
/// Every command works on one store, named by a URL: json:DIR (a directory of JSON files in the
/// original GR Race Guardian format), sqlite:FILE (one SQLite database) or
/// postgres://USER@HOST/DB (a schema in a PostgreSQL database). Without --store, the URL comes
/// from RACESTORE_URL, and without that it is json:storage.
///
/// Start with: racestore demo, then racestore sessions.
#[derive(Debug, Parser)]
#[command(name = "racestore", version)]
struct Cli {
    /// The store: json:DIR, sqlite:FILE or postgres://USER[:PASSWORD]@HOST[:PORT]/DB (or a
    /// directory path, or a file path ending .db)
    ///
    /// A command that writes creates a missing JSON directory or SQLite file (in a folder that
    /// exists) and says so on stderr; commands that only read never do. Add ?durability=power-loss
    /// to have every write reach stable storage before it returns (slower); the default,
    /// ?durability=process, survives the process crashing but not a power cut.
    #[arg(
        long,
        global = true,
        help_heading = "Store",
        value_name = "URL",
        env = racestore::URL_ENV,
        default_value = racestore::DEFAULT_URL,
        hide_env_values = true
    )]
    store: String,

    /// Log what racestore does to stderr: -v for progress steps (migrations applied, repairs),
    /// -vv to debug, -vvv for everything. RUST_LOG (e.g. RUST_LOG=racestore=debug) takes
    /// precedence. Store URLs in the log never show a password
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

/// Sends the library's `tracing` events to stderr: errors only by default (what matters is
/// printed by the commands themselves), more with each `-v`, or as `RUST_LOG` says.
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "error",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // A second initialisation (tests calling main twice) keeps the first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a generated race into the store and print its result as read back
    ///
    /// Generates a GR Cup race at Barber Motorsports Park from the seed: a session, every lap of
    /// every driver with its three sectors, lap type (RACE_LAP, IN_LAP, OUT_LAP) and running
    /// position, all saved in one batch; then a lap-time prediction for the leader, and what
    /// racestore analyze and racestore simulate compute from the stored laps: the original's
    /// driver metrics and a 1,000-race Monte Carlo simulation (model original, seeded by the
    /// seed). The same seed writes the same race. The result table is computed from what the
    /// store returns, not from memory.
    Demo(commands::demo::DemoArgs),
    /// List the sessions in the store with their laps, drivers and best lap
    ///
    /// Prints "no sessions in URL" for an empty store. --circuit picks the sessions at a circuit
    /// whose name contains the text given, case ignored; when none does, a note on stderr says so.
    Sessions(commands::sessions::SessionsArgs),
    /// Measure every backend side by side: saves, batch ingest, growth, reads, open, size
    ///
    /// Creates fresh stores in a temporary directory (removed afterwards unless --keep) and, on
    /// each backend in turn, measures through the same calls: single-save throughput at the
    /// default durability and at power-loss, and from two processes saving into one store at
    /// once; batch ingest of N laps (--laps) in batches of 10,000 over sessions of 1,000; the
    /// cost of a single save in a store of 10,000 laps and in the N-lap store (the growth ratio);
    /// get_session_laps latency (median, p99) for 1,000-lap sessions; the time (median of five
    /// fresh processes) and peak memory of opening the N-lap store, beside the time to read a
    /// JSON directory's data files once; its size on disk. Prints
    /// the machine, a table with one column per backend, and the ratios between backends. The
    /// global --store plays no part. Progress bars go to stderr when it is a terminal.
    Bench(commands::bench::BenchArgs),
    /// Import timing-system exports: one session per file, every lap with sectors and position
    ///
    /// racestore import alkamel FILE... reads Al Kamel Systems' lap analysis exports (Toyota
    /// GR Cup, FIA WEC). Every file is read and checked before anything is stored; rows that
    /// cannot be trusted are listed with file and line, and abort the import unless
    /// --on-bad-row skip.
    Import(commands::import::ImportArgs),
    /// Print one session: header, counts, the classification with gaps and class positions, and
    /// per car (or driver) best lap and sectors, pit stops
    ///
    /// Per car where the session's entries say which car each driver drove (WEC: 007-1, 007-2
    /// and 007-3 are car 007; its drivers are listed under it with their laps and best lap), else
    /// per driver id, in classified order (a race: most laps completed, then shortest total
    /// time; any other session: fastest lap first): position, class and position in class (PIC)
    /// and team when the entries give them, laps, the winner's race time and then each one's
    /// gap to the winner (in laps when lapped; outside a race, the fastest lap and the gaps
    /// between best laps), best lap and the lap it was set on, best sector times, the
    /// theoretical best (best S1 + S2 + S3), the average green lap (RACE_LAP laps, or the
    /// original's normal and qualifying laps; lap 1 of a race left out as it starts from the
    /// grid) and pit stops (IN_LAP laps, or the original's pit laps). Times in m:ss.fff, gaps in
    /// seconds. A session is a race when its type starts with "race" or "sprint". Above the
    /// table: the session, its laps by type, and how many driver metrics, predictions and
    /// simulations it has. --json adds the session's entries.
    Show(commands::show::ShowArgs),
    /// Delete a session and everything recorded under it
    ///
    /// Removes the session with its laps, entries, driver metrics, predictions and simulations,
    /// all or nothing, and prints how many of each went. On a terminal it asks first, unless
    /// --yes; elsewhere (a script, a pipe) it does not ask. Ids are never given again.
    Delete(commands::delete::DeleteArgs),
    /// Compute the driver metrics of a session, as the original GR Race Guardian did
    ///
    /// Per driver, from the session's stored laps, the original's five metrics with its numbers:
    /// consistency index, aggression score, pace stability (trend of lap time over lap number),
    /// fatigue drop-off (second half of the laps against the first, with a t-test) and sector
    /// strength. The original's rules apply: IN_LAP, OUT_LAP, SAFETY_CAR, ERROR_LAP and PIT_LAP
    /// laps are left out of most metrics, and too few laps give its default values. Drivers in
    /// classified order. --json prints per driver the original's keys and values (NaN as
    /// null); --save stores them as the session's driver metrics. Definitions and the
    /// original's quirks: docs/analysis.md.
    Analyze(commands::analyze::AnalyzeArgs),
    /// Simulate a session's race many times: win probabilities, positions, finishing times
    ///
    /// The original GR Race Guardian's Monte Carlo simulation, from each driver's pace: the
    /// median of their green laps (RACE_LAP, or the original's normal and qualifying; lap 1 of
    /// a race left out), drivers without one left out and listed. Each race adds the lap-time
    /// model (--model) and 2 % noise lap by lap. Races run in parallel, each from its own random
    /// stream of the seed, so the same seed gives the same result on any machine and thread
    /// count. Prints per driver the win and podium probability, the most likely position and
    /// the expected finishing time; --json adds each position's probability; --save stores the
    /// simulation as the original's save_simulation did. Formulas: docs/analysis.md.
    Simulate(commands::simulate::SimulateArgs),
    /// Write records out as JSON, NDJSON or CSV, to stdout or a file
    ///
    /// Everything, or one session (--session) and what is recorded under it. JSON: an array for
    /// one collection, an object with one array per collection for all. NDJSON: one record per
    /// line. CSV: one collection (laps unless --collection), comma- or semicolon-separated. Laps
    /// can be narrowed to one driver and one lap type, and can carry their driver's entry
    /// (--with-entries: car number, driver name, class, group, team, manufacturer, vehicle).
    /// Times are in seconds. A filter that matches nothing says so on stderr. Records are read
    /// a page at a time, so a
    /// store of any size exports in little memory; a whole-store export shows progress on stderr
    /// when it is a terminal.
    Export(commands::export::ExportArgs),
    /// Copy every record of one store into another, then verify the copy
    ///
    /// Copies sessions, driver metrics, laps, predictions, simulations and entries from --from into --to
    /// (any backends: json:DIR, sqlite:FILE, postgres://...), keeping ids and timestamps. The
    /// target must be empty unless --into-non-empty. Afterwards both stores are read again and
    /// compared (counts and a checksum of every record): "verified: N records, checksums match",
    /// or exit status 1 naming the collection that differs. Progress on stderr when it is a
    /// terminal. The global --store plays no part.
    Migrate(commands::migrate::MigrateArgs),
    /// Write a consistent snapshot of the store to a new path, then read it back
    ///
    /// The snapshot holds exactly what the store held at one moment, even while other threads
    /// of the process saving into it (or, for SQLite and PostgreSQL, other processes) keep
    /// saving. It opens as a store (json:PATH, or sqlite:PATH for SQLite); its counts and
    /// checksums are printed, the same as racestore migrate verifies with.
    Backup(commands::backup::BackupArgs),
    /// Check that the store is sound; with --repair, repair what loses nothing
    ///
    /// Checks every file or table: it parses, ids are unique and ascending, every record belongs
    /// to an existing session, every value is one a save would accept. Prints each problem with
    /// its place (file and byte offset, or collection and id) and whether it can be repaired
    /// without losing a valid record, the records checked, and notes. Exit status 0 when the
    /// store is sound, 1 when problems remain. Without --repair nothing is written.
    Check(commands::check::CheckArgs),
    /// Serve the store over HTTP: a JSON API under /api/v1 and a live race dashboard at /
    ///
    /// Listens on 127.0.0.1:8080 unless --listen says otherwise (port 0 picks a free port; the
    /// address bound is printed). The API: sessions, laps (JSON pages, or streamed as NDJSON and
    /// CSV), driver metrics, predictions, simulations, writes of each (all or nothing, validated
    /// as the library validates), server-sent events of new laps; described at
    /// /api/v1/openapi.json. Safe by default: loopback only; writes need Content-Type:
    /// application/json; requests whose Host is not this server's address are refused; CORS is
    /// off. With --token (or RACESTORE_TOKEN) every write, and every read unless --public-read,
    /// needs Authorization: Bearer TOKEN; a non-loopback --listen requires a token. SIGINT or
    /// SIGTERM stops it after the requests in flight.
    #[cfg(feature = "server")]
    Serve(commands::serve::ServeArgs),
    /// Measure one thing in this fresh process for bench, printing JSON: open | read-files
    /// FILE... | single-saves SEED MILLIS
    #[command(hide = true)]
    BenchProbe(commands::bench::ProbeArgs),
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    // An empty RACESTORE_URL counts as unset, as it does for the library; an empty --store stays
    // an error.
    if cli.store.is_empty() && matches.value_source("store") == Some(ValueSource::EnvVariable) {
        cli.store = racestore::default_url();
    }
    init_logging(cli.verbose);
    let result = match &cli.command {
        Command::Demo(args) => commands::demo::run(&cli.store, args),
        Command::Sessions(args) => commands::sessions::run(&cli.store, args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Import(args) => commands::import::run(&cli.store, args),
        Command::Show(args) => commands::show::run(&cli.store, args),
        Command::Delete(args) => commands::delete::run(&cli.store, args),
        Command::Analyze(args) => commands::analyze::run(&cli.store, args),
        Command::Simulate(args) => commands::simulate::run(&cli.store, args),
        Command::Export(args) => commands::export::run(&cli.store, args),
        Command::Migrate(args) => commands::migrate::run(args),
        Command::Backup(args) => commands::backup::run(&cli.store, args),
        Command::Check(args) => commands::check::run(&cli.store, args),
        #[cfg(feature = "server")]
        Command::Serve(args) => commands::serve::run(&cli.store, args),
        Command::BenchProbe(args) => commands::bench::run_probe(&cli.store, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`racestore sessions | head -1`) is not worth an error message.
        Err(err) if commands::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}

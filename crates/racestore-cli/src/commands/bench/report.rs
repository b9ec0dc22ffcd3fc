//! The bench's results: a table with one column per backend and the ratios between backends,
//! or one JSON object.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::machine::Machine;
use super::{
    thousands, Backend, Measures, BASE_LAPS, BATCH_LAPS, POWER_LOSS_LOOP, PROBE_LOOP, PROBE_ROUNDS, READS,
    SAVE_BUDGET, SESSION_LAPS, THROUGHPUT_LOOP, WARMUP_SAVES,
};
use crate::table::{Align, Table};

/// One backend's results, or why there are none.
#[derive(Debug)]
pub struct Outcome {
    pub backend: Backend,
    pub result: Result<Measures, String>,
}

/// What the whole run found.
#[derive(Debug)]
pub struct Report {
    pub machine: Machine,
    pub laps: u64,
    pub outcomes: Vec<Outcome>,
    /// The bench directory, when `--keep` kept it.
    pub kept: Option<PathBuf>,
}

const MIB: f64 = 1024.0 * 1024.0;

/// How a table row shows one backend's measure.
type Cell = Box<dyn Fn(&Measures) -> String>;

/// A measure two backends are compared on.
struct Compared {
    key: &'static str,
    label: &'static str,
    higher_is_better: bool,
    value: fn(&Measures) -> Option<f64>,
}

/// The measures compared between backends, in report order.
fn compared() -> Vec<Compared> {
    vec![
        Compared {
            key: "single_save_throughput_process",
            label: "single-save throughput (process)",
            higher_is_better: true,
            value: |m| Some(m.single_process.per_second()),
        },
        Compared {
            key: "single_save_throughput_power_loss",
            label: "single-save throughput (power-loss)",
            higher_is_better: true,
            value: |m| Some(m.single_power_loss.per_second()),
        },
        Compared {
            key: "batch_ingest_seconds",
            label: "batch ingest time",
            higher_is_better: false,
            value: |m| Some(m.ingest.seconds),
        },
        Compared {
            key: "micros_per_save_at_n",
            label: "cost per single save at N",
            higher_is_better: false,
            value: |m| Some(m.at_n.micros_per_save()),
        },
        Compared {
            key: "get_session_laps_median",
            label: "get_session_laps median",
            higher_is_better: false,
            value: |m| Some(m.reads.percentile_ms(50.0)),
        },
        Compared {
            key: "get_session_laps_p99",
            label: "get_session_laps p99",
            higher_is_better: false,
            value: |m| Some(m.reads.percentile_ms(99.0)),
        },
        Compared {
            key: "open_seconds",
            label: "open time",
            higher_is_better: false,
            value: |m| Some(m.open.seconds),
        },
        Compared {
            key: "open_peak_rss",
            label: "open peak memory",
            higher_is_better: false,
            value: |m| m.open.peak_rss.map(|b| b as f64),
        },
        Compared {
            key: "size_on_disk",
            label: "size on disk",
            higher_is_better: false,
            value: |m| m.size.map(|b| b as f64),
        },
    ]
}

/// A ratio between two backends' values of one measure: `backend`'s over `versus`'s.
struct Ratio {
    label: &'static str,
    key: &'static str,
    higher_is_better: bool,
    backend: &'static str,
    versus: &'static str,
    ratio: f64,
}

impl Report {
    /// The measured backends, in column order.
    fn measured(&self) -> impl Iterator<Item = (&'static str, &Measures)> {
        self.outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().ok().map(|m| (o.backend.name(), m)))
    }

    /// Every pair of measured backends (in column order) on every compared measure.
    fn ratios(&self) -> Vec<Ratio> {
        let measured: Vec<(&'static str, &Measures)> = self.measured().collect();
        let mut ratios = Vec::new();
        for (i, &(backend, a)) in measured.iter().enumerate() {
            for &(versus, b) in &measured[i + 1..] {
                for c in compared() {
                    if let (Some(x), Some(y)) = ((c.value)(a), (c.value)(b)) {
                        if y > 0.0 {
                            ratios.push(Ratio {
                                label: c.label,
                                key: c.key,
                                higher_is_better: c.higher_is_better,
                                backend,
                                versus,
                                ratio: x / y,
                            });
                        }
                    }
                }
            }
        }
        ratios
    }

    pub fn to_json(&self) -> Value {
        let backends: serde_json::Map<String, Value> = self
            .outcomes
            .iter()
            .map(|o| {
                let value = match &o.result {
                    Ok(m) => measures_json(m),
                    Err(error) => json!({ "error": error }),
                };
                (o.backend.name().to_owned(), value)
            })
            .collect();
        let ratios: Vec<Value> = self
            .ratios()
            .iter()
            .map(|r| {
                json!({
                    "measure": r.key,
                    "backend": r.backend,
                    "versus": r.versus,
                    "ratio": r.ratio,
                    "better": if r.higher_is_better { "higher" } else { "lower" },
                })
            })
            .collect();
        let growth: serde_json::Map<String, Value> = self
            .measured()
            .map(|(name, m)| (name.to_owned(), json!(m.growth())))
            .collect();
        json!({
            "machine": self.machine.to_json(),
            "laps": self.laps,
            "batch_laps": BATCH_LAPS,
            "session_laps": SESSION_LAPS,
            "backends": backends,
            "ratios": ratios,
            "growth": growth,
            "kept_directory": self.kept,
        })
    }

    pub fn write_text(&self, out: &mut impl Write) -> std::io::Result<()> {
        let n = thousands(self.laps);
        let base = thousands(BASE_LAPS);
        writeln!(
            out,
            "racestore bench: {n} laps in the large store, ingested in batches of {} laps in sessions of {}",
            thousands(BATCH_LAPS as u64),
            thousands(SESSION_LAPS as u64)
        )?;
        writeln!(out, "{}", self.machine.line())?;
        writeln!(out)?;

        let mut columns = vec![("MEASURE", Align::Left)];
        columns.extend(self.outcomes.iter().map(|o| (o.backend.name(), Align::Right)));
        let mut table = Table::new(&columns);
        let rows: Vec<(String, Cell)> = vec![
            (
                "single saves/s, durability=process".into(),
                Box::new(|m| thousands(m.single_process.per_second().round() as u64)),
            ),
            (
                "single saves/s, durability=power-loss".into(),
                Box::new(|m| thousands(m.single_power_loss.per_second().round() as u64)),
            ),
            (
                format!("batch ingest of {n} laps (s)"),
                Box::new(|m| format!("{:.3}", m.ingest.seconds)),
            ),
            (
                "batch ingest (laps/s)".into(),
                Box::new(|m| thousands((m.ingest.laps as f64 / m.ingest.seconds).round() as u64)),
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
                format!("open the {n}-lap store (ms)"),
                Box::new(|m| format!("{:.1}", m.open.seconds * 1e3)),
            ),
            (
                "memory before open (MiB)".into(),
                Box::new(|m| mib(m.open.rss_before)),
            ),
            (
                "peak memory while opening (MiB)".into(),
                Box::new(|m| mib(m.open.peak_rss)),
            ),
            ("size on disk (MiB)".into(), Box::new(|m| mib(m.size))),
        ];
        for (label, cell) in &rows {
            let mut cells = vec![label.clone()];
            cells.extend(self.outcomes.iter().map(|o| match &o.result {
                Ok(m) => cell(m),
                Err(_) => "-".to_owned(),
            }));
            table.row(cells);
        }
        table.write(out)?;

        for o in &self.outcomes {
            if let Err(error) = &o.result {
                writeln!(out)?;
                writeln!(out, "{}: not measured: {error}", o.backend.name())?;
            }
        }

        let ratios = self.ratios();
        let mut pair = None;
        for r in &ratios {
            if pair != Some((r.backend, r.versus)) {
                pair = Some((r.backend, r.versus));
                writeln!(out)?;
                writeln!(out, "{} vs {}, measured in this run:", r.backend, r.versus)?;
            }
            writeln!(
                out,
                "  {} {} = {:.2}x {}'s ({} is better)",
                r.backend,
                r.label,
                r.ratio,
                r.versus,
                if r.higher_is_better { "higher" } else { "lower" }
            )?;
        }

        let growth: Vec<String> = self
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
            "open: timed in a fresh racestore process; memory: that process's resident memory (VmRSS)"
        )?;
        writeln!(
            out,
            "  before the open, and its peak (VmHWM, reset through /proc/self/clear_refs) until just after."
        )?;
        for o in &self.outcomes {
            for note in o.result.iter().flat_map(|m| &m.notes) {
                writeln!(out, "{}: {note}", o.backend.name())?;
            }
        }
        if let Some(dir) = &self.kept {
            writeln!(
                out,
                "stores kept in {}: BACKEND/large is the {n}-lap store, with the laps of the single \
                 saves timed at {n} laps saved after it was measured",
                dir.display(),
            )?;
        }
        Ok(())
    }
}

/// One backend's measures as JSON.
fn measures_json(m: &Measures) -> Value {
    json!({
        "store": m.store,
        "single_save": {
            "process": m.single_process.to_json(),
            "power_loss": m.single_power_loss.to_json(),
        },
        "batch_ingest": {
            "laps": m.ingest.laps,
            "seconds": m.ingest.seconds,
            "laps_per_second": m.ingest.laps as f64 / m.ingest.seconds,
        },
        "cost_per_save": {
            "base_laps": BASE_LAPS,
            "at_base": m.at_base.to_json(),
            "at_n": m.at_n.to_json(),
            "growth": m.growth(),
        },
        "get_session_laps": {
            "reads": m.reads.sorted.len(),
            "laps_per_read": SESSION_LAPS,
            "median_ms": m.reads.percentile_ms(50.0),
            "p99_ms": m.reads.percentile_ms(99.0),
        },
        "open": {
            "seconds": m.open.seconds,
            "rss_before_bytes": m.open.rss_before,
            "peak_rss_bytes": m.open.peak_rss,
        },
        "size_bytes": m.size,
        "laps_after_reopen": m.laps_after_reopen,
        "laps_at_end": m.laps_at_end,
        "notes": m.notes,
    })
}

/// Bytes as MiB with one decimal, or `n/a`.
fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "n/a".to_owned(), |b| format!("{:.1}", b as f64 / MIB))
}

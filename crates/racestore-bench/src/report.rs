//! The bench's results: per backend its measures (or why there are none), the ratios between
//! backends, and all of it as one JSON object.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::machine::Machine;
use super::{
    Backend, ConcurrentSaves, Measures, Opens, BASE_LAPS, BATCH_LAPS, CONCURRENT_PROCESSES,
    CONCURRENT_SAVES_TIME, SESSION_LAPS,
};

/// One backend's results, or why there are none.
#[derive(Debug)]
pub struct Outcome {
    /// The backend.
    pub backend: Backend,
    /// What was measured, or the error that stopped it (passwords removed).
    pub result: Result<Measures, String>,
}

/// What the whole run found.
#[derive(Debug)]
pub struct Report {
    /// The machine it ran on.
    pub machine: Machine,
    /// Laps in the large store.
    pub laps: u64,
    /// Per backend, in report order.
    pub outcomes: Vec<Outcome>,
    /// The bench directory, when [`Options::keep`](crate::Options::keep) kept it.
    pub kept: Option<PathBuf>,
}

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
            key: "single_save_throughput_concurrent",
            label: "single-save throughput (2 processes at once)",
            higher_is_better: true,
            value: |m| m.concurrent.per_second(),
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
            key: "list_sessions_seconds",
            label: "list sessions (session summaries)",
            higher_is_better: false,
            value: |m| Some(m.list_sessions),
        },
        Compared {
            key: "open_seconds",
            label: "open time",
            higher_is_better: false,
            value: |m| Some(m.open.seconds()),
        },
        Compared {
            key: "open_peak_rss",
            label: "open peak memory",
            higher_is_better: false,
            value: |m| m.open.peak_rss().map(|b| b as f64),
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
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    /// The measure, in words: `batch ingest time`.
    pub label: &'static str,
    /// The measure, as the JSON names it: `batch_ingest_seconds`.
    pub key: &'static str,
    /// Whether a higher value of the measure is the better one.
    pub higher_is_better: bool,
    /// The backend whose value is divided.
    pub backend: &'static str,
    /// The backend it is divided by.
    pub versus: &'static str,
    /// `backend`'s value over `versus`'s.
    pub ratio: f64,
}

impl Report {
    /// The measured backends, in column order.
    pub fn measured(&self) -> impl Iterator<Item = (&'static str, &Measures)> {
        self.outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().ok().map(|m| (o.backend.name(), m)))
    }

    /// Every pair of measured backends (in column order) on every compared measure.
    pub fn ratios(&self) -> Vec<Ratio> {
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

    /// The backends that could not be measured.
    pub fn failed(&self) -> Vec<Backend> {
        self.outcomes
            .iter()
            .filter(|o| o.result.is_err())
            .map(|o| o.backend)
            .collect()
    }

    /// Everything as one JSON object: `machine`, `laps`, `batch_laps`, `session_laps`,
    /// `backends` (per backend its measures or `{"error": ...}`), `ratios`, `growth`,
    /// `open_over_read_files` (per JSON directory), `kept_directory`.
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
        let open_over_read_files: serde_json::Map<String, Value> = self
            .measured()
            .filter_map(|(name, m)| Some((name.to_owned(), json!(m.open_over_read_files()?))))
            .collect();
        json!({
            "machine": self.machine.to_json(),
            "laps": self.laps,
            "batch_laps": BATCH_LAPS,
            "session_laps": SESSION_LAPS,
            "backends": backends,
            "ratios": ratios,
            "growth": growth,
            "open_over_read_files": open_over_read_files,
            "kept_directory": self.kept,
        })
    }
}

/// One backend's measures as JSON.
fn measures_json(m: &Measures) -> Value {
    json!({
        "store": m.store,
        "single_save": {
            "process": m.single_process.to_json(),
            "power_loss": m.single_power_loss.to_json(),
            "concurrent": concurrent_json(&m.concurrent),
        },
        "batch_ingest": {
            "laps": m.ingest.laps,
            "seconds": m.ingest.seconds,
            "laps_per_second": m.ingest.laps_per_second(),
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
        "list_sessions_seconds": m.list_sessions,
        "open": opens_json(&m.open),
        "open_cache_deleted": m.open_cache_deleted.as_ref().map(opens_json),
        "cache_files": m.cache_files,
        "read_files": m.read_files.as_ref().map(|r| json!({
            "files": r.files,
            "bytes": r.bytes,
            "seconds": r.seconds(),
            "runs_seconds": r.runs,
        })),
        "open_over_read_files": m.open_over_read_files(),
        "size_bytes": m.size,
        "laps_after_reopen": m.laps_after_reopen,
        "laps_at_end": m.laps_at_end,
        "notes": m.notes,
    })
}

/// Opens in fresh processes as JSON: the median time, the median memory before, the highest peak.
fn opens_json(opens: &Opens) -> Value {
    json!({
        "runs": opens.runs.len(),
        "seconds": opens.seconds(),
        "rss_before_bytes": opens.rss_before(),
        "peak_rss_bytes": opens.peak_rss(),
        "runs_seconds": opens.runs.iter().map(|r| r.seconds).collect::<Vec<_>>(),
        "runs_peak_rss_bytes": opens.runs.iter().map(|r| r.peak_rss).collect::<Vec<_>>(),
    })
}

/// Concurrent single saves as JSON: the processes' rate together, each one's loop, or why the
/// store refused them (`saves_per_second` null then).
fn concurrent_json(concurrent: &ConcurrentSaves) -> Value {
    let mut value = json!({
        "processes": CONCURRENT_PROCESSES,
        "seconds_each": CONCURRENT_SAVES_TIME.as_secs_f64(),
        "saves_per_second": concurrent.per_second(),
    });
    match concurrent {
        ConcurrentSaves::Measured(runs) => {
            value["runs"] = runs.iter().map(|r| r.to_json()).collect();
        }
        ConcurrentSaves::Locked(message) => value["locked"] = json!(message),
    }
    value
}

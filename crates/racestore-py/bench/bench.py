"""What the Python package costs above the Rust library it wraps, and beside the original.

    .venv/bin/python crates/racestore-py/bench/bench.py [--laps 1000000] [--single 20000]

Each figure is measured in this run, on this machine, beside its baseline:

- **the Rust call**: the same library call made natively in a loop on the same store
  (``racestore._native._bench_*``, timed in Rust), so the difference is what Python adds
  (argument conversion, dicts, the GIL);
- **the original**: GR Race Guardian's own ``db_sqlite.py`` (Python's ``sqlite3``), read from
  ``../shared/original-python`` when it is there, on the same data.

Targets (issue 11): one-by-one ``save_lap_data`` at most 2 µs above the Rust call (at most 5 µs
in all on the JSON default); 1M laps through ``save_laps`` in at most 3 s; ``get_session_laps``
of a 1,000-lap session out of 1M at most 1 ms above the Rust call, as dicts. A benchmark, not a
test: it prints, and says which targets this run missed.
"""

import argparse
import gc
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import racestore
from racestore import _native

ORIGINAL = Path(__file__).resolve().parents[3].parent / "shared" / "original-python"
CARS = 20


def lap_row(session_id, index):
    """The lap ``bench.rs``'s ``lap`` makes for the Rust baseline, as keyword arguments."""
    car = index % CARS
    lap_time = 90.0 + (index % 1000) / 100.0
    return {
        "session_id": session_id,
        "driver_id": f"GR86-{car:03}",
        "lap_number": index // CARS + 1,
        "lap_time": lap_time,
        "sectors": {"S1": 30.1, "S2": 32.5, "S3": lap_time - 62.6},
        "lap_type": "RACE_LAP",
        "position": car + 1,
    }


def per_call(seconds, n):
    return seconds / n * 1e6


def original_module():
    """The original ``db_sqlite.py``, or None (with a note) when ../shared is not here."""
    path = ORIGINAL / "database" / "db_sqlite.py"
    if not path.exists():
        print(f"note: {path} not found; the original's figures are left out", file=sys.stderr)
        return None
    spec = importlib.util.spec_from_file_location("original_db_sqlite", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Report:
    def __init__(self):
        self.missed = []

    def target(self, name, value, limit, unit):
        verdict = "met" if value <= limit else "MISSED"
        if value > limit:
            self.missed.append(name)
        print(f"    target {name}: {value:.2f} {unit} (at most {limit:g} {unit}): {verdict}")


def bench_single_saves(report, workdir, n, original):
    print(f"\none-by-one save_lap_data, {n:,} laps, the Rust call timed on the same store")
    for label, url in (("json (default)", f"json:{workdir}/single-json"), ("sqlite", f"sqlite:{workdir}/single.db")):
        with racestore.open(url) as db:
            rust_session = db.create_session(circuit="Barber Motorsports Park", race_type="race")
            python_session = db.create_session(circuit="Barber Motorsports Park", race_type="race")
            rows = [lap_row(python_session, index) for index in range(n)]
            save = db.save_lap_data
            gc.collect()
            start = time.perf_counter()
            for row in rows:
                save(**row)
            python_us = per_call(time.perf_counter() - start, n)
            rust_us = per_call(_native._bench_save_lap_data(db, rust_session, n), n)
        above = python_us - rust_us
        print(f"  {label:15} python {python_us:7.2f} µs/lap   rust {rust_us:7.2f} µs/lap   "
              f"python adds {above:5.2f} µs ({python_us / rust_us:.2f}x)")
        report.target(f"save_lap_data above Rust ({label})", above, 2.0, "µs")
        if label.startswith("json"):
            report.target("save_lap_data in all (json default)", python_us, 5.0, "µs")
    if original is not None:
        # Its commit per call flushes to disk each time: a smaller n says the same.
        count = max(200, n // 20)
        db = original.RaceDatabase(str(Path(workdir) / "original-single.db"))
        session = db.create_session(circuit="Barber Motorsports Park", race_type="race")
        rows = [lap_row(session, index) for index in range(count)]
        start = time.perf_counter()
        for row in rows:
            db.save_lap_data(**row)
        original_us = per_call(time.perf_counter() - start, count)
        db.conn.close()
        print(f"  {'original sqlite':15} python {original_us:7.2f} µs/lap   ({count:,} laps; "
              f"its db_sqlite.py, one commit per lap)")


def bench_bulk(report, workdir, total, original):
    per_session = 1000
    sessions = total // per_session
    batch = 100_000
    print(f"\n{total:,} laps through save_laps ({sessions:,} sessions x {per_session:,} laps, "
          f"batches of {batch:,}), then get_session_laps of one 1,000-lap session")
    for label, scheme in (("json (default)", "json:{}/bulk-{}"), ("sqlite", "sqlite:{}/bulk-{}.db")):
        with racestore.open(scheme.format(workdir, "rust")) as db:
            ids = [db.create_session(circuit="Barber", race_type="race") for _ in range(sessions)]
            rust_save = _native._bench_save_laps(db, ids, per_session, batch)
        with racestore.open(scheme.format(workdir, "python")) as db:
            ids = [db.create_session(circuit="Barber", race_type="race") for _ in range(sessions)]
            rows = [lap_row(session, index) for session in ids for index in range(per_session)]
            gc.collect()
            start = time.perf_counter()
            for at in range(0, len(rows), batch):
                db.save_laps(rows[at:at + batch])
            python_save = time.perf_counter() - start
            del rows
            middle = ids[len(ids) // 2]
            db.get_session_laps(middle)
            reads = 50
            python_reads = []
            for _ in range(reads):
                start = time.perf_counter()
                laps = db.get_session_laps(middle)
                python_reads.append(time.perf_counter() - start)
            assert len(laps) == per_session, len(laps)
            rust_reads = _native._bench_get_session_laps(db, middle, reads)
        print(f"  {label:15} save_laps  python {python_save:6.2f} s   rust {rust_save:6.2f} s   "
              f"({python_save / rust_save:.2f}x)")
        report.target(f"1M laps through save_laps ({label})", python_save * 1_000_000 / total, 3.0, "s")
        python_ms = statistics.median(python_reads) * 1e3
        rust_ms = statistics.median(rust_reads) * 1e3
        print(f"  {label:15} get_session_laps (median of {reads})  python {python_ms:6.3f} ms   "
              f"rust {rust_ms:6.3f} ms   python adds {python_ms - rust_ms:6.3f} ms")
        report.target(f"get_session_laps above Rust ({label})", python_ms - rust_ms, 1.0, "ms")
        if label == "sqlite" and original is not None:
            # The file racestore's SQLite backend wrote is the original's schema: it opens it.
            db = original.RaceDatabase(str(Path(workdir) / "bulk-python.db"))
            times = []
            for _ in range(reads):
                start = time.perf_counter()
                laps = db.get_session_laps(middle)
                times.append(time.perf_counter() - start)
            db.conn.close()
            original_ms = statistics.median(times) * 1e3
            print(f"  {'original sqlite':15} get_session_laps (median of {reads})  "
                  f"{original_ms:6.3f} ms ({len(laps)} laps; its db_sqlite.py on the same file; "
                  f"racestore python is {original_ms / python_ms:.1f}x faster)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--laps", type=int, default=1_000_000, help="laps of the bulk store")
    parser.add_argument("--single", type=int, default=20_000, help="one-by-one saves per backend")
    args = parser.parse_args()
    original = original_module()
    report = Report()
    print(f"racestore {racestore.__name__} from {Path(racestore.__file__).parent}, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    with tempfile.TemporaryDirectory(prefix="racestore-bench-") as workdir:
        bench_single_saves(report, workdir, args.single, original)
        bench_bulk(report, workdir, args.laps, original)
    if report.missed:
        print(f"\ntargets missed in this run: {', '.join(report.missed)}")
    else:
        print("\nevery target met in this run")


if __name__ == "__main__":
    main()

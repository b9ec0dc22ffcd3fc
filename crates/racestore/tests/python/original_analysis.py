"""Runs the ORIGINAL GR Race Guardian analysis code on laps racestore gives it, for the
differential tests in tests/analysis.rs and the benchmark in scripts/bench-analysis.

The original's modules are imported from ../shared/original-python (never copied here).
Reads one JSON request on stdin, prints one JSON answer on stdout:

  {"original": PATH,
   "metrics": [{"key": K, "laps": [{"driver_id", "lap_number", "lap_time", "sector_1",
               "sector_2", "sector_3", "lap_type"}, ...]}, ...],
   "simulations": [{"key": K, "driver_paces": [[driver, pace], ...], "n_laps": L,
                    "iterations": N, "seed": S}, ...],
   "bench": {"metrics_repeat": R, ...}}           (optional)

  -> {"metrics": {K: {driver: analyze_driver_performance(...)}},
      "simulations": {K: {driver: {"win": p, "mean": t, "std": s}}},
      "seconds": {K: wall-clock seconds the original took}}

Each driver's laps become the DataFrame the original would see: vehicle_id = driver id (text),
lap = lap number, lap_time in seconds, sector_1_seconds..sector_3_seconds = the stored sectors
(float64, NaN where untimed), lap_type as stored, rows in lap-number order, a fresh RangeIndex.
Values are encoded so JSON keeps their kind: NaN and infinities as the strings "NaN",
"Infinity", "-Infinity"; numpy booleans as booleans, numpy floats as floats, numpy ints as ints.
"""
import json
import math
import random
import sys
import time
import warnings


def encode(value):
    import numpy as np

    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    return value


def frames(laps):
    import numpy as np
    import pandas as pd

    by_driver = {}
    for lap in laps:
        by_driver.setdefault(lap["driver_id"], []).append(lap)
    for driver, rows in by_driver.items():
        rows = sorted(rows, key=lambda r: r["lap_number"])

        def sector(i):
            return pd.Series(
                [np.nan if r[f"sector_{i}"] is None else r[f"sector_{i}"] for r in rows],
                dtype="float64",
            )

        df = pd.DataFrame(
            {
                "vehicle_id": pd.Series([driver] * len(rows), dtype=object),
                "lap": pd.Series([r["lap_number"] for r in rows], dtype="int64"),
                "lap_time": pd.Series([r["lap_time"] for r in rows], dtype="float64"),
                "sector_1_seconds": sector(1),
                "sector_2_seconds": sector(2),
                "sector_3_seconds": sector(3),
                "lap_type": pd.Series([r["lap_type"] for r in rows], dtype=object),
            }
        )
        yield driver, df


def main():
    request = json.load(sys.stdin)
    sys.path.insert(0, request["original"])
    warnings.simplefilter("ignore")
    from grracing import driver_metrics, monte_carlo

    answer = {"metrics": {}, "simulations": {}, "seconds": {}}
    for job in request.get("metrics", []):
        prepared = list(frames(job["laps"]))
        started = time.perf_counter()
        out = {}
        for _ in range(job.get("repeat", 1)):
            out = {d: driver_metrics.analyze_driver_performance(df, d) for d, df in prepared}
        answer["seconds"][job["key"]] = time.perf_counter() - started
        answer["metrics"][job["key"]] = encode(out)
    for job in request.get("simulations", []):
        paces = {d: float(p) for d, p in job["driver_paces"]}
        random.seed(job["seed"])
        started = time.perf_counter()
        result = monte_carlo.simulate_race_strategy(paces, n_laps=job["n_laps"], iterations=job["iterations"])
        answer["seconds"][job["key"]] = time.perf_counter() - started
        answer["simulations"][job["key"]] = encode(
            {
                d: {
                    "win": result["position_probabilities"][d][1],
                    "mean": result["average_times"][d]["mean"],
                    "std": result["average_times"][d]["std"],
                }
                for d in paces
            }
        )
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()

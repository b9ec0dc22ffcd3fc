"""The package's calls: the original's ten and the rest, their return values, types and errors."""

import inspect
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import racestore
from racestore import db_sqlite

from conftest import need

SECTORS = {"S1": 30.1, "S2": 32.5, "S3": 32.6}
LAP_KEYS = list(racestore.LAP_COLUMNS)
SESSION_KEYS = ["id", "circuit", "date", "race_type", "created_at", "updated_at"]
METRICS_KEYS = [
    "id", "session_id", "driver_id", "consistency_index", "aggression_score",
    "sector_strength", "pace_stability", "fatigue_dropoff", "created_at",
]
PREDICTION_KEYS = [
    "id", "session_id", "driver_id", "prediction_type", "prediction_value", "model_path",
    "confidence", "created_at",
]
SIMULATION_KEYS = ["id", "session_id", "driver_paces", "n_laps", "iterations", "results", "created_at"]


def test_the_seed_example_runs_verbatim_with_only_its_import_changed(tmp):
    # The original README's example, as written, after `from database import get_db` became:
    from racestore import get_db

    db = get_db()
    session_id = db.create_session(circuit="Barber Motorsports Park", race_type="race")
    db.save_lap_data(session_id=session_id, driver_id="GR86-001", lap_number=1, lap_time=95.234, sectors={"S1": 30.1, "S2": 32.5, "S3": 32.6}, lap_type="RACE_LAP", position=1)
    laps = db.get_session_laps(session_id)

    assert session_id == 1
    assert len(laps) == 1
    lap = laps[0]
    assert list(lap) == LAP_KEYS
    assert {k: v for k, v in lap.items() if k != "created_at"} == {
        "id": 1, "session_id": 1, "driver_id": "GR86-001", "lap_number": 1, "lap_time": 95.234,
        "sector_1": 30.1, "sector_2": 32.5, "sector_3": 32.6, "lap_type": "RACE_LAP", "position": 1,
    }
    # It wrote the original's directory, in the working directory as the original did.
    assert json.loads((tmp / "storage" / "lap_data.json").read_text())[0]["lap_time"] == 95.234
    db.close()


def test_the_methods_have_the_originals_parameters_in_order_with_its_defaults():
    expected = {
        "create_session": "(circuit, date=None, race_type='race')",
        "save_driver_metrics": "(session_id, driver_id, metrics)",
        "save_lap_data": "(session_id, driver_id, lap_number, lap_time, sectors, lap_type, position)",
        "save_prediction": "(session_id, driver_id, prediction_type, prediction_value, model_path, confidence=None)",
        "save_simulation": "(session_id, driver_paces, n_laps, iterations, results)",
        "get_session_metrics": "(session_id)",
        "get_session_laps": "(session_id)",
        "get_session_predictions": "(session_id)",
        "get_sessions": "(circuit=None)",
        "close": "()",
        "clear_all": "()",
    }
    for cls in (racestore.Store, racestore.RaceStorage, db_sqlite.RaceDatabase):
        for name, signature in expected.items():
            method = getattr(cls, name)
            shown = str(inspect.signature(method)).replace("self, /, ", "").replace("(self, /)", "()")
            assert shown == signature, f"{cls.__name__}.{name}{shown}"
    assert list(inspect.signature(racestore.RaceStorage).parameters) == ["storage_dir"]
    assert inspect.signature(racestore.RaceStorage).parameters["storage_dir"].default == "storage"
    assert inspect.signature(racestore.get_db).parameters["storage_dir"].default == "storage"
    assert inspect.signature(db_sqlite.get_db).parameters["db_path"].default == "race_data.db"
    assert inspect.signature(db_sqlite.RaceDatabase).parameters["db_path"].default == "race_data.db"
    assert racestore.RaceDatabase is racestore.RaceStorage


@pytest.fixture(params=["json", "sqlite"])
def store(request, tmp):
    url = "json:storage" if request.param == "json" else "sqlite:race.db"
    with racestore.open(url) as db:
        yield db


def scenario(db):
    """Every save, returning what each returned."""
    s1 = db.create_session("Barber Motorsports Park", "2025-09-06T14:00:00", "race")
    s2 = db.create_session("Autódromo Hermanos Rodríguez", race_type="qualifying")
    returned = {
        "create_session": (s1, s2),
        "save_driver_metrics": db.save_driver_metrics(s1, "GR86-002-7", {
            "consistency_index": 0.912,
            "aggression_score": {"aggression_score": 0.65, "brake_events": 12},
            "sector_strength": {"S1": 0.98, "S2": 1.01, "S3": 0.99},
            "pace_stability": {"std": 0.41, "trend": -0.02},
            "fatigue_dropoff": {"dropoff_per_lap": 0.035},
        }),
        "save_lap_data": db.save_lap_data(s1, "GR86-002-7", 1, 91.482, {"S1": 29.301, "S2": 32.05, "S3": 30.131}, "normal", 1),
        "save_prediction": db.save_prediction(s1, "GR86-002-7", "lap_time", 91.482, "models/lap_time_predictor.pkl", 0.87),
        "save_simulation": db.save_simulation(s1, {"GR86-002-7": 91.5, "GR86-013-22": 91.8}, 20, 1000,
                                              {"win_probability": {"GR86-002-7": 0.62}, "note": "Pérez – undercut"}),
    }
    db.save_lap_data(s1, "GR86-013-22", 2, 118.25, {"S1": 29.6, "S2": 32.4}, "pit", 2)
    return returned


def test_saves_return_what_the_originals_return_and_reads_give_plain_dicts_in_its_key_order(store):
    returned = scenario(store)
    assert returned == {
        "create_session": (1, 2),
        "save_driver_metrics": None,
        "save_lap_data": None,
        "save_prediction": None,
        "save_simulation": 1,
    }
    sessions = store.get_sessions()
    assert [list(s) for s in sessions] == [SESSION_KEYS, SESSION_KEYS]
    assert [s["circuit"] for s in store.get_sessions("Barber Motorsports Park")] == ["Barber Motorsports Park"]
    assert len(store.get_sessions("")) == 2  # the original's `if circuit:`: empty means every session
    assert sessions[0]["date"] == "2025-09-06T14:00:00" and sessions[1]["race_type"] == "qualifying"

    laps = store.get_session_laps(1)
    assert [list(lap) for lap in laps] == [LAP_KEYS, LAP_KEYS]
    assert laps[1]["sector_3"] is None and laps[1]["position"] == 2
    for lap in laps:
        assert type(lap["id"]) is int and type(lap["lap_time"]) is float and type(lap["driver_id"]) is str

    metrics = store.get_session_metrics(1)[0]
    assert list(metrics) == METRICS_KEYS
    assert metrics["aggression_score"] == 0.65  # the nested score, as the original kept it
    assert metrics["sector_strength"] == {"S1": 0.98, "S2": 1.01, "S3": 0.99}
    assert list(metrics["sector_strength"]) == ["S1", "S2", "S3"]

    prediction = store.get_session_predictions(1)[0]
    assert list(prediction) == PREDICTION_KEYS and prediction["confidence"] == 0.87

    simulation = store.get_session_simulations(1)[0]
    assert list(simulation) == SIMULATION_KEYS
    assert simulation["results"] == {"win_probability": {"GR86-002-7": 0.62}, "note": "Pérez – undercut"}
    assert store.get_session(2)["circuit"] == "Autódromo Hermanos Rodríguez"
    assert store.get_session(99) is None
    assert store.get_driver_laps(1, "GR86-013-22")[0]["lap_type"] == "pit"
    assert store.get_session_laps(99) == []


def test_timestamps_are_rfc3339_utc_with_microseconds(store):
    scenario(store)
    for record in [*store.get_sessions(), *store.get_session_laps(1)]:
        created = record["created_at"]
        assert len(created) == 27 and created.endswith("Z"), created


def test_the_sqlite_module_returns_json_columns_as_the_originals_json_text(tmp):
    db = db_sqlite.RaceDatabase("race_data.db")
    scenario(db)
    metrics = db.get_session_metrics(1)[0]
    assert metrics["sector_strength"] == '{"S1": 0.98, "S2": 1.01, "S3": 0.99}'
    assert metrics["fatigue_dropoff"] == '{"dropoff_per_lap": 0.035}'
    simulation = db.get_session_simulations(1)[0]
    assert simulation["results"] == '{"win_probability": {"GR86-002-7": 0.62}, "note": "P\\u00e9rez \\u2013 undercut"}'
    assert db.db_path == "race_data.db"
    db.close()
    with pytest.raises(racestore.StoreClosed):
        db.get_sessions()  # as the original's closed connection
    assert db_sqlite.get_db("race_data.db").get_sessions()[0]["id"] == 1


def test_every_backend_returns_the_same_plain_values(tmp, postgres_url):
    # racestore.open on each backend: the same scenario reads back the same values.
    results = []
    for url in ["json:storage", "sqlite:race.db", postgres_url]:
        with racestore.open(url) as db:
            scenario(db)
            read = {
                "sessions": db.get_sessions(),
                "laps": db.get_session_laps(1),
                "metrics": db.get_session_metrics(1),
                "predictions": db.get_session_predictions(1),
                "simulations": db.get_session_simulations(1),
            }
        for records in read.values():
            for record in records:
                for key in ("created_at", "updated_at"):
                    record.pop(key, None)
                if "date" in record and record["id"] == 2:
                    record.pop("date")  # "now"
        results.append(read)
    assert results[0] == results[1] == results[2]


def records_of(db):
    return {
        "sessions": db.get_sessions(),
        "laps": db.get_session_laps(1),
        "metrics": db.get_session_metrics(1),
        "predictions": db.get_session_predictions(1),
        "simulations": db.get_session_simulations(1),
    }


BAD_CALLS = [
    # (call, the field InvalidInput names)
    (lambda db: db.save_lap_data(1, "D1", 3, float("nan"), SECTORS, "normal", 1), "lap_time"),
    (lambda db: db.save_lap_data(1, "D1", 3, -91.0, SECTORS, "normal", 1), "lap_time"),
    (lambda db: db.save_lap_data(1, "D1", -1, 91.0, SECTORS, "normal", 1), "lap_number"),
    (lambda db: db.save_lap_data(1, "D1", 3, 91.0, SECTORS, "normal", 0), "position"),
    (lambda db: db.save_lap_data(1, " ", 3, 91.0, SECTORS, "normal", 1), "driver_id"),
    (lambda db: db.save_lap_data(1, "D1", 3, 91.0, {"S1": "fast"}, "normal", 1), "sectors.S1"),
    (lambda db: db.save_lap_data(1, "D1", 3, 91.0, {"S4": 1.0}, "normal", 1), "sectors.S4"),
    (lambda db: db.save_lap_data(1, "D1", 3, "91", SECTORS, "normal", 1), "lap_time"),
    (lambda db: db.save_lap_data("one", "D1", 3, 91.0, SECTORS, "normal", 1), "session_id"),
    (lambda db: db.save_lap_data(1, "D1", 2.5, 91.0, SECTORS, "normal", 1), "lap_number"),
    (lambda db: db.create_session(""), "circuit"),
    (lambda db: db.create_session("Barber", "yesterday"), "date"),
    (lambda db: db.save_driver_metrics(1, "D1", {"consistency_index": "high"}), "metrics.consistency_index"),
    (lambda db: db.save_driver_metrics(1, "D1", {"consistancy_index": 0.9}), "metrics.consistancy_index"),
    (lambda db: db.save_driver_metrics(1, "D1", {"sector_strength": {"S1": object()}}), "metrics.sector_strength.S1"),
    (lambda db: db.save_driver_metrics(1, "D1", {"pace_stability": {"std": float("inf")}}), "metrics.pace_stability.std"),
    (lambda db: db.save_prediction(1, "D1", "lap_time", 91.0, "m.pkl", 1.5), "confidence"),
    (lambda db: db.save_prediction(1, "D1", "lap_time", float("nan"), "m.pkl"), "prediction_value"),
    (lambda db: db.save_simulation(1, {"D1": 91.0}, 0, 1000, {}), "n_laps"),
    (lambda db: db.save_simulation(1, [91.0], 20, 1000, {}), "driver_paces"),
    (lambda db: db.save_simulation(1, {"D1": 91.0}, 20, 1000, {"p": {1, 2}}), "results.p"),
    (lambda db: db.save_simulation(1, {(1, 2): 91.0}, 20, 1000, {}), "driver_paces"),
]


@pytest.mark.parametrize("call,field", BAD_CALLS, ids=[f for _, f in BAD_CALLS])
def test_bad_input_raises_invalid_input_naming_the_field_and_stores_nothing(store, call, field):
    scenario(store)
    before = records_of(store)
    with pytest.raises(racestore.InvalidInput) as raised:
        call(store)
    assert raised.value.field == field, str(raised.value)
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, racestore.Error)
    assert field in str(raised.value)
    assert records_of(store) == before
    # A rejected save uses no id: the next one continues the sequence.
    assert store.create_session("Sonoma") == 3


def test_a_save_into_an_unknown_session_raises_not_found_and_stores_nothing(store):
    scenario(store)
    before = store.counts()
    for call in [
        lambda: store.save_lap_data(99, "D1", 1, 91.0, SECTORS, "normal", 1),
        lambda: store.save_driver_metrics(99, "D1", {}),
        lambda: store.save_prediction(99, "D1", "lap_time", 91.0, "m.pkl"),
        lambda: store.save_simulation(99, {}, 20, 1000, {}),
        lambda: store.save_laps([{"session_id": 99, "driver_id": "D1", "lap_number": 1, "lap_time": 91.0}]),
        lambda: store.delete_session(99),
    ]:
        with pytest.raises(racestore.NotFound) as raised:
            call()
        assert (raised.value.what, raised.value.id) == ("session", 99)
        assert isinstance(raised.value, LookupError)
    assert store.counts() == before


def test_values_from_numpy_and_pandas_convert_as_users_pass_them(store):
    session = store.create_session("Barber")
    store.save_lap_data(
        np.int64(session), np.str_("GR86-002-7"), np.int32(4), np.float32(91.5),
        {"S1": np.float64(29.3), "S2": np.float32(32.0), "S3": np.nan}, "normal", np.int64(3),
    )
    store.save_lap_data(session, np.int64(13), 5.0, np.float64(92.0), {"S1": pd.NA, "S2": None}, "normal", float("nan"))
    store.save_lap_data(session, "D2", 6, 92.5, {}, "normal", pd.NA)
    laps = store.get_session_laps(session)
    assert [(l["driver_id"], l["lap_number"], l["lap_time"], l["position"]) for l in laps] == [
        ("GR86-002-7", 4, 91.5, 3), ("13", 5, 92.0, None), ("D2", 6, 92.5, None),
    ]
    assert (laps[0]["sector_1"], laps[0]["sector_2"], laps[0]["sector_3"]) == (29.3, 32.0, None)
    assert laps[1]["sector_1"] is None and laps[1]["sector_2"] is None
    for lap in laps:
        assert type(lap["lap_number"]) is int and type(lap["lap_time"]) is float

    store.save_prediction(session, "D1", "lap_time", np.float64(91.4), "m.pkl", np.nan)
    assert store.get_session_predictions(session)[0]["confidence"] is None

    # Nested values: NumPy scalars and arrays as plain numbers and lists, NaN and pd.NA as None,
    # keys that are not strings as the strings json.dumps makes of them.
    store.save_driver_metrics(session, "D1", {
        "consistency_index": np.float64(0.91),
        "aggression_score": {"aggression_score": np.float32(0.5), "interpretation": "Balanced"},
        "pace_stability": {"slope": np.float64(0.01), "significant": np.bool_(True), "p_value": np.nan},
        "sector_strength": {1: np.int64(2), 2.5: 1.0, False: "f", None: pd.NA, np.int64(7): [np.float64(1.5)]},
        "fatigue_dropoff": {"laps": np.array([1, 2, 3]), "avg": np.array([90.5, np.nan])},
    })
    metrics = store.get_session_metrics(session)[0]
    assert metrics["consistency_index"] == 0.91 and metrics["aggression_score"] == 0.5
    assert metrics["pace_stability"] == {"slope": 0.01, "significant": True, "p_value": None}
    assert metrics["sector_strength"] == {"1": 2, "2.5": 1.0, "false": "f", "null": None, "7": [1.5]}
    assert metrics["fatigue_dropoff"] == {"laps": [1, 2, 3], "avg": [90.5, None]}
    assert json.dumps({1: 2, 2.5: 1.0, False: "f", None: None}) == '{"1": 2, "2.5": 1.0, "false": "f", "null": null}'


def test_save_laps_takes_dicts_or_a_data_frame_all_or_nothing(store):
    s1 = store.create_session("Barber")
    s2 = store.create_session("Sonoma")
    ids = store.save_laps([
        {"session_id": s1, "driver_id": "D1", "lap_number": 1, "lap_time": 91.0, "sectors": SECTORS,
         "lap_type": "RACE_LAP", "position": 1},
        {"session_id": s1, "driver_id": "D2", "lap_number": 1, "lap_time": 91.5, "sector_1": 30.0},
    ])
    assert ids == [1, 2]
    frame = pd.DataFrame({
        "driver_id": ["D1", "D2", "D3"],
        "lap_number": [2, 2, 2],
        "lap_time": [90.5, 90.7, 91.9],
        "sector_1": [30.0, np.nan, 30.2],
        "position": [1, np.nan, 3],  # a NaN makes the column float64
        "lap_type": pd.Categorical(["RACE_LAP", "RACE_LAP", "IN_LAP"]),
    }, index=[10, 20, 30])
    assert store.save_laps(frame, session_id=s2) == [3, 4, 5]
    laps = store.get_session_laps(s2)
    assert [(l["driver_id"], l["position"], l["sector_1"], l["lap_type"]) for l in laps] == [
        ("D1", 1, 30.0, "RACE_LAP"), ("D2", None, None, "RACE_LAP"), ("D3", 3, 30.2, "IN_LAP"),
    ]
    assert store.get_session_laps(s1)[1]["lap_type"] == "normal"  # the library's default
    nullable = pd.DataFrame({"session_id": [s1], "driver_id": ["D9"], "lap_number": [3],
                             "lap_time": [92.0], "position": pd.array([pd.NA], dtype="Int64")})
    assert store.save_laps(nullable) == [6]

    before = store.counts()
    bad = frame.copy()
    bad.loc[30, "lap_time"] = -1.0
    with pytest.raises(racestore.InvalidInput) as raised:
        store.save_laps(bad, session_id=s2)
    assert raised.value.field == "rows[2].lap_time"
    with pytest.raises(racestore.InvalidInput) as raised:
        store.save_laps([{"session_id": s1, "driver_id": "D1", "lap_number": 1, "lap_time": 91.0, "speed": 200}])
    assert raised.value.field == "rows[0].speed"
    with pytest.raises(racestore.InvalidInput) as raised:
        store.save_laps([{"session_id": s1, "driver_id": "D1", "lap_time": 91.0}])
    assert raised.value.field == "rows[0].lap_number"
    with pytest.raises(racestore.InvalidInput) as raised:
        store.save_laps({"session_id": s1})
    assert raised.value.field == "rows"
    with pytest.raises(racestore.NotFound):
        store.save_laps([{"session_id": s1, "driver_id": "D1", "lap_number": 1, "lap_time": 91.0},
                         {"session_id": 99, "driver_id": "D1", "lap_number": 1, "lap_time": 91.0}])
    assert store.counts() == before
    assert store.save_laps([]) == []


def test_a_keyboard_interrupt_while_rows_are_read_stores_nothing_and_leaves_the_store_usable(store):
    session = store.create_session("Barber")

    def rows():
        for i in range(50_000):
            if i == 30_000:
                raise KeyboardInterrupt
            yield {"session_id": session, "driver_id": "D1", "lap_number": i, "lap_time": 90.0}

    with pytest.raises(KeyboardInterrupt):
        store.save_laps(rows())
    assert store.counts()["laps"] == 0
    assert store.save_laps([{"session_id": session, "driver_id": "D1", "lap_number": 1, "lap_time": 90.0}]) == [1]


def test_clear_all_delete_and_counts(store):
    scenario(store)
    assert store.counts() == {"sessions": 2, "driver_metrics": 1, "laps": 2, "predictions": 1, "simulations": 1, "entries": 0}
    assert store.delete_session(2) == {"sessions": 1, "driver_metrics": 0, "laps": 0, "predictions": 0, "simulations": 0, "entries": 0}
    assert store.clear_all() is None
    assert store.counts() == {"sessions": 0, "driver_metrics": 0, "laps": 0, "predictions": 0, "simulations": 0, "entries": 0}
    assert store.get_sessions() == []
    # Ids go on counting, as the original's did in the process that cleared it.
    assert store.create_session("Barber") == 3


def test_opening_one_location_twice_shares_one_store_never_a_lock_error(tmp):
    a = racestore.RaceStorage("storage")
    b = racestore.RaceStorage(tmp / "storage")
    (tmp / "sub").mkdir()
    c = racestore.open("json:" + str(tmp / "sub" / ".." / "storage"))
    session = a.create_session("Barber")
    b.save_lap_data(session, "D1", 1, 91.0, SECTORS, "normal", 1)
    assert len(c.get_session_laps(session)) == 1
    a.close()
    b.close()
    # One handle left: the store is still open.
    c.save_lap_data(session, "D1", 2, 91.0, SECTORS, "normal", 1)
    c.close()
    with pytest.raises(racestore.StoreClosed):
        c.get_sessions()


def test_get_db_gives_one_object_per_directory_and_the_store_of_the_directory_asked_for(tmp):
    first = racestore.get_db()
    assert racestore.get_db() is first and racestore.get_db("storage") is first
    assert racestore.get_db(tmp / "storage") is first
    other = racestore.get_db("other")
    assert other is not first
    other.create_session("Sonoma")
    # The original kept writing into the first directory; racestore writes where it was asked to.
    assert first.get_sessions() == [] and len(other.get_sessions()) == 1
    assert json.loads((tmp / "other" / "race_sessions.json").read_text())[0]["circuit"] == "Sonoma"
    assert other.storage_dir == Path("other") and other.lap_data_file == Path("other") / "lap_data.json"


def test_the_json_store_stays_usable_after_close_as_the_originals_did(tmp):
    db = racestore.get_db()
    session = db.create_session("Barber")
    db.close()
    assert db.closed
    # The directory is released: another process could open it now.
    check = subprocess.run(
        [sys.executable, "-c", "import racestore; racestore.open('json:storage').close()"],
        capture_output=True, text=True,
    )
    assert check.returncode == 0, check.stderr
    # And the object is still usable, as the original's (whose close() did nothing).
    db.save_lap_data(session, "D1", 1, 91.0, SECTORS, "normal", 1)
    assert not db.closed and len(db.get_session_laps(session)) == 1


def test_with_closes_and_a_closed_store_says_so(tmp):
    with racestore.open("sqlite:race.db") as db:
        db.create_session("Barber")
        assert repr(db) == "<Store sqlite:race.db>"
    assert db.closed and repr(db) == "<Store sqlite:race.db, closed>"
    with pytest.raises(racestore.StoreClosed):
        db.get_sessions()
    db.close()  # closing twice is harmless


def test_laps_frame_has_proper_dtypes(store):
    session = store.create_session("Barber")
    store.save_lap_data(session, "D1", 1, 91.0, SECTORS, "RACE_LAP", 1)
    store.save_lap_data(session, "D2", 1, 92.0, {"S1": 30.0}, "OUT_LAP", None)
    frame = store.laps_frame(session)
    assert list(frame.columns) == LAP_KEYS
    assert {c: str(t) for c, t in frame.dtypes.items()} == {
        "id": "int64", "session_id": "int64", "driver_id": "string", "lap_number": "int64",
        "lap_time": "float64", "sector_1": "float64", "sector_2": "float64", "sector_3": "float64",
        "lap_type": "string", "position": "Int64", "created_at": "datetime64[ns, UTC]",
    }
    assert frame["position"].isna().tolist() == [False, True]
    assert math.isnan(frame["sector_2"][1])
    empty = store.laps_frame(99)
    assert len(empty) == 0 and str(empty["lap_time"].dtype) == "float64"
    # Round trip: the frame's lap columns save back as a batch.
    again = store.save_laps(frame.drop(columns=["id", "created_at"]))
    assert len(again) == 2


def test_laps_frame_without_pandas_raises_an_error_naming_pandas(tmp):
    code = (
        "import sys; sys.modules['pandas'] = None\n"
        "import racestore\n"
        "db = racestore.open('json:storage')\n"
        "try:\n"
        "    db.laps_frame(1)\n"
        "except racestore.MissingDependency as e:\n"
        "    assert isinstance(e, ImportError) and e.package == 'pandas'\n"
        "    print(e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "laps_frame() needs pandas" in result.stdout and "pip install pandas" in result.stdout


def test_a_store_another_process_has_open_is_shared_and_each_sees_the_others_saves(tmp):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import racestore, sys\n"
         "db = racestore.open('json:storage')\n"
         "session = db.create_session('Barber')\n"
         "print('open', session, flush=True)\n"
         "sys.stdin.readline()\n"
         "print(len(db.get_session_laps(session)), flush=True)\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        word, session = holder.stdout.readline().split()
        assert word == "open"
        with racestore.open("json:storage") as db:
            assert [s["circuit"] for s in db.get_sessions()] == ["Barber"]
            db.save_lap_data(int(session), "D1", 1, 91.0, SECTORS, "normal", 1)
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "1"
    finally:
        holder.communicate("")
    assert holder.returncode == 0


def test_a_damaged_file_raises_corrupt_store_naming_file_and_position(tmp):
    with racestore.open("json:storage") as db:
        session = db.create_session("Barber")
        for lap in range(3):
            db.save_lap_data(session, "D1", lap, 91.0, SECTORS, "normal", 1)
    path = tmp / "storage" / "lap_data.json"
    text = path.read_text()
    damaged = text.replace('"lap_time": 91.0', '"lap_time": 9x1.0', 1)
    path.write_text(damaged)
    with pytest.raises(racestore.CorruptStore) as raised:
        racestore.open("json:storage")
    error = raised.value
    assert error.path.endswith("lap_data.json") and error.offset == damaged.index("9x1.0") + 1
    assert error.line == damaged[: error.offset].count("\n") + 1 and error.column > 0
    assert "lap_data.json" in str(error) and path.read_text() == damaged  # nothing changed


def test_unsupported_urls_and_pickling(tmp):
    with pytest.raises(racestore.UnsupportedUrl) as raised:
        racestore.open("mongodb://x")
    assert isinstance(raised.value, ValueError)
    with pytest.raises(racestore.UnsupportedUrl) as raised:
        racestore.open("postgres://race:hunter2@127.0.0.1/db?pool_size=zero")
    assert "hunter2" not in str(raised.value) and "race:***@" in raised.value.url
    import pickle
    with racestore.open("json:storage") as db, pytest.raises(TypeError, match="open the store there"):
        pickle.dumps(db)


def test_every_public_name_has_a_docstring():
    import racestore.errors
    for module in (racestore, db_sqlite, racestore.errors):
        for name in module.__all__:
            item = getattr(module, name)
            if isinstance(item, (str, tuple)):
                continue
            assert (item.__doc__ or "").strip(), f"{module.__name__}.{name}"
            if isinstance(item, type):
                for attr, value in vars(item).items():
                    if callable(value) and not attr.startswith("_"):
                        assert (value.__doc__ or "").strip(), f"{name}.{attr}"
    for name, value in vars(racestore._native.NativeStore).items():
        if not name.startswith("_") or name in ("__new__",):
            assert (getattr(value, "__doc__", "") or "").strip(), f"NativeStore.{name}"


def test_the_environment_url_is_the_default_of_open(tmp, monkeypatch):
    monkeypatch.setenv("RACESTORE_URL", "sqlite:env.db")
    with racestore.open() as db:
        db.create_session("Barber")
        assert db.url == "sqlite:env.db"
    assert (tmp / "env.db").exists()
    monkeypatch.delenv("RACESTORE_URL")
    with racestore.open() as db:
        assert db.url == "json:storage"


def test_a_read_only_store_refuses_writes_and_a_damaged_one_is_refused_naming_the_file(tmp_path):
    storage = tmp_path / "storage"
    db = racestore.open(f"json:{storage}")
    session = db.create_session("Barber Motorsports Park")
    db.close()
    ro = racestore.open(f"json:{storage}?mode=ro")
    assert [s["id"] for s in ro.get_sessions()] == [session]
    with pytest.raises(racestore.StoreReadOnly) as raised:
        ro.create_session("Sonoma Raceway")
    assert raised.value.path == str(storage)
    ro.close()
    (storage / "lap_data.json").unlink()
    with pytest.raises(racestore.StoreDamaged) as raised:
        racestore.open(f"json:{storage}")
    assert raised.value.path == str(storage / "lap_data.json")
    assert "--recreate-missing" in str(raised.value)
    assert not (storage / "lap_data.json").exists()


def test_entries_classify_a_shared_car_with_its_drivers_and_class_position(store):
    # Car 007 shared by two drivers, car 8 by one: the library's classification, per car.
    s = store.create_session("Circuit de la Sarthe", "2024-06-15T16:00:00", "race")
    store.save_laps([
        {"driver_id": "007-1", "lap_number": 1, "lap_time": 100.0},
        {"driver_id": "8-1", "lap_number": 1, "lap_time": 99.0},
        {"driver_id": "007-2", "lap_number": 2, "lap_time": 95.0},
        {"driver_id": "8-1", "lap_number": 2, "lap_time": 99.0},
        {"driver_id": "007-1", "lap_number": 3, "lap_time": 96.0},
    ], session_id=s)
    ids = store.save_entries(s, [
        {"driver_id": "007-1", "car_number": "007", "driver_name": "Ann A", "class": "HYPERCAR", "team": "T1"},
        {"driver_id": "007-2", "car_number": "007", "driver_name": "Bo B", "class": "HYPERCAR", "team": "T1"},
        {"driver_id": "8-1", "car_number": "8", "class": "LMGT3", "group": None},
    ])
    assert ids == [1, 2, 3]
    entries = store.get_session_entries(s)
    assert [e["car_number"] for e in entries] == ["007", "007", "8"]
    assert entries[2]["driver_name"] is None
    shown = store.session_classification(s)
    rows = [(c["car"], c["position"], c["class"], c["class_position"], c["laps"]) for c in shown["classification"]]
    assert rows == [("007", 1, "HYPERCAR", 1, 3), ("8", 2, "LMGT3", 1, 2)]
    assert [(d["driver_id"], d["driver_name"], d["laps"]) for d in shown["classification"][0]["drivers"]] == [
        ("007-1", "Ann A", 2),
        ("007-2", "Bo B", 1),
    ]
    assert store.session_classification(999) is None
    # A blank value is refused naming the field, and nothing is stored.
    with pytest.raises(racestore.InvalidInput, match="team"):
        store.save_entries(s, [{"driver_id": "8-2", "team": " "}])
    assert len(store.get_session_entries(s)) == 3

"""racestore against the original: the same calls through the original GR Race Guardian modules
(``storage.py``, ``db_sqlite.py`` in ../shared/original-python) and through the package's
matching modules (``racestore``, ``racestore.db_sqlite``).

For valid input both return the same values and keep the same records (timestamps aside, which
each writes in its own format); each opens and reads what the other wrote. For bad input the
original accepts, racestore raises its documented exception naming the field and stores nothing:
every such case is in ``DIVERGENCES`` below (and in README's Python section).

Without ../shared these tests skip with a reason; with ``CI`` set they fail instead.
"""

import inspect
import json
import math
from pathlib import Path

import pytest

import racestore
import racestore.db_sqlite

from conftest import copy_writable

D1, D2 = "GR86-002-7", "GR86-013-22"
TIMESTAMPS = ("created_at", "updated_at")


def run_scenario(db):
    """One call of every method (the fixtures' scenario, then every read), returning what each
    call returned, in order."""
    out = []
    call = lambda name, *args, **kwargs: out.append((name, getattr(db, name)(*args, **kwargs)))  # noqa: E731
    call("create_session", "Barber Motorsports Park", "2025-09-06T14:00:00", "race")
    call("create_session", "Autódromo Hermanos Rodríguez", race_type="qualifying")
    call("save_driver_metrics", 1, D1, {
        "consistency_index": 0.912,
        "aggression_score": {"aggression_score": 0.65, "brake_events": 12},
        "sector_strength": {"S1": 0.98, "S2": 1.01, "S3": 0.99},
        "pace_stability": {"std": 0.41, "trend": -0.02},
        "fatigue_dropoff": {"dropoff_per_lap": 0.035},
    })
    call("save_driver_metrics", 1, D2, {"aggression_score": {"aggression_score": 0.72}, "sector_strength": {"S1": 1.02, "S2": 0.97}})
    call("save_lap_data", 1, D1, 1, 91.482, {"S1": 29.301, "S2": 32.05, "S3": 30.131}, "normal", 1)
    call("save_lap_data", 1, D2, 1, 91.907, {"S1": 29.5, "S2": 32.2, "S3": 30.207}, "normal", 2)
    call("save_lap_data", 1, D1, 2, 92, {"S1": 29.4, "S2": 32.3, "S3": 30.3}, "normal", 1)
    call("save_lap_data", 1, D2, 2, 118.25, {"S1": 29.6, "S2": 32.4}, "pit", 2)
    call("save_lap_data", session_id=2, driver_id=D1, lap_number=1, lap_time=90.015,
         sectors={"S1": 28.9, "S2": 31.515, "S3": 29.6}, lap_type="qualifying", position=1)
    call("save_lap_data", 2, D2, 1, 90.5, {"S1": 29.0, "S2": 31.7, "S3": 29.8}, "qualifying", 2)
    call("save_prediction", 1, D1, "lap_time", 91.482, "models/lap_time_predictor.pkl", 0.87)
    call("save_prediction", 1, D2, "finish_position", 2.0, "models/position_model.pkl")
    call("save_simulation", 1, {D1: 91.5, D2: 91.8}, 20, 1000, {
        "win_probability": {D1: 0.62, D2: 0.38},
        "expected_positions": {D1: 1.38, D2: 1.62},
        "note": "Pérez-style undercut – low tyre wear",
    })
    out.extend(reads(db))
    return out


def reads(db):
    return [
        ("get_session_metrics(1)", db.get_session_metrics(1)),
        ("get_session_metrics(2)", db.get_session_metrics(2)),
        ("get_session_laps(1)", db.get_session_laps(1)),
        ("get_session_laps(2)", db.get_session_laps(2)),
        ("get_session_laps(3)", db.get_session_laps(3)),
        ("get_session_predictions(1)", db.get_session_predictions(1)),
        ("get_sessions()", db.get_sessions()),
        ("get_sessions(circuit)", db.get_sessions("Barber Motorsports Park")),
        ("get_sessions('')", db.get_sessions("")),
    ]


def without_clock(results):
    """The results with what depends on the clock left out: timestamps, and session 2's date
    (``now`` when created)."""
    cleaned = []
    for name, value in results:
        if isinstance(value, list):
            value = [
                {k: v for k, v in record.items()
                 if k not in TIMESTAMPS and not (k == "date" and record.get("id") == 2)}
                for record in value
            ]
        cleaned.append((name, value))
    return cleaned


def parsed_json_columns(results):
    """SQLite results with their JSON-text columns parsed (racestore's SQLite files keep JSON
    without the original's spaces; the values are the same)."""
    out = []
    for name, value in results:
        if isinstance(value, list):
            value = [
                {k: json.loads(v) if k in ("sector_strength", "pace_stability", "fatigue_dropoff") else v
                 for k, v in record.items()}
                for record in value
            ]
        out.append((name, value))
    return out


def assert_same_types(ours, theirs, allowed):
    """Every returned value has the original's Python type, except the (key, original type,
    racestore type) triples in ``allowed``."""
    for (name, a), (_, b) in zip(ours, theirs):
        if not isinstance(a, list):
            assert type(a) is type(b), name
            continue
        for record_a, record_b in zip(a, b):
            assert list(record_a) == list(record_b), name  # same keys, same order
            for key in record_a:
                ta, tb = type(record_a[key]), type(record_b[key])
                if ta is not tb:
                    assert (key, tb, ta) in allowed, f"{name} {key}: original {tb}, racestore {ta}"


def test_the_methods_have_the_originals_names_parameters_order_and_defaults(original):
    for theirs, ours in [
        (original.storage.RaceStorage, racestore.RaceStorage),
        (original.db_sqlite.RaceDatabase, racestore.db_sqlite.RaceDatabase),
    ]:
        methods = [n for n, v in vars(theirs).items() if callable(v) and not n.startswith("_")]
        assert len(methods) >= 10
        for name in methods:
            expected = [(p.name, p.default) for p in inspect.signature(getattr(theirs, name)).parameters.values()][1:]
            actual = [(p.name, p.default) for p in inspect.signature(getattr(ours, name)).parameters.values()][1:]
            assert actual == expected, f"{ours.__name__}.{name}"
        init = [(p.name, p.default) for p in inspect.signature(theirs.__init__).parameters.values()][1:]
        assert [(p.name, p.default) for p in inspect.signature(ours).parameters.values()] == init
    for theirs, ours in [(original.storage.get_db, racestore.get_db), (original.db_sqlite.get_db, racestore.db_sqlite.get_db)]:
        assert [(p.name, p.default) for p in inspect.signature(ours).parameters.values()] == \
            [(p.name, p.default) for p in inspect.signature(theirs).parameters.values()]
    # The package exports what the original's database/__init__.py does, with the same meaning.
    assert set(original.__all__) <= set(racestore.__all__)
    assert original.RaceDatabase is original.RaceStorage and racestore.RaceDatabase is racestore.RaceStorage


def test_json_store_same_returns_and_records_and_each_reads_the_others_files(original, tmp):
    theirs_dir, ours_dir = tmp / "original", tmp / "racestore"
    theirs = run_scenario(original.storage.RaceStorage(str(theirs_dir)))
    db = racestore.RaceStorage(ours_dir)
    ours = run_scenario(db)
    assert [r for n, r in ours[:13]] == [1, 2] + [None] * 10 + [1]
    assert without_clock(ours) == without_clock(theirs)
    # The same Python types, except lap 3's lap_time: the original kept the int 92 it was given,
    # racestore stores lap times as floats (92.0, equal to 92).
    assert_same_types(ours, theirs, allowed={("lap_time", int, float)})
    db.close()

    # Each reads the other's directory: exactly what its writer reads, timestamps included.
    their_view_of_ours = reads(original.storage.RaceStorage(str(ours_dir)))
    with racestore.RaceStorage(ours_dir) as again:
        assert their_view_of_ours == reads(again)
    with racestore.RaceStorage(theirs_dir) as ours_of_theirs:
        assert reads(ours_of_theirs) == reads(original.storage.RaceStorage(str(theirs_dir)))
        # ... and then writes into it, continuing its ids; the original reads that too.
        assert ours_of_theirs.create_session("Sonoma Raceway") == 3
        ours_of_theirs.save_lap_data(3, D1, 1, 95.1, {"S1": 30.0}, "normal", 1)
    after = original.storage.RaceStorage(str(theirs_dir))
    assert after.get_sessions("Sonoma Raceway")[0]["id"] == 3
    assert after.get_session_laps(3)[0]["id"] == 7 and after.get_session_laps(3)[0]["sector_2"] is None


def test_json_clear_all_and_ids_after_it_match(original, tmp):
    theirs = original.storage.RaceStorage(str(tmp / "original"))
    ours = racestore.RaceStorage(tmp / "racestore")
    for db in (theirs, ours):
        run_scenario(db)
        assert db.clear_all() is None
        assert db.get_sessions() == [] and db.get_session_laps(1) == []
    # In the process that cleared it, the next id continues in both.
    assert ours.create_session("Barber") == theirs.create_session("Barber") == 3
    ours.close()


def test_sqlite_store_same_returns_and_records_and_each_reads_the_others_file(original, tmp):
    theirs_db = original.db_sqlite.RaceDatabase(str(tmp / "original.db"))
    theirs = run_scenario(theirs_db)
    ours_db = racestore.db_sqlite.RaceDatabase(str(tmp / "racestore.db"))
    ours = run_scenario(ours_db)
    assert [r for n, r in ours[:13]] == [1, 2] + [None] * 10 + [1]
    # The JSON columns come back as the original's json.dumps text, character for character.
    assert without_clock(ours) == without_clock(theirs)
    assert_same_types(ours, theirs, allowed=set())
    theirs_db.close()
    ours_db.close()

    # Each reads the other's file. The original's reads of racestore's file are the values
    # racestore reads (racestore keeps JSON text without json.dumps's spaces, so the original
    # returns '{"S1":0.98,...}' where racestore returns '{"S1": 0.98, ...}': the same JSON).
    their_view = original.db_sqlite.RaceDatabase(str(tmp / "racestore.db"))
    with racestore.db_sqlite.RaceDatabase(str(tmp / "racestore.db")) as again:
        assert parsed_json_columns(reads(their_view)) == parsed_json_columns(reads(again))
    their_view.close()
    with racestore.db_sqlite.RaceDatabase(str(tmp / "original.db")) as ours_of_theirs:
        original_again = original.db_sqlite.RaceDatabase(str(tmp / "original.db"))
        assert reads(ours_of_theirs) == reads(original_again)  # text, timestamps and all
        original_again.close()
        assert ours_of_theirs.create_session("Sonoma Raceway") == 3
        ours_of_theirs.save_lap_data(3, D1, 1, 95.1, {"S1": 30.0}, "normal", 1)
    after = original.db_sqlite.RaceDatabase(str(tmp / "original.db"))
    assert after.get_session_laps(3)[0]["id"] == 7
    after.close()


def test_the_originals_fixtures_open_and_read_back_exactly(original, shared, tmp):
    fixtures = shared / "fixtures"
    json_dir = copy_writable(fixtures / "original-json-storage", tmp / "json")
    five = ("race_sessions.json", "driver_metrics.json", "lap_data.json", "predictions.json", "simulations.json")
    before = {name: (json_dir / name).read_bytes() for name in five}
    expected = reads(original.storage.RaceStorage(str(fixtures / "original-json-storage")))
    with racestore.RaceStorage(json_dir) as db:
        got = reads(db)
    assert got == expected
    # Reading changed none of the five files (racestore adds its own entries.json beside them).
    assert {name: (json_dir / name).read_bytes() for name in five} == before
    # What the fixtures' README says a reader must find.
    metrics = dict(got)["get_session_metrics(1)"]
    assert metrics[0]["aggression_score"] == 0.65 and metrics[1]["consistency_index"] is None
    assert metrics[1]["pace_stability"] == {} and metrics[1]["fatigue_dropoff"] == {}
    laps = dict(got)["get_session_laps(1)"]
    assert [lap["id"] for lap in laps] == [1, 2, 3, 4] and laps[3]["sector_3"] is None
    assert laps[2]["lap_time"] == 92

    sqlite_file = copy_writable(fixtures / "original-sqlite" / "race_data.db", tmp / "race_data.db")
    theirs = original.db_sqlite.RaceDatabase(str(fixtures / "original-sqlite" / "race_data.db"))
    expected = reads(theirs)
    theirs.close()
    with racestore.db_sqlite.RaceDatabase(str(sqlite_file)) as db:
        got = reads(db)
    assert got == expected  # JSON columns as the original's text, timestamps as it wrote them
    assert dict(got)["get_session_metrics(1)"][0]["sector_strength"] == '{"S1": 0.98, "S2": 1.01, "S3": 0.99}'
    assert dict(got)["get_session_laps(1)"][2]["lap_time"] == 92.0


def nan_lap(db):
    db.save_lap_data(1, D1, 3, float("nan"), {"S1": 29.4}, "normal", 1)


# Bad input the original accepts and stores, and racestore refuses with the exception and field
# named here, storing nothing. README's Python section lists the same cases.
DIVERGENCES = [
    ("a NaN lap time", nan_lap, racestore.InvalidInput, "lap_time"),
    ("an infinite lap time", lambda db: db.save_lap_data(1, D1, 3, math.inf, {}, "normal", 1), racestore.InvalidInput, "lap_time"),
    ("a negative lap time", lambda db: db.save_lap_data(1, D1, 3, -91.0, {}, "normal", 1), racestore.InvalidInput, "lap_time"),
    ("a lap time given as text", lambda db: db.save_lap_data(1, D1, 3, "91.5", {}, "normal", 1), racestore.InvalidInput, "lap_time"),
    ("a negative lap number", lambda db: db.save_lap_data(1, D1, -1, 91.0, {}, "normal", 1), racestore.InvalidInput, "lap_number"),
    ("position 0", lambda db: db.save_lap_data(1, D1, 3, 91.0, {}, "normal", 0), racestore.InvalidInput, "position"),
    ("a blank driver id", lambda db: db.save_lap_data(1, "", 3, 91.0, {}, "normal", 1), racestore.InvalidInput, "driver_id"),
    ("a sector that is not a number", lambda db: db.save_lap_data(1, D1, 3, 91.0, {"S1": "fast"}, "normal", 1), racestore.InvalidInput, "sectors.S1"),
    ("an unknown sector key (the original dropped it)", lambda db: db.save_lap_data(1, D1, 3, 91.0, {"S4": 9.0}, "normal", 1), racestore.InvalidInput, "sectors.S4"),
    ("a lap in an unknown session", lambda db: db.save_lap_data(99, D1, 3, 91.0, {}, "normal", 1), racestore.NotFound, None),
    ("metrics in an unknown session", lambda db: db.save_driver_metrics(99, D1, {}), racestore.NotFound, None),
    ("an unknown metric key (the original dropped it)", lambda db: db.save_driver_metrics(1, D1, {"consistancy_index": 0.9}), racestore.InvalidInput, "metrics.consistancy_index"),
    ("an infinite number inside a metrics object", lambda db: db.save_driver_metrics(1, D1, {"pace_stability": {"std": math.inf}}), racestore.InvalidInput, "metrics.pace_stability.std"),
    ("a prediction in an unknown session", lambda db: db.save_prediction(99, D1, "lap_time", 91.0, "m.pkl"), racestore.NotFound, None),
    ("a NaN prediction value", lambda db: db.save_prediction(1, D1, "lap_time", float("nan"), "m.pkl"), racestore.InvalidInput, "prediction_value"),
    ("a confidence above 1", lambda db: db.save_prediction(1, D1, "lap_time", 91.0, "m.pkl", 1.5), racestore.InvalidInput, "confidence"),
    ("a simulation in an unknown session", lambda db: db.save_simulation(99, {D1: 91.0}, 20, 1000, {}), racestore.NotFound, None),
    ("a simulation of 0 laps", lambda db: db.save_simulation(1, {D1: 91.0}, 0, 1000, {}), racestore.InvalidInput, "n_laps"),
    ("driver paces that are not an object", lambda db: db.save_simulation(1, [91.0, 91.5], 20, 1000, {}), racestore.InvalidInput, "driver_paces"),
    ("a blank circuit", lambda db: db.create_session(""), racestore.InvalidInput, "circuit"),
    ("a date that is not ISO 8601", lambda db: db.create_session("Barber", "06/09/2025"), racestore.InvalidInput, "date"),
]


TABLES = ("race_sessions", "driver_metrics", "lap_data", "predictions", "simulations")


def stored_by_original(db):
    """How many records the original holds, in every collection, whatever their session."""
    if hasattr(db, "storage_dir"):
        return sum(len(json.loads((Path(db.storage_dir) / f"{table}.json").read_text())) for table in TABLES)
    return sum(db.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in TABLES)


@pytest.mark.parametrize("backend", ["json", "sqlite"])
@pytest.mark.parametrize("case,call,error,field", DIVERGENCES, ids=[d[0] for d in DIVERGENCES])
def test_bad_input_the_original_accepts_racestore_refuses_naming_the_field(original, tmp, backend, case, call, error, field):
    if backend == "json":
        theirs = original.storage.RaceStorage(str(tmp / "original"))
        ours = racestore.RaceStorage(tmp / "racestore")
    else:
        theirs = original.db_sqlite.RaceDatabase(str(tmp / "original.db"))
        ours = racestore.db_sqlite.RaceDatabase(str(tmp / "racestore.db"))
    for db in (theirs, ours):
        db.create_session("Barber Motorsports Park", "2025-09-06T14:00:00")
        db.save_lap_data(1, D1, 1, 91.482, {"S1": 29.301}, "normal", 1)

    # The original takes it without a word and stores it.
    before = stored_by_original(theirs)
    call(theirs)
    assert stored_by_original(theirs) == before + 1, case

    # racestore refuses it with its documented exception, naming the field, and stores nothing.
    recorded, counted = reads(ours), ours.counts()
    with pytest.raises(error) as raised:
        call(ours)
    if field is not None:
        assert raised.value.field == field and field in str(raised.value)
    else:
        assert (raised.value.what, raised.value.id) == ("session", 99)
    assert reads(ours) == recorded and ours.counts() == counted
    ours.close()
    if backend == "sqlite":
        theirs.close()


def test_get_db_with_another_directory_gives_that_directory_where_the_original_ignored_it(original, tmp, monkeypatch):
    first = original.storage.get_db(str(tmp / "a"))
    second = original.storage.get_db(str(tmp / "b"))
    assert second is first and first.storage_dir == tmp / "a"  # the original ignored "b"
    ours_a = racestore.get_db(tmp / "a2")
    ours_b = racestore.get_db(tmp / "b2")
    assert ours_b is not ours_a and ours_b.storage_dir == tmp / "b2"
    ours_b.create_session("Sonoma")
    assert ours_a.get_sessions() == [] and len(ours_b.get_sessions()) == 1
    monkeypatch.setattr(original.storage, "_storage_instance", None)

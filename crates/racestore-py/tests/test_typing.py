"""The type stubs: mypy knows every signature, and the stubs match the compiled module."""

import subprocess
import sys
import textwrap
from pathlib import Path

TYPED_USE = '''
from typing import Any, Dict, List, Optional

import racestore
from racestore import db_sqlite, get_db


def use() -> None:
    db: racestore.RaceStorage = get_db("storage")
    session_id: int = db.create_session(circuit="Barber Motorsports Park", race_type="race")
    db.save_lap_data(session_id=session_id, driver_id="GR86-001", lap_number=1,
                     lap_time=95.234, sectors={"S1": 30.1, "S2": 32.5, "S3": 32.6},
                     lap_type="RACE_LAP", position=1)
    laps: List[Dict[str, Any]] = db.get_session_laps(session_id)
    ids: List[int] = db.save_laps(laps, session_id=session_id)
    simulation: int = db.save_simulation(session_id, {"D1": 91.5}, 20, 1000, {"p": 1.0})
    session: Optional[Dict[str, Any]] = db.get_session(session_id)
    with racestore.open("sqlite:race.db") as store:
        counts: Dict[str, int] = store.counts()
    sqlite: db_sqlite.RaceDatabase = db_sqlite.get_db("race.db")
    sqlite.close()
    try:
        db.save_prediction(session_id, "D1", "lap_time", 91.0, "m.pkl", confidence=0.5)
    except racestore.InvalidInput as error:
        field: str = error.field
    except racestore.NotFound as error:
        what: str = error.what
'''

WRONG_USE = '''
import racestore

db = racestore.get_db()
db.save_lap_data(1, "D1", "first", 91.0, {}, "normal", 1)
session: str = db.create_session("Barber")
db.save_lap(1)
'''


def mypy(tmp_path: Path, code: str) -> subprocess.CompletedProcess:
    path = tmp_path / "use.py"
    path.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(path)],
        capture_output=True, text=True, cwd=tmp_path,
    )


def test_mypy_strict_accepts_typed_use_of_the_package(tmp_path):
    result = mypy(tmp_path, TYPED_USE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_sees_wrong_arguments_and_unknown_methods(tmp_path):
    result = mypy(tmp_path, WRONG_USE)
    assert result.returncode == 1
    out = result.stdout
    assert 'Argument 3 to "save_lap_data" of "NativeStore" has incompatible type "str"; expected "int"' in out, out
    assert 'Incompatible types in assignment (expression has type "int", variable has type "str")' in out, out
    assert '"RaceStorage" has no attribute "save_lap"' in out, out


def test_the_stubs_match_the_compiled_module():
    # mypy's stubtest imports the modules and compares every name and signature with the stubs.
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "racestore"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found in 4 modules" in result.stdout

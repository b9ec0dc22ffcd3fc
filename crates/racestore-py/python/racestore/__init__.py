"""racestore from Python: race sessions, laps, driver metrics, predictions and simulations on a
JSON directory, SQLite or PostgreSQL, with the Rust library underneath.

A drop-in for GR Race Guardian's ``database`` package: change ``from database import get_db``
to ``from racestore import get_db`` and the rest of the code runs as it is::

    from racestore import get_db

    db = get_db()                                  # the JSON directory ./storage
    session_id = db.create_session(circuit="Barber Motorsports Park", race_type="race")
    db.save_lap_data(session_id=session_id, driver_id="GR86-001", lap_number=1, lap_time=95.234,
                     sectors={"S1": 30.1, "S2": 32.5, "S3": 32.6}, lap_type="RACE_LAP", position=1)
    laps = db.get_session_laps(session_id)         # a list of dicts, the original's keys in order

Any backend, by URL: ``with racestore.open("sqlite:race.db") as db: ...``. Code written against
the original ``db_sqlite.py`` imports :mod:`racestore.db_sqlite` instead.
"""

import os
import re
import threading
from pathlib import Path
from typing import Any, Dict, Optional, Union

from ._native import DEFAULT_URL, URL_ENV, NativeStore
from .errors import (
    BackendError,
    CorruptStore,
    Error,
    InvalidInput,
    MissingDependency,
    NotFound,
    StoreClosed,
    StoreDamaged,
    StoreIOError,
    StoreLocked,
    StorePoisoned,
    StoreReadOnly,
    UnsupportedUrl,
    UsedAfterFork,
)

__all__ = [
    "Store",
    "open",
    "RaceStorage",
    "RaceDatabase",
    "get_db",
    "DEFAULT_URL",
    "URL_ENV",
    "LAP_COLUMNS",
    "Error",
    "InvalidInput",
    "NotFound",
    "StoreLocked",
    "CorruptStore",
    "StoreDamaged",
    "StoreReadOnly",
    "StoreClosed",
    "StorePoisoned",
    "UnsupportedUrl",
    "StoreIOError",
    "BackendError",
    "UsedAfterFork",
    "MissingDependency",
]

#: The columns of ``get_session_laps``' dicts and of ``laps_frame``, in the original's order.
LAP_COLUMNS = (
    "id",
    "session_id",
    "driver_id",
    "lap_number",
    "lap_time",
    "sector_1",
    "sector_2",
    "sector_3",
    "lap_type",
    "position",
    "created_at",
)

_ZONED = re.compile(r"(Z|[+-]\d\d:\d\d)$")


class Store(NativeStore):
    """A racestore store: what :func:`open` returns, and the base of :class:`RaceStorage`.

    ``Store(url)`` opens the store ``url`` names (``json:DIR``, ``sqlite:FILE``,
    ``postgres://USER@HOST/DB?schema=NAME``; ``None`` is ``$RACESTORE_URL`` or ``json:storage``).
    Every open of the same location in one process shares one store (one index in memory), and
    other processes may have it open too, each seeing the others' saves; the store closes when every handle on it is closed (or collected). One object
    may be used from many threads at once: calls release the GIL while the store works. A store
    opened before a ``fork`` cannot be used in the child (:class:`UsedAfterFork`).

    Reads return lists of plain dicts with the original's keys in the original's order; JSON
    values (metrics objects, simulation paces and results) come back as dicts and lists.
    """

    def laps_frame(self, session_id: int) -> "Any":
        """The laps of a session as a pandas DataFrame, columns as :data:`LAP_COLUMNS`.

        dtypes: ``id``, ``session_id``, ``lap_number`` int64; ``lap_time`` and the sectors
        float64 (an untimed sector is NaN); ``driver_id`` and ``lap_type`` string; ``position``
        Int64 (nullable); ``created_at`` datetime64[ns, UTC] when every timestamp carries a zone
        (racestore's always do), else the text as written (the original wrote local times
        without one). Raises :class:`MissingDependency` when pandas is not installed.
        """
        try:
            import pandas as pd  # type: ignore[import-untyped, unused-ignore]
        except ImportError as error:
            raise _missing("pandas", "laps_frame()") from error
        columns = self._lap_columns(session_id)
        created = columns["created_at"]
        if all(_ZONED.search(text) for text in created):
            created_at = pd.to_datetime(pd.Series(created, dtype="string"), utc=True, format="ISO8601")
        else:
            created_at = pd.Series(created, dtype="string")
        return pd.DataFrame(
            {
                "id": pd.Series(columns["id"], dtype="int64"),
                "session_id": pd.Series(columns["session_id"], dtype="int64"),
                "driver_id": pd.Series(columns["driver_id"], dtype="string"),
                "lap_number": pd.Series(columns["lap_number"], dtype="int64"),
                "lap_time": pd.Series(columns["lap_time"], dtype="float64"),
                "sector_1": pd.Series(columns["sector_1"], dtype="float64"),
                "sector_2": pd.Series(columns["sector_2"], dtype="float64"),
                "sector_3": pd.Series(columns["sector_3"], dtype="float64"),
                "lap_type": pd.Series(columns["lap_type"], dtype="string"),
                "position": pd.Series(columns["position"], dtype="Int64"),
                "created_at": created_at,
            }
        )


def _missing(package: str, what: str) -> MissingDependency:
    error = MissingDependency(
        f"{what} needs {package}, which is not installed here: pip install {package} "
        f"(or pip install 'racestore[{package}]')"
    )
    error.package = package
    return error


def open(url: Optional[str] = None) -> Store:
    """Opens the store ``url`` names, on any backend, or takes a handle on it if this process
    has it open; see :class:`Store`. ``None`` is ``$RACESTORE_URL``, else ``json:storage``.

    Use it in a ``with`` block to close it at the end::

        with racestore.open("sqlite:race.db") as db:
            sessions = db.get_sessions()
    """
    return Store(url)


class RaceStorage(Store):
    """The original's JSON store, ``RaceStorage(storage_dir="storage")``: the directory of five
    JSON files the original wrote (created if missing), read and written by racestore.

    Its files stay the original's, byte for byte in format, so the original can read what
    racestore writes and the other way round. As in the original, ``close()`` does not stop the
    object from being used: it releases this handle, and the next call opens the store again.
    """

    storage_dir: Path
    sessions_file: Path
    metrics_file: Path
    lap_data_file: Path
    predictions_file: Path
    simulations_file: Path

    def __new__(cls, storage_dir: Union[str, "os.PathLike[str]"] = "storage") -> "RaceStorage":
        return super().__new__(cls, "json:" + os.fspath(storage_dir), reopen=True)

    def __init__(self, storage_dir: Union[str, "os.PathLike[str]"] = "storage") -> None:
        self.storage_dir = Path(storage_dir)
        self.sessions_file = self.storage_dir / "race_sessions.json"
        self.metrics_file = self.storage_dir / "driver_metrics.json"
        self.lap_data_file = self.storage_dir / "lap_data.json"
        self.predictions_file = self.storage_dir / "predictions.json"
        self.simulations_file = self.storage_dir / "simulations.json"


#: The original package's name for the JSON store (its ``database/__init__.py`` exported it).
RaceDatabase = RaceStorage

_instances: Dict[str, RaceStorage] = {}
_instances_lock = threading.Lock()


def get_db(storage_dir: Union[str, "os.PathLike[str]"] = "storage") -> RaceStorage:
    """The :class:`RaceStorage` of ``storage_dir``: the same object on every call with the same
    directory, as the original's ``get_db()`` gave its one instance.

    Unlike the original, which ignored the directory of every call after the first (and kept
    writing into the first), a call with another directory returns the store of **that**
    directory. In a forked child, or after the cached store failed to stay open, a new object
    is opened.
    """
    key = os.path.realpath(os.fspath(storage_dir))
    with _instances_lock:
        db = _instances.get(key)
        if db is None or db.opened_in_process != os.getpid():
            db = RaceStorage(storage_dir)
            _instances[key] = db
        return db

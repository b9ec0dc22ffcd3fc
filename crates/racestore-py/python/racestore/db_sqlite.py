"""The original ``database/db_sqlite.py``, on racestore's SQLite backend.

Code written against the original's SQLite module changes one import line::

    from racestore.db_sqlite import RaceDatabase, get_db

and gets what that module returned: the same dicts, with the metrics' and simulations' JSON
columns as ``json.dumps`` text (``'{"S1": 0.98, "S2": 1.01}'``), as the original kept and
returned them. A ``race_data.db`` the original wrote opens as it is, and the original can open
what racestore writes.
"""

import os
import threading
from typing import Dict, Union

from . import Store

__all__ = ["RaceDatabase", "get_db"]


class RaceDatabase(Store):
    """The original's SQLite store, ``RaceDatabase(db_path="race_data.db")``.

    Reads return JSON columns as ``json.dumps`` text, as the original did. After ``close()``
    every call raises :class:`racestore.StoreClosed`, as the original's closed connection did.
    """

    db_path: Union[str, "os.PathLike[str]"]

    def __new__(cls, db_path: Union[str, "os.PathLike[str]"] = "race_data.db") -> "RaceDatabase":
        return super().__new__(cls, "sqlite:" + os.fspath(db_path), json_text=True)

    def __init__(self, db_path: Union[str, "os.PathLike[str]"] = "race_data.db") -> None:
        self.db_path = db_path


_instances: Dict[str, RaceDatabase] = {}
_instances_lock = threading.Lock()


def get_db(db_path: Union[str, "os.PathLike[str]"] = "race_data.db") -> RaceDatabase:
    """The :class:`RaceDatabase` of ``db_path``: the same object on every call with the same
    file, as the original's ``get_db()`` gave its one instance.

    Unlike the original, which ignored the path of every call after the first, a call with
    another file returns the store of **that** file. Once the cached object is closed, or in a
    forked child, a new one is opened.
    """
    key = os.path.realpath(os.fspath(db_path))
    with _instances_lock:
        db = _instances.get(key)
        if db is None or db.closed or db.opened_in_process != os.getpid():
            db = RaceDatabase(db_path)
            _instances[key] = db
        return db

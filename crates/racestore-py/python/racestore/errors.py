"""The exceptions racestore raises: one base, :class:`Error`, and a class per kind of failure.

Each is raised by the native module for the matching error of the Rust library, with the
library's message (which names the field, file or record) and the details as attributes.
"""

from typing import Optional

__all__ = [
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


class Error(Exception):
    """Base class of every racestore error."""


class InvalidInput(Error, ValueError):
    """The input was refused before anything was stored (also a ``ValueError``).

    ``field`` names the value at fault as the caller named it (``lap_time``, ``sectors.S2``,
    ``metrics.aggression_score``, ``rows[12].position``); ``reason`` says why.
    """

    field: str = ""
    reason: str = ""


class NotFound(Error, LookupError):
    """A record the call refers to does not exist: a save into an unknown session, say.

    ``what`` is the kind of record (``"session"``), ``id`` the id looked for. Nothing was stored.
    """

    what: str = ""
    id: Optional[int] = None


class StoreLocked(Error):
    """Another process holds the store (no backend refuses a second process today).

    ``path`` is the store, ``holder`` who holds it (process id, program, since when).
    """

    path: str = ""
    holder: str = ""


class CorruptStore(Error):
    """A data file or row is damaged in a way racestore will not guess around; nothing changed.

    For a file: ``path``, ``offset`` (bytes), ``line`` and ``column`` of the first bad byte.
    For a database row: ``table`` and ``id``. The attributes that do not apply are ``None``.
    """

    path: Optional[str] = None
    offset: Optional[int] = None
    line: Optional[int] = None
    column: Optional[int] = None
    table: Optional[str] = None
    id: Optional[int] = None


class StoreDamaged(Error):
    """The store is damaged in a way opening will not repair on its own, as repairing would lose
    records: a data file missing, or a torn session record other files prove was saved.

    ``path`` is the damaged file; the message names the repair (``racestore check --repair`` with
    ``--recreate-missing`` or ``--drop-orphans``). Nothing was changed.
    """

    path: Optional[str] = None


class StoreReadOnly(Error):
    """The store was opened read-only (``?mode=ro``): nothing can be saved or deleted through it.

    ``path`` is the store's directory or file.
    """

    path: Optional[str] = None


class StoreClosed(Error):
    """The store was closed (``close()`` or the end of a ``with`` block)."""


class StorePoisoned(Error):
    """An earlier write failed, so the store no longer knows what reached the disk: reopen it."""


class UnsupportedUrl(Error, ValueError):
    """The store URL names no backend racestore has, or an option it does not know.

    ``url`` is the URL with any password replaced by ``***``.
    """

    url: str = ""


class StoreIOError(Error, OSError):
    """Reading or writing a file of the store failed (also an ``OSError``, with ``errno`` and
    ``filename``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class BackendError(Error):
    """The database engine reported an error racestore has no better class for; ``backend``
    is ``"sqlite"`` or ``"postgres"``, ``retryable`` says whether the same call may succeed if
    tried again (a lost connection, a busy database)."""

    backend: str = ""
    retryable: bool = False


class UsedAfterFork(Error):
    """A store opened in one process was used in a child it forked (``multiprocessing`` with the
    fork start method). Open the store again in the child, e.g. in the pool's initializer.

    ``opened_in`` is the id of the process that opened it.
    """

    opened_in: int = 0


class MissingDependency(Error, ImportError):
    """An optional package a call needs is not installed (``laps_frame`` needs pandas).

    ``package`` names it.
    """

    package: str = ""

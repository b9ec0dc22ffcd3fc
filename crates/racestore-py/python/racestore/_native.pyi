"""Type stubs of ``racestore._native``, the package's compiled half (use ``racestore`` itself)."""

import types
from typing import Any, Dict, Iterable, List, Mapping, NoReturn, Optional, Type, Union

from typing_extensions import Self, disjoint_base

__all__ = [
    "NativeStore",
    "_bench_save_lap_data",
    "_bench_save_laps",
    "_bench_get_session_laps",
    "DEFAULT_URL",
    "URL_ENV",
]

DEFAULT_URL: str
URL_ENV: str

#: A record as a dict with the original's keys.
_Record = Dict[str, Any]

@disjoint_base
class NativeStore:
    """A handle on a racestore store (the base class of ``racestore.Store``)."""

    def __new__(cls, url: Optional[str] = None, *, json_text: bool = False, reopen: bool = False) -> Self: ...
    @property
    def url(self) -> str:
        """The store's URL, a PostgreSQL password replaced by ``***``."""
    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called on this handle (and it has not been reopened)."""
    @property
    def opened_in_process(self) -> int:
        """The id of the process that opened this handle."""
    def create_session(self, circuit: str, date: Optional[str] = None, race_type: Optional[str] = "race") -> int:
        """Creates a session and returns its id."""
    def save_driver_metrics(self, session_id: int, driver_id: Union[str, int], metrics: Mapping[Any, Any]) -> None:
        """Saves one driver's metrics for a session (the original's dict)."""
    def save_lap_data(
        self,
        session_id: int,
        driver_id: Union[str, int],
        lap_number: int,
        lap_time: float,
        sectors: Optional[Mapping[str, Optional[float]]],
        lap_type: str,
        position: Optional[int],
    ) -> None:
        """Saves one lap."""
    def save_laps(self, rows: Union[Iterable[Mapping[str, Any]], Any], session_id: Optional[int] = None) -> List[int]:
        """Saves laps (dicts or a pandas DataFrame) all together or not at all; returns their ids."""
    def save_prediction(
        self,
        session_id: int,
        driver_id: Union[str, int],
        prediction_type: str,
        prediction_value: float,
        model_path: str,
        confidence: Optional[float] = None,
    ) -> None:
        """Saves a prediction."""
    def save_simulation(
        self,
        session_id: int,
        driver_paces: Mapping[Any, Any],
        n_laps: int,
        iterations: int,
        results: Any,
    ) -> int:
        """Saves a Monte Carlo simulation and returns its id."""
    def get_session_metrics(self, session_id: int) -> List[_Record]:
        """The driver metrics of a session, as dicts in id order."""
    def get_session_laps(self, session_id: int) -> List[_Record]:
        """The laps of a session, as dicts in id order."""
    def get_driver_laps(self, session_id: int, driver_id: Union[str, int]) -> List[_Record]:
        """One driver's laps in a session, as dicts in id order."""
    def get_session_predictions(self, session_id: int) -> List[_Record]:
        """The predictions of a session, as dicts in id order."""
    def get_session_simulations(self, session_id: int) -> List[_Record]:
        """The simulations of a session, as dicts in id order."""
    def save_entries(self, session_id: int, rows: Iterable[Mapping[str, Any]]) -> List[int]:
        """Saves entries (who drove which car: driver_id and any of car_number, driver_name, class,
        group, team, manufacturer, vehicle) all together or not at all; returns their ids."""
    def get_session_entries(self, session_id: int) -> List[_Record]:
        """The entries of a session, as dicts in id order."""
    def session_classification(self, session_id: int) -> Optional[Dict[str, Any]]:
        """The session's classification as ``racestore show --json`` gives it: per car where the
        entries name cars (class positions, teams, drivers), else per driver; ``None`` for an
        unknown session."""
    def get_sessions(self, circuit: Optional[str] = None) -> List[_Record]:
        """Every session, or those at ``circuit``."""
    def get_session(self, session_id: int) -> Optional[_Record]:
        """The session with this id as a dict, or ``None``."""
    def delete_session(self, session_id: int) -> Dict[str, int]:
        """Deletes a session and everything under it; returns how many records of each kind went."""
    def clear_all(self) -> None:
        """Deletes every session and everything under it (ids keep counting)."""
    def counts(self) -> Dict[str, int]:
        """How many records the store holds, per collection."""
    def _lap_columns(self, session_id: int) -> Dict[str, List[Any]]:
        """The laps of a session column by column, for ``laps_frame``."""
    def close(self) -> None:
        """Releases this handle; the store closes when no handle on it is left."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        *_exc: Union[Optional[Type[BaseException]], Optional[BaseException], Optional[types.TracebackType]],
    ) -> bool: ...
    def __reduce__(self) -> NoReturn:
        """Refuses: a store cannot be pickled; open it from its URL in the other process."""

def _bench_save_lap_data(store: NativeStore, session_id: int, n: int) -> float:
    """Seconds taken by ``n`` native calls of the library's ``save_lap_data``."""

def _bench_save_laps(store: NativeStore, session_ids: List[int], laps_per_session: int, batch: int) -> float:
    """Seconds taken by the library's ``save_laps`` of the benchmark's laps, natively."""

def _bench_get_session_laps(store: NativeStore, session_id: int, n: int) -> List[float]:
    """Seconds taken by each of ``n`` native calls of the library's ``get_session_laps``."""

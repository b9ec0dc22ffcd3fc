"""A small FastAPI app over racestore, written the way GR Race Guardian's backend uses its
storage: ``get_db()`` and the original's calls. Moving it from the original is the import line.

Run it (with ``pip install fastapi uvicorn`` and the racestore package installed)::

    RACESTORE_STORAGE_DIR=storage uvicorn app:app --reload

then ``curl -X POST localhost:8000/sessions -H 'content-type: application/json'
-d '{"circuit": "Barber Motorsports Park"}'``.
"""

import os
from typing import Any, Dict, List, Optional

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

import racestore
from racestore import get_db  # was: from database import get_db


class SessionIn(BaseModel):
    circuit: str
    date: Optional[str] = None
    race_type: str = "race"


class LapIn(BaseModel):
    driver_id: str
    lap_number: int
    lap_time: float
    sectors: Dict[str, Optional[float]] = Field(default_factory=dict)
    lap_type: str = "RACE_LAP"
    position: Optional[int] = None


class MetricsIn(BaseModel):
    metrics: Dict[str, Any]


class SimulationIn(BaseModel):
    driver_paces: Dict[str, float]
    n_laps: int
    iterations: int
    results: Dict[str, Any]


def create_app(storage_dir: str = "storage") -> FastAPI:
    """The app, storing into the JSON directory ``storage_dir``."""
    app = FastAPI(title="GR Race Guardian storage, on racestore")

    def db() -> racestore.RaceStorage:
        return get_db(storage_dir)

    @app.exception_handler(racestore.InvalidInput)
    async def invalid_input(_: Request, error: racestore.InvalidInput) -> JSONResponse:
        return JSONResponse(status_code=422, content={"error": str(error), "field": error.field})

    @app.exception_handler(racestore.NotFound)
    async def not_found(_: Request, error: racestore.NotFound) -> JSONResponse:
        return JSONResponse(status_code=404, content={"error": str(error)})

    @app.exception_handler(racestore.StoreLocked)
    async def locked(_: Request, error: racestore.StoreLocked) -> JSONResponse:
        return JSONResponse(status_code=503, content={"error": str(error)})

    # Plain `def` endpoints: FastAPI runs them in its thread pool, and racestore releases the GIL
    # while it works, so requests are served in parallel on one shared store.

    @app.post("/sessions", status_code=201)
    def create_session(session: SessionIn) -> Dict[str, int]:
        session_id = db().create_session(circuit=session.circuit, date=session.date, race_type=session.race_type)
        return {"session_id": session_id}

    @app.get("/sessions")
    def list_sessions(circuit: Optional[str] = None) -> List[Dict[str, Any]]:
        return db().get_sessions(circuit)

    @app.get("/sessions/{session_id}")
    def get_session(session_id: int) -> Dict[str, Any]:
        session = db().get_session(session_id)
        if session is None:
            raise HTTPException(status_code=404, detail=f"session {session_id} does not exist")
        return session

    @app.post("/sessions/{session_id}/laps", status_code=201)
    def save_lap(session_id: int, lap: LapIn) -> Dict[str, str]:
        db().save_lap_data(
            session_id=session_id,
            driver_id=lap.driver_id,
            lap_number=lap.lap_number,
            lap_time=lap.lap_time,
            sectors=lap.sectors,
            lap_type=lap.lap_type,
            position=lap.position,
        )
        return {"status": "saved"}

    @app.post("/sessions/{session_id}/laps/batch", status_code=201)
    def save_laps(session_id: int, laps: List[LapIn]) -> Dict[str, List[int]]:
        ids = db().save_laps([lap.model_dump() for lap in laps], session_id=session_id)
        return {"lap_ids": ids}

    @app.get("/sessions/{session_id}/laps")
    def session_laps(session_id: int, driver_id: Optional[str] = None) -> List[Dict[str, Any]]:
        if driver_id is not None:
            return db().get_driver_laps(session_id, driver_id)
        return db().get_session_laps(session_id)

    @app.post("/sessions/{session_id}/metrics/{driver_id}", status_code=201)
    def save_metrics(session_id: int, driver_id: str, body: MetricsIn) -> Dict[str, str]:
        db().save_driver_metrics(session_id, driver_id, body.metrics)
        return {"status": "saved"}

    @app.get("/sessions/{session_id}/metrics")
    def session_metrics(session_id: int) -> List[Dict[str, Any]]:
        return db().get_session_metrics(session_id)

    @app.post("/sessions/{session_id}/simulations", status_code=201)
    def save_simulation(session_id: int, simulation: SimulationIn) -> Dict[str, int]:
        simulation_id = db().save_simulation(
            session_id, simulation.driver_paces, simulation.n_laps, simulation.iterations, simulation.results
        )
        return {"simulation_id": simulation_id}

    @app.get("/sessions/{session_id}/simulations")
    def session_simulations(session_id: int) -> List[Dict[str, Any]]:
        return db().get_session_simulations(session_id)

    return app


app = create_app(os.environ.get("RACESTORE_STORAGE_DIR", "storage"))

"""The FastAPI example app (examples/fastapi_app/app.py), driven with FastAPI's test client."""

import importlib.util
import json
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import racestore

APP = Path(__file__).resolve().parents[1] / "examples" / "fastapi_app" / "app.py"


@pytest.fixture
def client(tmp):
    spec = importlib.util.spec_from_file_location("fastapi_example_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with TestClient(module.create_app(str(tmp / "storage"))) as client:
        yield client
    racestore.get_db(str(tmp / "storage")).close()


def test_a_race_through_the_api(client, tmp):
    response = client.post("/sessions", json={"circuit": "Barber Motorsports Park", "date": "2025-09-06T14:00:00"})
    assert response.status_code == 201 and response.json() == {"session_id": 1}
    lap = {"driver_id": "GR86-001", "lap_number": 1, "lap_time": 95.234,
           "sectors": {"S1": 30.1, "S2": 32.5, "S3": 32.6}, "position": 1}
    assert client.post("/sessions/1/laps", json=lap).status_code == 201
    batch = [{**lap, "driver_id": "GR86-002", "lap_number": n, "position": 2} for n in (1, 2, 3)]
    assert client.post("/sessions/1/laps/batch", json=batch).json() == {"lap_ids": [2, 3, 4]}

    laps = client.get("/sessions/1/laps").json()
    assert [l["id"] for l in laps] == [1, 2, 3, 4]
    assert list(laps[0]) == list(racestore.LAP_COLUMNS)
    assert laps[0]["sector_2"] == 32.5 and laps[0]["lap_type"] == "RACE_LAP"
    assert [l["lap_number"] for l in client.get("/sessions/1/laps", params={"driver_id": "GR86-002"}).json()] == [1, 2, 3]

    metrics = {"consistency_index": 0.91, "aggression_score": {"aggression_score": 0.6, "interpretation": "Aggressive"},
               "sector_strength": {"S1": 0.98}}
    assert client.post("/sessions/1/metrics/GR86-001", json={"metrics": metrics}).status_code == 201
    stored = client.get("/sessions/1/metrics").json()[0]
    assert stored["aggression_score"] == 0.6 and stored["sector_strength"] == {"S1": 0.98}

    simulation = {"driver_paces": {"GR86-001": 95.2, "GR86-002": 95.6}, "n_laps": 20, "iterations": 1000,
                  "results": {"win_probability": {"GR86-001": 0.7, "GR86-002": 0.3}}}
    assert client.post("/sessions/1/simulations", json=simulation).json() == {"simulation_id": 1}
    assert client.get("/sessions/1/simulations").json()[0]["results"] == simulation["results"]

    sessions = client.get("/sessions", params={"circuit": "Barber Motorsports Park"}).json()
    assert [s["id"] for s in sessions] == [1] and client.get("/sessions", params={"circuit": "Sonoma"}).json() == []
    assert client.get("/sessions/1").json()["date"] == "2025-09-06T14:00:00"
    # What the API saved is in the original's files.
    assert len(json.loads((tmp / "storage" / "lap_data.json").read_text())) == 4


def test_bad_input_and_unknown_sessions_are_client_errors_that_store_nothing(client, tmp):
    client.post("/sessions", json={"circuit": "Barber Motorsports Park"})
    bad = {"driver_id": "GR86-001", "lap_number": 1, "lap_time": -1.0}
    response = client.post("/sessions/1/laps", json=bad)
    assert response.status_code == 422 and response.json()["field"] == "lap_time"
    batch = [{"driver_id": "A", "lap_number": 1, "lap_time": 90.0}, {"driver_id": "B", "lap_number": 1, "lap_time": 90.0, "position": 0}]
    response = client.post("/sessions/1/laps/batch", json=batch)
    assert response.status_code == 422 and response.json()["field"] == "rows[1].position"
    response = client.post("/sessions/7/laps", json={"driver_id": "A", "lap_number": 1, "lap_time": 90.0})
    assert response.status_code == 404 and response.json() == {"error": "session 7 does not exist"}
    assert client.get("/sessions/7").status_code == 404
    response = client.post("/sessions", json={"circuit": "Barber", "date": "last sunday"})
    assert response.status_code == 422 and response.json()["field"] == "date"
    assert client.get("/sessions/1/laps").json() == []
    assert len(client.get("/sessions").json()) == 1


def test_concurrent_requests_share_one_store(client):
    client.post("/sessions", json={"circuit": "Barber Motorsports Park"})

    def post_laps(driver):
        for n in range(50):
            response = client.post("/sessions/1/laps", json={"driver_id": driver, "lap_number": n, "lap_time": 90.0 + n / 100})
            assert response.status_code == 201

    threads = [threading.Thread(target=post_laps, args=(f"D{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    laps = client.get("/sessions/1/laps").json()
    assert len(laps) == 400 and sorted(l["id"] for l in laps) == list(range(1, 401))

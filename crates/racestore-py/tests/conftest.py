"""Fixtures for the racestore package's tests.

Tests that need something optional (the shared/ folder with the original code and fixtures, a
PostgreSQL server) skip with a reason when it is absent, and fail instead when ``CI`` is set:
CI must never skip them quietly.
"""

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def need(what: str, reason: str) -> None:
    """Skips the calling test (fails it when ``CI`` is set) because ``what`` is missing."""
    message = f"{what}: {reason}"
    if os.environ.get("CI"):
        pytest.fail(f"{message}, and CI must not skip this test")
    pytest.skip(message)


def shared_dir() -> Path:
    """The read-only shared/ folder beside the repository (``RACESTORE_SHARED`` overrides)."""
    candidate = Path(os.environ.get("RACESTORE_SHARED", REPO.parent / "shared"))
    if not (candidate / "fixtures").is_dir() or not (candidate / "original-python").is_dir():
        need("shared/", f"{candidate} not found (a fresh clone has no shared/ folder)")
    return candidate


@pytest.fixture
def shared() -> Path:
    return shared_dir()


@pytest.fixture
def original(shared: Path):
    """The original GR Race Guardian ``database`` package (storage.py, db_sqlite.py), imported
    from shared/original-python as its app imported it."""
    path = str(shared / "original-python")
    sys.path.insert(0, path)
    try:
        import database  # noqa: F401  (the original's package)
        import database.db_sqlite
        import database.storage

        yield database
    finally:
        sys.path.remove(path)
        for name in [n for n in sys.modules if n == "database" or n.startswith("database.")]:
            del sys.modules[name]


@pytest.fixture
def tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh empty directory, also the working directory (the original wrote into ./storage)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def copy_writable(source: Path, destination: Path) -> Path:
    """Copies a (read-only) fixture file or directory to ``destination``, writable."""
    if source.is_dir():
        shutil.copytree(source, destination)
        for item in [destination, *destination.rglob("*")]:
            item.chmod(0o755 if item.is_dir() else 0o644)
    else:
        shutil.copyfile(source, destination)
        destination.chmod(0o644)
    return destination


POSTGRES_ENV = "RACESTORE_TEST_POSTGRES_URL"


@pytest.fixture
def postgres_url():
    """A store URL on a fresh schema of the test server, dropped afterwards."""
    server = os.environ.get(POSTGRES_ENV, "").strip()
    if not server:
        need("PostgreSQL", f"{POSTGRES_ENV} is not set")
    schema = f"rs_pytest_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in server else "?"
    yield f"{server}{separator}schema={schema}"
    if shutil.which("psql"):
        subprocess.run(
            ["psql", server.split("?")[0], "-q", "-c", f"DROP SCHEMA IF EXISTS {schema} CASCADE"],
            check=False,
            capture_output=True,
        )

"""Threads and processes: one store shared by threads, the GIL released while the store works,
the fork rule, and Ctrl-C during a long batch."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import racestore

THREADS, SAVES = 16, 1000


@pytest.mark.parametrize("url", ["json:storage", "sqlite:race.db"])
def test_16_threads_saving_1000_laps_each_on_one_object_lose_nothing(tmp, url):
    db = racestore.open(url)
    session = db.create_session("Barber Motorsports Park")
    start = threading.Barrier(THREADS)
    errors = []

    def saver(thread):
        start.wait()
        try:
            for lap in range(SAVES):
                db.save_lap_data(session, f"T{thread:02}", lap, 90.0 + lap / 1000, {"S1": 30.0}, "RACE_LAP", thread + 1)
        except Exception as error:  # reported below, with the thread
            errors.append((thread, error))

    threads = [threading.Thread(target=saver, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    laps = db.get_session_laps(session)
    assert len(laps) == THREADS * SAVES
    ids = [lap["id"] for lap in laps]
    assert len(set(ids)) == len(ids) and sorted(ids) == list(range(1, THREADS * SAVES + 1))
    # Every thread's every lap, once.
    assert sorted((lap["driver_id"], lap["lap_number"]) for lap in laps) == \
        [(f"T{t:02}", n) for t in range(THREADS) for n in range(SAVES)]
    db.close()
    # And all of it is on disk: a fresh open reads the same.
    with racestore.open(url) as again:
        assert again.counts()["laps"] == THREADS * SAVES


def test_the_gil_is_released_while_the_store_works(tmp):
    # A save that must wait for another process's SQLite lock can only finish if another Python
    # thread runs while it waits: that thread tells the other process to let go. With the GIL
    # held through the call, the other thread could not run, and the save would fail after
    # SQLite's busy timeout (10 s).
    db = racestore.open("sqlite:race.db")
    session = db.create_session("Barber")
    # A first save, so that nothing lazily initialised on the way (interned strings) is left to
    # do during the timed one.
    db.save_lap_data(session, "D1", 0, 91.0, {}, "normal", 1)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys\n"
         "c = sqlite3.connect('race.db', isolation_level=None)\n"
         "c.execute('BEGIN EXCLUSIVE')\n"
         "print('locked', flush=True)\n"
         "sys.stdin.readline()\n"
         "c.execute('COMMIT')\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    calling, ran_while_waiting = threading.Event(), threading.Event()

    def release_the_lock():
        calling.wait()
        ran_while_waiting.set()
        holder.stdin.write("go\n")
        holder.stdin.flush()

    helper = threading.Thread(target=release_the_lock)
    switch_interval = sys.getswitchinterval()
    # Once woken, the helper gets the GIL only when this thread gives it up, not on a timer.
    sys.setswitchinterval(1000)
    try:
        helper.start()
        calling.set()
        db.save_lap_data(session, "D1", 1, 91.0, {}, "normal", 1)
    finally:
        sys.setswitchinterval(switch_interval)
        helper.join()
        holder.wait()
    assert ran_while_waiting.is_set()
    assert len(db.get_session_laps(session)) == 2
    db.close()


# The fork rule. `db` is opened in the parent and inherited by forked workers.
_inherited = None


def _use_inherited(_):
    try:
        _inherited.get_sessions()
    except racestore.UsedAfterFork as error:
        return ("UsedAfterFork", str(error), error.opened_in)
    return ("no error", "", 0)


def _open_own_sqlite(_):
    with racestore.open("sqlite:race.db") as own:
        own.save_lap_data(1, f"P{os.getpid()}", 1, 91.0, {}, "normal", 1)
    return os.getpid()


def _open_json_in_child(_):
    own = racestore.get_db("storage")
    own.save_lap_data(1, f"J{os.getpid()}", 1, 91.0, {}, "normal", 1)
    return os.getpid()


def test_a_store_used_in_a_forked_child_raises_used_after_fork(tmp):
    global _inherited
    _inherited = racestore.get_db("storage")  # the JSON store, held by this process
    session = _inherited.create_session("Barber")
    sqlite = racestore.open("sqlite:race.db")
    sqlite.create_session("Barber")
    fork = multiprocessing.get_context("fork")
    try:
        with fork.Pool(2) as pool:
            # The store the workers inherited refuses to be used there, saying why.
            for kind, message, opened_in in pool.map(_use_inherited, range(4)):
                assert kind == "UsedAfterFork"
                assert opened_in == os.getpid() and f"opened in process {os.getpid()}" in message
                assert "open the store again in the child" in message
            # A worker opens its own store instead: SQLite takes writers from many processes.
            pids = pool.map(_open_own_sqlite, range(4))
            # So does a JSON directory: the worker's store shares it with the parent's.
            json_pids = pool.map(_open_json_in_child, range(2))
        assert sorted(lap["driver_id"] for lap in sqlite.get_session_laps(1)) == sorted(f"P{p}" for p in pids)
        # The parent's stores are untouched by the workers' copies going away: still open, they
        # see the workers' saves, and go on saving.
        assert sorted(lap["driver_id"] for lap in _inherited.get_session_laps(session)) == sorted(
            f"J{p}" for p in json_pids
        )
        _inherited.save_lap_data(session, "D1", 1, 91.0, {}, "normal", 1)
        assert len(_inherited.get_session_laps(session)) == 3
        check = subprocess.run(
            [sys.executable, "-c", "import racestore\nprint(len(racestore.open('json:storage').get_session_laps(1)))"],
            capture_output=True, text=True,
        )
        assert check.stdout.strip() == "3", check.stderr
    finally:
        _inherited.close()
        sqlite.close()
        _inherited = None


CHILD = """
import signal, sys
import pandas as pd
import racestore
n = int(sys.argv[1])
db = racestore.open("json:storage")
session = db.create_session("Barber")
frame = pd.DataFrame({
    "driver_id": [f"GR86-{i % 20:03}" for i in range(n)],
    "lap_number": [i // 20 + 1 for i in range(n)],
    "lap_time": [90.0 + (i % 1000) / 100 for i in range(n)],
    "position": [i % 20 + 1 for i in range(n)],
})
try:
    print("saving", flush=True)
    ids = db.save_laps(frame, session_id=session)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("saved", len(ids), flush=True)
except KeyboardInterrupt:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("interrupted", flush=True)
sys.stdin.readline()
db.close()
"""


def test_ctrl_c_during_a_long_batch_leaves_the_store_sound(tmp):
    # Ctrl-C (SIGINT) arrives while a 200,000-lap batch is converted or saved: the batch is stored
    # whole or not at all, and the store opens and reads as before (here, and in the original's
    # reader: the files are valid JSON).
    n = 200_000
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "saving"
    child.send_signal(signal.SIGINT)
    outcome = child.stdout.readline().split()
    child.communicate("done\n")
    assert child.returncode == 0
    assert outcome in (["interrupted"], ["saved", str(n)])
    expected = n if outcome[0] == "saved" else 0
    with racestore.open("json:storage") as db:
        assert db.counts()["laps"] == expected
        assert db.counts()["sessions"] == 1
        ids = db.save_laps([{"session_id": 1, "driver_id": "D1", "lap_number": 1, "lap_time": 90.0}])
        assert ids == [expected + 1]
    laps = json.loads((tmp / "storage" / "lap_data.json").read_text())
    assert len(laps) == expected + 1

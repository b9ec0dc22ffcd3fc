-- The schema of the original GR Race Guardian `race_data.db`, column for column.
--
-- `IF NOT EXISTS` makes this a no-op on a database the original wrote, so such a file opens as
-- it is: existing tables, rows and the AUTOINCREMENT counters in sqlite_sequence are kept.
-- The foreign keys are declared as the original declared them; racestore runs with
-- PRAGMA foreign_keys=OFF (as the original did) and checks the session itself.

CREATE TABLE IF NOT EXISTS race_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    circuit TEXT NOT NULL,
    date TEXT NOT NULL,
    race_type TEXT,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS driver_metrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER,
    driver_id TEXT NOT NULL,
    consistency_index REAL,
    aggression_score REAL,
    sector_strength TEXT,
    pace_stability TEXT,
    fatigue_dropoff TEXT,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (session_id) REFERENCES race_sessions(id)
);

CREATE TABLE IF NOT EXISTS lap_data (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER,
    driver_id TEXT NOT NULL,
    lap_number INTEGER,
    lap_time REAL,
    sector_1 REAL,
    sector_2 REAL,
    sector_3 REAL,
    lap_type TEXT,
    position INTEGER,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (session_id) REFERENCES race_sessions(id)
);

CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER,
    driver_id TEXT NOT NULL,
    prediction_type TEXT,
    prediction_value REAL,
    model_path TEXT,
    confidence REAL,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (session_id) REFERENCES race_sessions(id)
);

CREATE TABLE IF NOT EXISTS simulations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER,
    driver_paces TEXT,
    n_laps INTEGER,
    iterations INTEGER,
    results TEXT,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (session_id) REFERENCES race_sessions(id)
);

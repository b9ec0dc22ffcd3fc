-- Entries: who drove which car in a session, in which class, for whom (one row per car and
-- driver). A table of racestore's own: the original's race_data.db has none, and the original
-- code never reads it. "group" is quoted wherever racestore names it: GROUP is an SQL keyword.

CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER,
    car_number TEXT,
    driver_id TEXT NOT NULL,
    driver_name TEXT,
    class TEXT,
    "group" TEXT,
    team TEXT,
    manufacturer TEXT,
    vehicle TEXT,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (session_id) REFERENCES race_sessions(id)
);

CREATE INDEX IF NOT EXISTS idx_entries_session_id ON entries (session_id, id);

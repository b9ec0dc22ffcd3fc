-- Entries: who drove which car in a session, in which class, for whom (one row per car and
-- driver), as 0001_schema.sql lays out the other tables. "group" is quoted wherever racestore
-- names it: GROUP is an SQL keyword.

CREATE TABLE IF NOT EXISTS entries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id BIGINT REFERENCES race_sessions (id),
    car_number TEXT,
    driver_id TEXT NOT NULL,
    driver_name TEXT,
    class TEXT,
    "group" TEXT,
    team TEXT,
    manufacturer TEXT,
    vehicle TEXT,
    created_at TEXT DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
);

CREATE INDEX IF NOT EXISTS idx_entries_session_id ON entries (session_id, id);

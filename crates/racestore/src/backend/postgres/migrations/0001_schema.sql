-- racestore's tables in PostgreSQL: the SQL backend's tables and columns (those of the original
-- GR Race Guardian `race_data.db`), with PostgreSQL types.
--
-- - Ids are identity columns: drawn from a sequence, ascending, never given twice (a sequence
--   never goes back, not even after a delete or a rolled-back transaction; racestore checks
--   every save before inserting, so a rejected save draws no id).
-- - Times, scores and values are DOUBLE PRECISION: the 64-bit floats the model holds, stored
--   and returned bit for bit.
-- - Timestamps are TEXT, written by racestore in one format (2026-11-25T16:33:08.009625Z); the
--   defaults give rows inserted by other tools the same format.
-- - JSON values are JSON, not JSONB: racestore returns them exactly as saved, and JSONB does
--   not keep them (it sorts object keys, rewrites numbers such as 5e-324 as long decimals and
--   refuses \u0000). JSON still validates the text, supports the ->, ->> and #> operators, and
--   casts to JSONB in a query or an expression index: (results::jsonb).
-- - session_id references race_sessions: the database itself refuses a record of a session
--   that does not exist (racestore checks first, and reports NotFound either way).
--
-- This runs with search_path set to the store's schema, inside the migration transaction.

CREATE TABLE IF NOT EXISTS race_sessions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    circuit TEXT NOT NULL,
    date TEXT NOT NULL,
    race_type TEXT,
    created_at TEXT DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    updated_at TEXT DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
);

CREATE TABLE IF NOT EXISTS driver_metrics (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id BIGINT REFERENCES race_sessions (id),
    driver_id TEXT NOT NULL,
    consistency_index DOUBLE PRECISION,
    aggression_score DOUBLE PRECISION,
    sector_strength JSON,
    pace_stability JSON,
    fatigue_dropoff JSON,
    created_at TEXT DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
);

CREATE TABLE IF NOT EXISTS lap_data (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id BIGINT REFERENCES race_sessions (id),
    driver_id TEXT NOT NULL,
    lap_number BIGINT,
    lap_time DOUBLE PRECISION,
    sector_1 DOUBLE PRECISION,
    sector_2 DOUBLE PRECISION,
    sector_3 DOUBLE PRECISION,
    lap_type TEXT,
    position BIGINT,
    created_at TEXT DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
);

CREATE TABLE IF NOT EXISTS predictions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id BIGINT REFERENCES race_sessions (id),
    driver_id TEXT NOT NULL,
    prediction_type TEXT,
    prediction_value DOUBLE PRECISION,
    model_path TEXT,
    confidence DOUBLE PRECISION,
    created_at TEXT DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
);

CREATE TABLE IF NOT EXISTS simulations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id BIGINT REFERENCES race_sessions (id),
    driver_paces JSON,
    n_laps BIGINT,
    iterations BIGINT,
    results JSON,
    created_at TEXT DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
);

-- Indexes for racestore's reads: every per-session read is `WHERE session_id = $1 ORDER BY id`,
-- and sessions are filtered by circuit. They also serve the foreign keys (a delete finds a
-- session's records through them). Only adds indexes; no table is changed.

CREATE INDEX IF NOT EXISTS idx_driver_metrics_session_id ON driver_metrics (session_id, id);
CREATE INDEX IF NOT EXISTS idx_lap_data_session_id ON lap_data (session_id, id);
CREATE INDEX IF NOT EXISTS idx_predictions_session_id ON predictions (session_id, id);
CREATE INDEX IF NOT EXISTS idx_simulations_session_id ON simulations (session_id, id);
CREATE INDEX IF NOT EXISTS idx_race_sessions_circuit ON race_sessions (circuit);

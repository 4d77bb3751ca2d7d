-- Webhook delivery log and each hook's on/off state (tandem/events.py). IF NOT EXISTS: SQLite
-- databases from before this file got these tables from the webhooks module itself.
CREATE TABLE IF NOT EXISTS webhook_log (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    key_id INTEGER NOT NULL,
    delivery TEXT NOT NULL,
    kind TEXT NOT NULL,
    session_id TEXT,
    attempt INTEGER NOT NULL,
    status INTEGER,
    latency_ms REAL NOT NULL,
    error TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_log_by_key ON webhook_log (key_id, id);
CREATE TABLE IF NOT EXISTS webhook_state (
    key_id INTEGER PRIMARY KEY,
    failing_since REAL,
    disabled_at REAL
);

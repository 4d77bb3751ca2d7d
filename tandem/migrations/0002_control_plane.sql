-- Agents, console logins, masking, config, invites, PINs, participants, visitors, audit.
ALTER TABLE sessions ADD COLUMN agent_id TEXT;
ALTER TABLE sessions ADD COLUMN key_id INTEGER;
ALTER TABLE sessions ADD COLUMN visitor_id TEXT;
ALTER TABLE sessions ADD COLUMN details TEXT;
ALTER TABLE sessions ADD COLUMN expires_at REAL;
CREATE INDEX sessions_by_state ON sessions (state, created_at);
CREATE INDEX sessions_by_agent ON sessions (agent_id, state);
CREATE INDEX sessions_by_visitor ON sessions (visitor_id, state);
ALTER TABLE api_keys ADD COLUMN prefix TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN webhook_url TEXT;
ALTER TABLE api_keys ADD COLUMN webhook_secret TEXT;
ALTER TABLE allowlist ADD COLUMN redirect TEXT;
CREATE TABLE agents (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    disabled_at REAL
);
CREATE TABLE logins (
    token_hash TEXT PRIMARY KEY,
    agent_id INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE masking (
    pattern TEXT PRIMARY KEY,
    selectors TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE config (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE invites (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    audience TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    single_use INTEGER NOT NULL DEFAULT 0,
    used_at REAL,
    revoked_at REAL
);
CREATE INDEX invites_by_session ON invites (session_id);
CREATE TABLE pins (
    digest TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    uses_left INTEGER NOT NULL
);
CREATE INDEX pins_by_session ON pins (session_id);
CREATE TABLE participants (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    pid TEXT NOT NULL,
    role TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT,
    joined_at REAL NOT NULL
);
CREATE INDEX participants_by_session ON participants (session_id);
CREATE TABLE visitors (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    origin TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen REAL NOT NULL
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    session_id TEXT,
    actor TEXT NOT NULL DEFAULT '',
    detail TEXT
);
CREATE INDEX audit_by_time ON audit (at);
CREATE INDEX audit_by_session ON audit (session_id);

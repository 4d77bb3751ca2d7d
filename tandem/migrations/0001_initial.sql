-- Sessions, API keys and the allowlist (the first schema).
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    start_url TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'live',
    ended_at REAL
);
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE allowlist (
    pattern TEXT PRIMARY KEY,
    scope TEXT NOT NULL CHECK (scope IN ('navigation', 'all')),
    created_at REAL NOT NULL
);

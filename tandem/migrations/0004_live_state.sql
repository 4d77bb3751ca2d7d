-- A live session's state that must survive a restart (cookie jar, label aliases, room facts):
-- encrypted, bound to the session (the key is in the cipher's context), gone when it ends.
CREATE TABLE live_state (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (session_id, kind, name)
) WITHOUT ROWID;

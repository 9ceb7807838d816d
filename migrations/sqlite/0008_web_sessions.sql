-- Cookie sessions of the web interface. The cookie holds a random id; only its SHA-256 is
-- kept. A session is either a user's (user_id) or a till's (terminal_key_hash: the hash of the
-- terminal's API key, checked again on every request so that revoking the key ends the session).
-- The CSRF token is derived from the session id, so it needs no column.
CREATE TABLE web_sessions (
    id_hash            TEXT PRIMARY KEY,
    fund_id            TEXT NOT NULL REFERENCES funds(id),
    user_id            TEXT,
    terminal_key_hash  TEXT,
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    CHECK ((user_id IS NULL) <> (terminal_key_hash IS NULL))
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

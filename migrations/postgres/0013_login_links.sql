-- Login links: an invitation to choose one's own password, or a new password after "mot de
-- passe oublié". Only the SHA-256 of the link's token is kept (the link itself is sent by email
-- or handed over once); a link works once (used_at) and until expires_at. A new link of the
-- same purpose for the same person replaces the earlier ones (they are marked used).
CREATE TABLE login_links (
    token_hash  TEXT PRIMARY KEY,
    fund_id     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    purpose     TEXT NOT NULL CHECK (purpose IN ('invitation', 'reset')),
    created_by  TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    FOREIGN KEY (fund_id, user_id) REFERENCES users (fund_id, id)
);
CREATE INDEX login_links_user ON login_links (fund_id, user_id, purpose);

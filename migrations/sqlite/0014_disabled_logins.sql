-- A login an admin disabled: the person cannot sign in nor use a link, and every session of
-- theirs ended when it was disabled. NULL = active. Kept rather than deleted, so the audit
-- (who disabled whom, when) stays and an admin can enable the login again.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE users ADD COLUMN disabled_by TEXT;

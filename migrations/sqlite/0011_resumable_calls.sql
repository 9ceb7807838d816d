-- A contribution call commits in chunks of members, like an allowance issuance (0009): the
-- tills keep working while a large fund is called, and a call cut short is finished by the
-- next one for the period, by the scale it started with (`settings`).
ALTER TABLE contribution_periods ADD COLUMN resume_after TEXT NOT NULL DEFAULT '';
ALTER TABLE contribution_periods ADD COLUMN settings TEXT;
ALTER TABLE contribution_periods ADD COLUMN completed_at BIGINT;
-- Calls made before this migration committed in one transaction: they are complete.
UPDATE contribution_periods SET completed_at = created_at;

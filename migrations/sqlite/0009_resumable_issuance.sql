-- An issuance commits member by member in chunks instead of in one transaction, so that the
-- tills keep working while a large fund is credited and a crash loses nothing: each chunk's
-- transaction moves `resume_after` (the last member id credited, members go in id order) together
-- with the running figures. `settings` is the allowance rules read when the period was
-- claimed, so a chunk resumed later, or by another process, credits by the same rules.
-- `completed_at` stays NULL until every active member has been seen.
ALTER TABLE allowance_periods ADD COLUMN resume_after TEXT NOT NULL DEFAULT '';
ALTER TABLE allowance_periods ADD COLUMN settings TEXT;
ALTER TABLE allowance_periods ADD COLUMN completed_at BIGINT;
-- Issuances before this migration committed in one transaction: they are complete.
UPDATE allowance_periods SET completed_at = created_at;

-- Corrections: a reversing entry (journal_entries.reverses_id) is mirrored on the row of the
-- table that mirrors the entry it cancels, in the same transaction, so that a reversed sale is
-- neither refunded nor paid, a reversed due or payment stops counting, and `ledger verify` can
-- check that each row and the journal agree. NULL: not reversed.

-- A sale or refund reversal is netted by a settlement like a refund: `reversed_at` is the
-- instant from which it counts (the row's own instant when the row was not yet claimed by a
-- settlement, so that the settlement claiming the row claims its reversal too and nothing is
-- paid for it; else the reversal's instant), `reversal_settlement_id` the settlement that
-- netted it.
ALTER TABLE redemptions ADD COLUMN reversed_entry_id BIGINT;
ALTER TABLE redemptions ADD COLUMN reversed_at BIGINT;
ALTER TABLE redemptions ADD COLUMN reversal_settlement_id TEXT;
ALTER TABLE refunds ADD COLUMN reversed_entry_id BIGINT;
ALTER TABLE refunds ADD COLUMN reversed_at BIGINT;
ALTER TABLE refunds ADD COLUMN reversal_settlement_id TEXT;

ALTER TABLE allowance_credits ADD COLUMN reversed_entry_id BIGINT;
ALTER TABLE contribution_calls ADD COLUMN reversed_entry_id BIGINT;
ALTER TABLE contribution_payments ADD COLUMN reversed_entry_id BIGINT;

-- How many sale and refund reversals a settlement line nets.
ALTER TABLE settlement_lines ADD COLUMN reversals BIGINT NOT NULL DEFAULT 0;

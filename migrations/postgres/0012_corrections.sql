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

-- Entries reversed before this migration (the reversal then changed nothing else): their rows
-- learn of it now, as if reversed now, so that the mirrors and the journal agree from here on
-- (`ledger verify` checks it). A reversed sale or refund already settled is netted by the next
-- settlement; a reversed refund no longer counts in its sale's `refunded`; a paid line whose
-- payout was reversed is unpaid again; a bank line matched to a reversed entry is unmatched.
UPDATE redemptions SET
    reversed_entry_id = (SELECT r.id FROM journal_entries r WHERE r.reverses_id = redemptions.entry_id),
    reversed_at = CASE WHEN settlement_id IS NULL THEN created_at ELSE CAST(EXTRACT(EPOCH FROM now()) * 1000000 AS BIGINT) END
WHERE EXISTS (SELECT 1 FROM journal_entries r WHERE r.reverses_id = redemptions.entry_id);
UPDATE refunds SET
    reversed_entry_id = (SELECT r.id FROM journal_entries r WHERE r.reverses_id = refunds.entry_id),
    reversed_at = CASE WHEN settlement_id IS NULL THEN created_at ELSE CAST(EXTRACT(EPOCH FROM now()) * 1000000 AS BIGINT) END
WHERE EXISTS (SELECT 1 FROM journal_entries r WHERE r.reverses_id = refunds.entry_id);
UPDATE redemptions SET refunded = refunded - (SELECT COALESCE(SUM(f.amount), 0) FROM refunds f
    WHERE f.fund_id = redemptions.fund_id AND f.redemption_id = redemptions.id
    AND f.reversed_entry_id IS NOT NULL)
WHERE EXISTS (SELECT 1 FROM refunds f WHERE f.fund_id = redemptions.fund_id
    AND f.redemption_id = redemptions.id AND f.reversed_entry_id IS NOT NULL);
UPDATE allowance_credits SET
    reversed_entry_id = (SELECT r.id FROM journal_entries r WHERE r.reverses_id = allowance_credits.entry_id)
WHERE EXISTS (SELECT 1 FROM journal_entries r WHERE r.reverses_id = allowance_credits.entry_id);
UPDATE contribution_calls SET
    reversed_entry_id = (SELECT r.id FROM journal_entries r WHERE r.reverses_id = contribution_calls.entry_id)
WHERE EXISTS (SELECT 1 FROM journal_entries r WHERE r.reverses_id = contribution_calls.entry_id);
UPDATE contribution_payments SET
    reversed_entry_id = (SELECT r.id FROM journal_entries r WHERE r.reverses_id = contribution_payments.entry_id)
WHERE EXISTS (SELECT 1 FROM journal_entries r WHERE r.reverses_id = contribution_payments.entry_id);
UPDATE settlement_lines SET status = 'unpaid', paid_entry_id = NULL, bank_line_id = NULL,
    paid_at = NULL
WHERE status = 'paid'
    AND EXISTS (SELECT 1 FROM journal_entries r WHERE r.reverses_id = settlement_lines.paid_entry_id);
UPDATE bank_lines SET matched_kind = NULL, matched_id = NULL, entry_id = NULL
WHERE EXISTS (SELECT 1 FROM journal_entries r WHERE r.reverses_id = bank_lines.entry_id);

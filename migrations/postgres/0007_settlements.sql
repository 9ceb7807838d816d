-- Settlement of the shops (what each is owed for its sales, paid by SEPA credit transfer) and
-- the bank statements that show the transfers and the members' payments.

-- A redemption or refund belongs to the settlement that claimed it; NULL until then. A shop
-- whose sales net to zero or less at a settlement keeps its rows unclaimed: they are netted by
-- the next settlement (a negative net is carried, never paid).
ALTER TABLE redemptions ADD COLUMN settlement_id TEXT;
ALTER TABLE refunds ADD COLUMN settlement_id TEXT;
-- PostgreSQL: no index may name settlement_id, and pages keep room for a second version of
-- each row, so that the settlement's claim (and a refund's update of `refunded`) is a HOT update
-- that writes no index entry: 1,000,000 rows claimed in seconds rather than a minute (measured:
-- 300,000 rows 17 s with the indexes, 1 s HOT). The claim scans the table instead.
ALTER TABLE redemptions SET (fillfactor = 45);
ALTER TABLE refunds SET (fillfactor = 45);
CREATE INDEX refunds_shop ON refunds (fund_id, shop_id, created_at);

CREATE TABLE settlements (
    fund_id     TEXT NOT NULL REFERENCES funds(id),
    id          TEXT NOT NULL,
    -- Sales and refunds strictly before this instant (microseconds) were settled.
    cutoff      BIGINT NOT NULL,
    total       BIGINT NOT NULL CHECK (total > 0),
    lines       BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (fund_id, id)
);
CREATE INDEX settlements_created ON settlements (fund_id, created_at);

-- One transfer to a shop. Paid when a bank debit with its EndToEndId is matched.
CREATE TABLE settlement_lines (
    fund_id         TEXT NOT NULL,
    settlement_id   TEXT NOT NULL,
    shop_id         TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    redemptions     BIGINT NOT NULL,
    refunds         BIGINT NOT NULL,
    end_to_end_id   TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL CHECK (status IN ('unpaid', 'paid')),
    paid_entry_id   BIGINT,
    bank_line_id    TEXT,
    paid_at         BIGINT,
    PRIMARY KEY (fund_id, settlement_id, shop_id),
    FOREIGN KEY (fund_id, settlement_id) REFERENCES settlements (fund_id, id)
);
CREATE INDEX settlement_lines_status ON settlement_lines (fund_id, status);

CREATE TABLE bank_statements (
    fund_id       TEXT NOT NULL REFERENCES funds(id),
    id            TEXT NOT NULL,
    -- camt.053.001.02, camt.053.001.08 or csv.
    format        TEXT NOT NULL,
    -- The bank's statement id (camt Stmt/Id), when given.
    bank_id       TEXT,
    opening       BIGINT,
    closing       BIGINT,
    imported      BIGINT NOT NULL,
    duplicates    BIGINT NOT NULL,
    imported_by   TEXT NOT NULL,
    imported_at   BIGINT NOT NULL,
    PRIMARY KEY (fund_id, id)
);

-- One booked movement on the fund's account: negative is money out.
CREATE TABLE bank_lines (
    fund_id        TEXT NOT NULL,
    id             TEXT NOT NULL,
    statement_id   TEXT NOT NULL,
    booked_on      TEXT NOT NULL,
    amount         BIGINT NOT NULL,
    reference      TEXT NOT NULL,
    counterparty   TEXT,
    bank_ref       TEXT,
    end_to_end_id  TEXT,
    -- The bank's entry reference when given, else date + amount + reference (and the rank of
    -- identical lines within one statement): a statement imported twice adds nothing.
    dedupe_key     TEXT NOT NULL,
    -- payout (a settlement line), contribution (a member's payment), or NULL: unmatched.
    matched_kind   TEXT CHECK (matched_kind IN ('payout', 'contribution')),
    matched_id     TEXT,
    entry_id       BIGINT,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (fund_id, id),
    UNIQUE (fund_id, dedupe_key),
    FOREIGN KEY (fund_id, statement_id) REFERENCES bank_statements (fund_id, id)
);
CREATE INDEX bank_lines_unmatched ON bank_lines (fund_id, booked_on) WHERE matched_kind IS NULL;

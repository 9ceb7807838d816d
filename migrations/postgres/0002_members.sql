-- Members, households and contributions.

-- Per-fund counters (member numbers...).
CREATE TABLE fund_counters (
    fund_id  TEXT NOT NULL REFERENCES funds(id),
    name     TEXT NOT NULL,
    value    BIGINT NOT NULL,
    PRIMARY KEY (fund_id, name)
);

-- A member (adhérent). Personal data (name, email, phone, income) is set to NULL when the
-- member leaves; the member number and the payment reference stay, and so does the ledger.
CREATE TABLE members (
    fund_id              TEXT NOT NULL REFERENCES funds(id),
    id                   TEXT NOT NULL,
    number               BIGINT NOT NULL,
    -- Account suffix in the ledger and the FEC (411.M000042, 467.M000042): pseudonymous.
    account_ref          TEXT NOT NULL,
    -- ISO 11649 creditor reference (RFxx...), to quote on bank transfers.
    payment_reference    TEXT NOT NULL,
    full_name            TEXT,
    email                TEXT,
    phone                TEXT,
    adults               BIGINT NOT NULL CHECK (adults >= 1),
    children             BIGINT NOT NULL CHECK (children >= 0),
    monthly_income       BIGINT CHECK (monthly_income >= 0),
    chosen_contribution  BIGINT CHECK (chosen_contribution >= 0),
    status               TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'left')),
    joined_on            TEXT NOT NULL,
    left_on              TEXT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    PRIMARY KEY (fund_id, id),
    UNIQUE (fund_id, number),
    UNIQUE (fund_id, payment_reference)
);
CREATE INDEX members_status ON members (fund_id, status, id);

-- One row per called period: claimed first, so two racing calls for a period create one.
CREATE TABLE contribution_periods (
    fund_id         TEXT NOT NULL REFERENCES funds(id),
    period          TEXT NOT NULL,
    members_called  BIGINT NOT NULL,
    total           BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (fund_id, period)
);

-- What each member was called for in each period: never changes after the call. (No
-- foreign keys: written only by the call, in bulk, from the members it reads.)
CREATE TABLE contribution_calls (
    fund_id    TEXT NOT NULL,
    period     TEXT NOT NULL,
    member_id  TEXT NOT NULL,
    amount     BIGINT NOT NULL CHECK (amount >= 0),
    entry_id   BIGINT,
    PRIMARY KEY (fund_id, member_id, period)
);

CREATE TABLE contribution_payments (
    fund_id     TEXT NOT NULL,
    id          TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    amount      BIGINT NOT NULL CHECK (amount > 0),
    method      TEXT NOT NULL CHECK (method IN ('transfer', 'cash', 'cheque', 'card', 'direct_debit')),
    paid_on     TEXT NOT NULL,
    reference   TEXT,
    entry_id    BIGINT NOT NULL REFERENCES journal_entries (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (fund_id, id),
    FOREIGN KEY (fund_id, member_id) REFERENCES members (fund_id, id)
);
CREATE INDEX contribution_payments_member ON contribution_payments (fund_id, member_id, paid_on);

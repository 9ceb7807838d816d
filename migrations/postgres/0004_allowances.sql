-- Monthly food allowances.

-- One row per issued period: claimed first, so two racing issuances credit once.
CREATE TABLE allowance_periods (
    fund_id           TEXT NOT NULL REFERENCES funds(id),
    period            TEXT NOT NULL,
    members_credited  BIGINT NOT NULL,
    total             BIGINT NOT NULL,
    returned_by_cap   BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    PRIMARY KEY (fund_id, period)
);

-- What each member was credited in each period, and what the balance cap sent back to the
-- common pot: never changes after the issuance. (No foreign keys: written only by the
-- issuance, in bulk, from the members it reads.)
CREATE TABLE allowance_credits (
    fund_id    TEXT NOT NULL,
    member_id  TEXT NOT NULL,
    period     TEXT NOT NULL,
    amount     BIGINT NOT NULL CHECK (amount >= 0),
    returned   BIGINT NOT NULL CHECK (returned >= 0),
    entry_id   BIGINT,
    PRIMARY KEY (fund_id, member_id, period)
);

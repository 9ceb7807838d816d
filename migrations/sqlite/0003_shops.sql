-- Approved shops and producers (commerces conventionnés): applications with their answers to the
-- fund's criteria, the committee's votes, the admins' decisions, and the shops' tills.

CREATE TABLE shops (
    fund_id      TEXT NOT NULL REFERENCES funds(id),
    id           TEXT NOT NULL,
    name         TEXT NOT NULL,
    legal_name   TEXT NOT NULL,
    siret        TEXT,
    -- Electronic form (no spaces); seen only by admins and treasurers.
    iban         TEXT NOT NULL,
    bic          TEXT,
    address      TEXT NOT NULL,
    -- JSON array of category names from the fund's settings.
    categories   TEXT NOT NULL,
    status       TEXT NOT NULL
                 CHECK (status IN ('pending', 'approved', 'rejected', 'suspended')),
    -- 'YYYY-MM-DD' of the next review, set by an approval.
    review_on    TEXT,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (fund_id, id)
);
CREATE INDEX shops_status ON shops (fund_id, status, id);
CREATE INDEX shops_review ON shops (fund_id, review_on);

-- The shop's answer to each of the fund's criteria (settings.criteria, by id).
CREATE TABLE shop_criteria (
    fund_id       TEXT NOT NULL,
    shop_id       TEXT NOT NULL,
    criterion_id  TEXT NOT NULL,
    answer        TEXT NOT NULL,
    PRIMARY KEY (fund_id, shop_id, criterion_id),
    FOREIGN KEY (fund_id, shop_id) REFERENCES shops (fund_id, id)
);

-- One vote per committee member and shop: a new vote replaces the old one.
CREATE TABLE shop_votes (
    fund_id    TEXT NOT NULL,
    shop_id    TEXT NOT NULL,
    voter_id   TEXT NOT NULL,
    choice     TEXT NOT NULL CHECK (choice IN ('for', 'against', 'abstain')),
    comment    TEXT,
    voted_at   BIGINT NOT NULL,
    PRIMARY KEY (fund_id, shop_id, voter_id),
    FOREIGN KEY (fund_id, shop_id) REFERENCES shops (fund_id, id),
    FOREIGN KEY (fund_id, voter_id) REFERENCES users (fund_id, id)
);

-- Every change of status, never updated: decisions (with the tally of the votes at that
-- moment), suspensions and reinstatements.
CREATE TABLE shop_decisions (
    fund_id         TEXT NOT NULL,
    id              TEXT NOT NULL,
    shop_id         TEXT NOT NULL,
    kind            TEXT NOT NULL
                    CHECK (kind IN ('approved', 'rejected', 'suspended', 'reinstated')),
    note            TEXT,
    review_on       TEXT,
    votes_for       BIGINT,
    votes_against   BIGINT,
    votes_abstain   BIGINT,
    decided_by      TEXT NOT NULL,
    decided_at      BIGINT NOT NULL,
    PRIMARY KEY (fund_id, id),
    FOREIGN KEY (fund_id, shop_id) REFERENCES shops (fund_id, id),
    CHECK ((kind IN ('approved', 'rejected')) =
           (votes_for IS NOT NULL AND votes_against IS NOT NULL AND votes_abstain IS NOT NULL))
);
CREATE INDEX shop_decisions_shop ON shop_decisions (fund_id, shop_id, id);

-- A shop's tills. The API key is shown once; only its SHA-256 is stored.
CREATE TABLE terminals (
    fund_id       TEXT NOT NULL,
    id            TEXT NOT NULL,
    shop_id       TEXT NOT NULL,
    label         TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    -- Kept to the minute: refreshed at most once a minute, so the till path stays a read.
    last_used_at  BIGINT,
    revoked_at    BIGINT,
    revoked_by    TEXT,
    PRIMARY KEY (fund_id, id),
    FOREIGN KEY (fund_id, shop_id) REFERENCES shops (fund_id, id)
);
CREATE INDEX terminals_shop ON terminals (fund_id, shop_id, id);

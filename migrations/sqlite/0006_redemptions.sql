-- Redemptions at the till, refunds, and declines kept for the committee's fraud review.

CREATE TABLE redemptions (
    fund_id      TEXT NOT NULL,
    id           TEXT NOT NULL,
    shop_id      TEXT NOT NULL,
    terminal_id  TEXT NOT NULL,
    card_id      TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    amount       BIGINT NOT NULL CHECK (amount > 0),
    -- Refunded so far; never more than the amount.
    refunded     BIGINT NOT NULL DEFAULT 0,
    entry_id     BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (fund_id, id),
    CHECK (refunded >= 0 AND refunded <= amount)
);
CREATE INDEX redemptions_shop ON redemptions (fund_id, shop_id, created_at);
CREATE INDEX redemptions_member ON redemptions (fund_id, member_id, created_at);

CREATE TABLE refunds (
    fund_id        TEXT NOT NULL,
    id             TEXT NOT NULL,
    redemption_id  TEXT NOT NULL,
    shop_id        TEXT NOT NULL,
    terminal_id    TEXT NOT NULL,
    amount         BIGINT NOT NULL CHECK (amount > 0),
    entry_id       BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (fund_id, id)
);
CREATE INDEX refunds_redemption ON refunds (fund_id, redemption_id);

CREATE TABLE declines (
    fund_id      TEXT NOT NULL,
    id           TEXT NOT NULL,
    shop_id      TEXT NOT NULL,
    terminal_id  TEXT NOT NULL,
    -- The card named by the token, when it could be read (never proves who held it).
    card_id      TEXT,
    code         TEXT NOT NULL,
    amount       BIGINT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (fund_id, id)
);
CREATE INDEX declines_created ON declines (fund_id, created_at);

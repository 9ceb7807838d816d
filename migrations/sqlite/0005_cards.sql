-- Members' payment cards. An `app` card's TOTP secret is kept only encrypted with the card key
-- (a file beside the database, never in it); a `printed` card's PIN only as an Argon2id hash.

CREATE TABLE cards (
    fund_id      TEXT NOT NULL,
    id           TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('app', 'printed')),
    -- App cards: 'v1:' + base64(nonce || ChaCha20-Poly1305 ciphertext) of the secret.
    secret_enc   TEXT,
    -- Printed cards: PHC string of the PIN's Argon2id hash.
    pin_hash     TEXT,
    -- Wrong PINs in a row; reset by a right one or an unlock.
    wrong_pins   BIGINT NOT NULL DEFAULT 0,
    locked_at    BIGINT,
    revoked_at   BIGINT,
    revoked_by   TEXT,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (fund_id, id),
    FOREIGN KEY (fund_id, member_id) REFERENCES members (fund_id, id),
    CHECK ((kind = 'app' AND secret_enc IS NOT NULL AND pin_hash IS NULL)
        OR (kind = 'printed' AND pin_hash IS NOT NULL AND secret_enc IS NULL))
);
CREATE INDEX cards_member ON cards (fund_id, member_id, id);

-- Each (card, TOTP step) is accepted once: the row is written in the redemption's transaction.
CREATE TABLE card_token_uses (
    fund_id   TEXT NOT NULL,
    card_id   TEXT NOT NULL,
    step      BIGINT NOT NULL,
    used_at   BIGINT NOT NULL,
    PRIMARY KEY (fund_id, card_id, step),
    FOREIGN KEY (fund_id, card_id) REFERENCES cards (fund_id, id)
);

-- Foundation: funds, users, sessions, the double-entry ledger, idempotency keys.
-- Every table carries fund_id so that one deployment can host several funds and shard by fund.
-- Instants are BIGINT microseconds since the Unix epoch (UTC); dates are TEXT 'YYYY-MM-DD';
-- money is BIGINT cents.

CREATE TABLE funds (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    settings    TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    fund_id        TEXT NOT NULL REFERENCES funds(id),
    id             TEXT NOT NULL,
    email          TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'treasurer', 'committee', 'member')),
    member_id      TEXT,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (fund_id, id),
    UNIQUE (fund_id, email)
);
CREATE INDEX users_email ON users (email);

-- Bearer tokens: only their SHA-256 is stored.
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    fund_id     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    FOREIGN KEY (fund_id, user_id) REFERENCES users (fund_id, id)
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Accounts with cached totals. The cache changes in the same transaction as the postings;
-- the CHECKs keep it coherent and keep member allowance balances (467.*) from going negative.
CREATE TABLE accounts (
    fund_id          TEXT NOT NULL REFERENCES funds(id),
    code             TEXT NOT NULL,
    general          TEXT NOT NULL,
    label            TEXT NOT NULL,
    normal_side      TEXT NOT NULL CHECK (normal_side IN ('debit', 'credit')),
    may_go_negative  BIGINT NOT NULL CHECK (may_go_negative IN (0, 1)),
    debit_total      BIGINT NOT NULL DEFAULT 0 CHECK (debit_total >= 0),
    credit_total     BIGINT NOT NULL DEFAULT 0 CHECK (credit_total >= 0),
    balance          BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (fund_id, code),
    CHECK (balance = CASE normal_side WHEN 'debit' THEN debit_total - credit_total
                                      ELSE credit_total - debit_total END),
    CHECK (may_go_negative = 1 OR balance >= 0)
);

-- One row per fund: the last entry number and chain hash. Updating it serialises the chaining
-- of entries, which is what makes entry numbers gapless and the hash chain linear.
CREATE TABLE ledger_heads (
    fund_id    TEXT PRIMARY KEY REFERENCES funds(id),
    seq        BIGINT NOT NULL,
    last_hash  TEXT NOT NULL
);

-- A journal entry, immutable once written. Its gapless number and chain hash live in
-- journal_chain, written when the entry joins the chain (at commit on PostgreSQL).
CREATE TABLE journal_entries (
    id INTEGER PRIMARY KEY,
    fund_id       TEXT NOT NULL,
    journal       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    entry_date    TEXT NOT NULL,
    label         TEXT NOT NULL,
    reference     TEXT,
    reverses_id   BIGINT REFERENCES journal_entries (id),
    created_at    BIGINT NOT NULL,
    content_hash  TEXT NOT NULL,
    -- Written by a batch (contribution calls, allowance issuance), which chains its entries
    -- itself; every other entry is chained one by one as it commits.
    batch_chained BOOLEAN NOT NULL DEFAULT FALSE
);
-- An entry is reversed at most once.
CREATE UNIQUE INDEX journal_entries_one_reversal
    ON journal_entries (reverses_id) WHERE reverses_id IS NOT NULL;

-- The hash chain: entry number seq (1, 2, 3... per fund, no gaps) and
-- chain_hash = SHA-256(previous chain_hash || the entry's content_hash), hex.
-- The high-volume ledger tables (journal_chain, postings) carry no foreign keys: checking
-- them row by row would halve the speed of the monthly batches. Only the ledger code writes
-- them, it checks every account before writing, and `caisse ledger verify` reports any posting
-- or chain row that points nowhere.
CREATE TABLE journal_chain (
    fund_id     TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    entry_id    BIGINT NOT NULL UNIQUE,
    chain_hash  TEXT NOT NULL,
    PRIMARY KEY (fund_id, seq)
);

CREATE TABLE postings (
    entry_id   BIGINT NOT NULL,
    line       BIGINT NOT NULL,
    fund_id    TEXT NOT NULL,
    account    TEXT NOT NULL,
    debit      BIGINT NOT NULL,
    credit     BIGINT NOT NULL,
    PRIMARY KEY (entry_id, line),
    CHECK (debit >= 0 AND credit >= 0 AND (debit = 0 OR credit = 0) AND debit + credit > 0)
);
CREATE INDEX postings_account ON postings (fund_id, account, entry_id);

-- Idempotency keys of the money routes: stored in the same transaction as the effect.
CREATE TABLE idempotency_keys (
    fund_id       TEXT NOT NULL,
    caller        TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    -- NULL while the first request holding the key is still in its transaction.
    status        BIGINT,
    response      TEXT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (fund_id, caller, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- The journal is append-only: a mistake is corrected by a reversing entry.
CREATE TRIGGER journal_entries_append_only_update BEFORE UPDATE ON journal_entries
BEGIN SELECT RAISE(ABORT, 'journal_entries is append-only'); END;
CREATE TRIGGER journal_entries_append_only_delete BEFORE DELETE ON journal_entries
BEGIN SELECT RAISE(ABORT, 'journal_entries is append-only'); END;
CREATE TRIGGER postings_append_only_update BEFORE UPDATE ON postings
BEGIN SELECT RAISE(ABORT, 'postings is append-only'); END;
CREATE TRIGGER postings_append_only_delete BEFORE DELETE ON postings
BEGIN SELECT RAISE(ABORT, 'postings is append-only'); END;
CREATE TRIGGER journal_chain_append_only_update BEFORE UPDATE ON journal_chain
BEGIN SELECT RAISE(ABORT, 'journal_chain is append-only'); END;
CREATE TRIGGER journal_chain_append_only_delete BEFORE DELETE ON journal_chain
BEGIN SELECT RAISE(ABORT, 'journal_chain is append-only'); END;

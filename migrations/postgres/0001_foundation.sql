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
CREATE INDEX accounts_general ON accounts (fund_id, general);

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
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fund_id       TEXT NOT NULL REFERENCES funds(id),
    journal       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    entry_date    TEXT NOT NULL,
    label         TEXT NOT NULL,
    reference     TEXT,
    reverses_id   BIGINT REFERENCES journal_entries (id),
    created_at    BIGINT NOT NULL,
    content_hash  TEXT NOT NULL
);
CREATE INDEX journal_entries_fund ON journal_entries (fund_id, id);
-- An entry is reversed at most once.
CREATE UNIQUE INDEX journal_entries_one_reversal
    ON journal_entries (reverses_id) WHERE reverses_id IS NOT NULL;
CREATE INDEX journal_entries_date ON journal_entries (fund_id, entry_date);

-- The hash chain: entry number seq (1, 2, 3... per fund, no gaps) and
-- chain_hash = SHA-256(previous chain_hash || the entry's content_hash), hex.
CREATE TABLE journal_chain (
    fund_id     TEXT NOT NULL REFERENCES funds(id),
    seq         BIGINT NOT NULL,
    entry_id    BIGINT NOT NULL UNIQUE REFERENCES journal_entries (id),
    chain_hash  TEXT NOT NULL,
    PRIMARY KEY (fund_id, seq)
);

CREATE TABLE postings (
    entry_id   BIGINT NOT NULL REFERENCES journal_entries (id),
    line       BIGINT NOT NULL,
    fund_id    TEXT NOT NULL,
    account    TEXT NOT NULL,
    debit      BIGINT NOT NULL,
    credit     BIGINT NOT NULL,
    PRIMARY KEY (entry_id, line),
    FOREIGN KEY (fund_id, account) REFERENCES accounts (fund_id, code),
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
CREATE FUNCTION caisse_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION caisse_append_only();
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION caisse_append_only();
CREATE TRIGGER journal_chain_append_only BEFORE UPDATE OR DELETE ON journal_chain
    FOR EACH ROW EXECUTE FUNCTION caisse_append_only();
CREATE TRIGGER journal_chain_no_truncate BEFORE TRUNCATE ON journal_chain
    FOR EACH STATEMENT EXECUTE FUNCTION caisse_append_only();
CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION caisse_append_only();
CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION caisse_append_only();

-- Chaining at commit. A deferred constraint trigger runs when the transaction commits, so the
-- fund's journal head is locked only from there to the end of the commit: no round trip to the
-- client happens while other writers wait on it. Entries are numbered in commit order.
-- sha256(previous || content) here is exactly chain_hash() in src/domain/ledger.rs.
CREATE FUNCTION caisse_chain_entry() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    next_seq BIGINT;
    next_hash TEXT;
BEGIN
    UPDATE ledger_heads
       SET seq = seq + 1,
           last_hash = encode(sha256(convert_to(last_hash || NEW.content_hash, 'UTF8')), 'hex')
     WHERE fund_id = NEW.fund_id
    RETURNING seq, last_hash INTO next_seq, next_hash;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'fund % has no journal head', NEW.fund_id;
    END IF;
    INSERT INTO journal_chain (fund_id, seq, entry_id, chain_hash)
    VALUES (NEW.fund_id, next_seq, NEW.id, next_hash);
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER journal_entries_chain AFTER INSERT ON journal_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION caisse_chain_entry();

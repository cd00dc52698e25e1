-- The transparency log over the event hashes (RFC 6962) and its signed tree heads.

-- Every completed perfect subtree: the node at (level, idx) covers leaves
-- [idx * 2^level, (idx + 1) * 2^level) and never changes once complete, so it is inserted
-- once and never updated; a proof reads O(log n) of these rows. Leaf index = position - 1;
-- the leaf data is the chain hash recomputed from the events' content, not the stored one.
CREATE TABLE ledger.merkle_nodes (
    level   smallint NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx     bigint   NOT NULL CHECK (idx >= 0),
    hash    bytea    NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (level, idx)
);

-- How far the tree is built. One row, locked FOR UPDATE by each batch of the builder and
-- by a rebuild, so the two can never interleave.
CREATE TABLE ledger.merkle_state (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    tree_size   bigint  NOT NULL CHECK (tree_size >= 0),
    -- The chain hash the builder recomputed at position tree_size (genesis: 32 zero
    -- bytes): the next leaf chains from it, never from a stored hash.
    chain_hash  bytea   NOT NULL CHECK (octet_length(chain_hash) = 32)
);
INSERT INTO ledger.merkle_state (tree_size, chain_hash) VALUES (0, '\x0000000000000000000000000000000000000000000000000000000000000000');

-- Every public key that ever signed a tree head, so heads signed before a key rotation
-- still verify from the published JWKS.
CREATE TABLE ledger.tree_signing_keys (
    key_id          text        PRIMARY KEY,
    public_jwk      jsonb       NOT NULL,
    first_used_at   timestamptz NOT NULL DEFAULT now()
);

-- Signed tree heads, every one kept: an auditor holding an old head must always be able to
-- ask for a consistency proof from it.
CREATE TABLE ledger.tree_heads (
    head_id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tree_size       bigint      NOT NULL CHECK (tree_size >= 0),
    root_hash       bytea       NOT NULL CHECK (octet_length(root_hash) = 32),
    -- Exactly what is signed: milliseconds since the Unix epoch (see tree_head.py).
    timestamp_ms    bigint      NOT NULL CHECK (timestamp_ms >= 0),
    key_id          text        NOT NULL REFERENCES ledger.tree_signing_keys (key_id),
    signature       text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tree_heads_tree_size ON ledger.tree_heads (tree_size);

CREATE FUNCTION ledger.refuse_tree_head_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger.tree_heads keeps every signed head: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER tree_heads_refuse_update_delete
    BEFORE UPDATE OR DELETE ON ledger.tree_heads
    FOR EACH ROW EXECUTE FUNCTION ledger.refuse_tree_head_change();

CREATE TRIGGER tree_heads_refuse_truncate
    BEFORE TRUNCATE ON ledger.tree_heads
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_tree_head_change();

-- The application role builds the tree and signs heads: it inserts nodes and heads and
-- advances the state, and can neither delete nor rewrite any of them. Rebuilding the tree
-- (`credit-ledger audit rebuild-tree`) is an operator's act, as the owner.
GRANT SELECT, INSERT ON ledger.merkle_nodes TO credit_ledger_app;
GRANT SELECT, UPDATE ON ledger.merkle_state TO credit_ledger_app;
GRANT SELECT, INSERT ON ledger.tree_signing_keys, ledger.tree_heads TO credit_ledger_app;

-- Sessions of the upload page (services/ledger/upload): a member of an institution's staff
-- signs in once with the institution's key, and the browser keeps only a random session
-- token in an HTTP-only cookie. The table holds the token's SHA-256, never the token or the
-- key, so that every ledger worker process knows the session and a stolen table grants
-- nothing. A session ends at expires_at, when its key is revoked, or on sign-out.
CREATE TABLE ledger.upload_sessions (
    token_sha256  bytea       PRIMARY KEY,
    key_id        text        NOT NULL REFERENCES ledger.api_keys (key_id),
    -- The form token each of the session's forms carries (synchronizer-token CSRF defence).
    csrf_token    text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX upload_sessions_expiry ON ledger.upload_sessions (expires_at);
GRANT SELECT, INSERT, DELETE ON ledger.upload_sessions TO credit_ledger_app;

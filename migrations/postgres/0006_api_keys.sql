-- API keys (docs/security.md). `api_keys` is a read table of the api_keys projection: one row
-- per key, found by the SHA-256 of its secret; the secret itself is stored nowhere.
CREATE TABLE IF NOT EXISTS api_keys (
    id           uuid PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    role         text NOT NULL,
    key_hash     text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    created_by   text NOT NULL,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    revoked_by   text,
    position     bigint NOT NULL
);

-- When each key was last used: bookkeeping of the API processes, like worker leases, not a
-- projection (it is not rebuilt from the log). Written at most once a minute per key.
CREATE TABLE IF NOT EXISTS api_key_usage (
    key_id        uuid PRIMARY KEY,
    last_used_at  timestamptz NOT NULL
);

-- API keys: who may call the HTTP API, in which workspace, with which role.
-- Only the SHA-256 of a key's secret is stored; the key itself is shown once, on creation.
CREATE TABLE IF NOT EXISTS api_keys (
    id            text        PRIMARY KEY,
    workspace_id  text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('ingest', 'viewer', 'reviewer', 'admin')),
    name          text        NOT NULL,
    secret_hash   bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
CREATE INDEX IF NOT EXISTS api_keys_workspace ON api_keys (workspace_id, created_at);

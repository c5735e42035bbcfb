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

-- Every change to a key is announced on the channel ledger_api_keys, in the changing
-- transaction (delivered when it commits): API processes cache verified keys, and evict one
-- the moment it is revoked. The payload is the key's id; empty means "forget every key".
CREATE OR REPLACE FUNCTION ledger_api_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM pg_notify('ledger_api_keys', '');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('ledger_api_keys', OLD.id);
    ELSE
        PERFORM pg_notify('ledger_api_keys', NEW.id);
    END IF;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER api_keys_changed AFTER UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION ledger_api_key_changed();
CREATE OR REPLACE TRIGGER api_keys_truncated AFTER TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_api_key_changed();

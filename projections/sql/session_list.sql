CREATE TABLE IF NOT EXISTS session_list (
    session_id       uuid        PRIMARY KEY,
    workspace_id     text        NOT NULL,
    agent_id         text,
    channel          text,
    contact_name     text,
    status           text        NOT NULL,
    started_at       timestamptz,
    last_message_at  timestamptz,
    finished_at      timestamptz,
    message_count    integer     NOT NULL DEFAULT 0,
    version          bigint      NOT NULL,
    position         bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS session_list_started
    ON session_list (workspace_id, started_at DESC, session_id DESC);

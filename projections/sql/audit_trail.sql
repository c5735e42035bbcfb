-- audit_trail: every human or API action that changed a judgement, newest first.
CREATE TABLE IF NOT EXISTS audit_trail (
    event_id      uuid        PRIMARY KEY,
    workspace_id  text        NOT NULL,
    stream_id     uuid        NOT NULL,  -- the session, or the missed-question group
    stream_type   text        NOT NULL,
    version       bigint      NOT NULL,
    position      bigint,
    event_type    text        NOT NULL,
    action        text        NOT NULL,  -- the event type without its stream: flag_set, ...
    field         text        NOT NULL,
    before        jsonb,
    after         jsonb,
    reason        text,
    actor_kind    text        NOT NULL,
    actor_id      text        NOT NULL,
    actor_name    text        NOT NULL,
    occurred_at   timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL,
    hash          text        NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_trail_newest
    ON audit_trail (workspace_id, recorded_at DESC, event_id DESC);
CREATE INDEX IF NOT EXISTS audit_trail_by_stream
    ON audit_trail (workspace_id, stream_id, recorded_at DESC, event_id DESC);
CREATE INDEX IF NOT EXISTS audit_trail_by_actor
    ON audit_trail (workspace_id, actor_id, recorded_at DESC, event_id DESC);

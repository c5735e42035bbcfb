-- Tables of the command side beside eventsourcing's own stored_events table.

-- One row per stored event: makes a client-supplied event id idempotent (stored once),
-- written in the same transaction as the event itself.
CREATE TABLE IF NOT EXISTS ledger_event_ids (
    event_id   uuid   PRIMARY KEY,
    stream_id  uuid   NOT NULL,
    version    bigint NOT NULL
);

-- Where the relay is in the notification log, and which broker cluster it published to.
CREATE TABLE IF NOT EXISTS relay_position (
    relay       text        PRIMARY KEY,
    position    bigint      NOT NULL,
    cluster_id  text,
    pid         integer,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

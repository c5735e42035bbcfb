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

-- The head (last version and its hash) of every stream, written in the same transaction as
-- the events: deleting a stream's newest event leaves the head pointing past the stream.
CREATE TABLE IF NOT EXISTS stream_heads (
    stream_id  uuid   PRIMARY KEY,
    version    bigint NOT NULL,
    hash       text   NOT NULL
);

-- A chain over the global order, checkpointed: chain_n = sha256(chain_{n-1} | position | hash).
-- Rewriting or deleting any event up to a checkpoint changes the recomputed chain there.
CREATE TABLE IF NOT EXISTS ledger_chain_checkpoints (
    position    bigint      PRIMARY KEY,
    chain_hash  text        NOT NULL,
    events      bigint      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The chain's head as the relay last published it, written with its position: a checkpoint
-- that exists as long as the relay's row does, so deleting the checkpoints above does not
-- leave the newest events unattested (verification reads both).
ALTER TABLE relay_position ADD COLUMN IF NOT EXISTS chain_position bigint;
ALTER TABLE relay_position ADD COLUMN IF NOT EXISTS chain_hash text;
ALTER TABLE relay_position ADD COLUMN IF NOT EXISTS chain_events bigint;

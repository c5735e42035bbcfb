-- Bookkeeping shared by every read model.

-- Per read model and stream, the last applied version: a redelivered event (version <=
-- applied) is skipped; a gap (version > applied + 1) is healed from the event store.
CREATE TABLE IF NOT EXISTS projection_streams (
    projection  text   NOT NULL,
    stream_id   uuid   NOT NULL,
    version     bigint NOT NULL,
    position    bigint NOT NULL,
    PRIMARY KEY (projection, stream_id)
);

-- Per read model: the highest global position applied and how many events it applied.
CREATE TABLE IF NOT EXISTS projection_status (
    projection      text        PRIMARY KEY,
    position        bigint      NOT NULL DEFAULT 0,
    events_applied  bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Events a read model could not decode or apply, with the error: never silently dropped,
-- never blocking the partition; listed and retried with `ledger parked`.
CREATE TABLE IF NOT EXISTS parked_events (
    id          bigserial   PRIMARY KEY,
    projection  text        NOT NULL,
    position    bigint,
    stream_id   uuid,
    version     bigint,
    event_type  text,
    error       text        NOT NULL,
    raw         bytea,
    parked_at   timestamptz NOT NULL DEFAULT now(),
    retried_at  timestamptz
);
CREATE INDEX IF NOT EXISTS parked_events_open ON parked_events (projection) WHERE retried_at IS NULL;
-- The workspace of the parked event, so that an admin's API key shows only its own; null for a
-- message that did not decode (and for rows parked before the column): operators only.
ALTER TABLE parked_events ADD COLUMN IF NOT EXISTS workspace_id text;

-- Live stream processors: a row per worker process, stamped when faust assigned it
-- partitions (how `ledger up` knows a worker is really consuming, and `ledger status` shows it).
CREATE TABLE IF NOT EXISTS stream_workers (
    worker       text        PRIMARY KEY,
    group_id     text        NOT NULL,
    pid          integer     NOT NULL,
    partitions   integer[]   NOT NULL DEFAULT '{}',
    started_at   timestamptz NOT NULL DEFAULT now(),
    assigned_at  timestamptz
);

-- Every batch rewrites a row here per read model and stream. With no index on a column it
-- changes, and room left on each page, PostgreSQL rewrites the row in place (a HOT update)
-- instead of adding an entry to every index for each new row version. An index on the
-- positions, which only the live updates read, made this write 44 % dearer (11.1 -> 19.7 ms
-- per 1,000-event batch); the live updates read the event log instead (api/routes/live.py).
DROP INDEX IF EXISTS projection_streams_position;
DO $$
BEGIN
    -- Only when it differs: the ALTER waits for a vacuum of the table to yield.
    IF NOT EXISTS (SELECT FROM pg_class WHERE oid = 'projection_streams'::regclass
                   AND 'fillfactor=70' = ANY(reloptions)) THEN
        ALTER TABLE projection_streams SET (fillfactor = 70);
    END IF;
END $$;

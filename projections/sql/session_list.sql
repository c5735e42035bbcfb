-- One row per session: every column the Sessions screens show and filter on.
-- Indexes are chosen for a filtered, keyset-paginated page at 1,000,000 sessions:
-- see docs/session_list_indexes.md for the plans they give.
CREATE TABLE IF NOT EXISTS session_list (
    session_id              uuid        PRIMARY KEY,
    workspace_id            text        NOT NULL,
    status                  text        NOT NULL,
    agent_id                text,
    agent_version           text,
    channel                 text,
    deployment              text,
    integration             text,
    contact_name            text,
    contact_email           text,
    contact_phone           text,
    external_id             text,
    ip                      text,
    country                 text,
    region                  text,
    city                    text,
    utm                     jsonb,
    responsible             text        NOT NULL,
    handover_requested      boolean     NOT NULL,
    human_agent_id          text,
    human_agent_name        text,
    started_at              timestamptz NOT NULL,
    last_message_at         timestamptz,
    finished_at             timestamptz,
    duration_seconds        bigint      NOT NULL,
    session_length          text,
    started_day             date,
    message_count           integer     NOT NULL,
    customer_message_count  integer     NOT NULL,
    ai_message_count        integer     NOT NULL,
    human_message_count     integer     NOT NULL,
    has_attachments         boolean     NOT NULL,
    has_customer_responses  boolean     NOT NULL,
    sentiment               text,
    negative_sentiment      boolean     NOT NULL,
    negative_message_ids    text[]      NOT NULL,
    goals                   text[]      NOT NULL,
    journey_blocks          text[]      NOT NULL,
    forms                   text[]      NOT NULL,
    tags                    text[]      NOT NULL,
    missed_question_count   integer     NOT NULL,
    longest_missed_run      integer     NOT NULL,
    customer_message_ids    text[]      NOT NULL,
    missed_ordinals         integer[]   NOT NULL,
    summary                 text,
    session_type            text,
    units                   double precision,
    actual_result           text,
    expected_result         text,
    conversation_quality    smallint,
    is_lead                 boolean     NOT NULL,
    refused                 boolean     NOT NULL,
    unavailable             boolean     NOT NULL,
    opportunity_override    boolean,
    is_opportunity          boolean     NOT NULL,
    is_test                 boolean     NOT NULL,
    is_todo                 boolean     NOT NULL,
    is_archived             boolean     NOT NULL,
    is_favorite             boolean     NOT NULL,
    auto_assessment         text,
    human_assessment        text,
    effective_assessment    text,
    corrected_by_reviewer   boolean     NOT NULL,
    lead_value              double precision NOT NULL,
    conversion_ratio        double precision NOT NULL,
    in_working_hours        boolean     NOT NULL,
    recognition             double precision NOT NULL,
    success_factor          double precision,
    asr                     double precision NOT NULL,
    lead_id                 uuid,
    rules_version           integer     NOT NULL,
    version                 bigint      NOT NULL,
    position                bigint      NOT NULL,
    -- What the contact search matches: every contact field, lower-cased, unit-separated so
    -- a search cannot match across two fields.
    contact_search          text GENERATED ALWAYS AS (lower(
        coalesce(contact_name, '') || E'\x1f' || coalesce(contact_email, '') || E'\x1f'
        || coalesce(contact_phone, '') || E'\x1f' || coalesce(external_id, ''))) STORED
);

-- duration_seconds was an integer: a session whose reported times span over 68 years
-- overflowed it, and every later event of the session was parked. Widened once, in place.
DO $$
BEGIN
    IF (SELECT data_type FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'session_list'
          AND column_name = 'duration_seconds') = 'integer' THEN
        ALTER TABLE session_list ALTER duration_seconds TYPE bigint;
    END IF;
END $$;

-- The two sort orders of the list; the session id breaks ties for keyset pagination.
CREATE INDEX IF NOT EXISTS session_list_started
    ON session_list (workspace_id, started_at DESC, session_id DESC);
CREATE INDEX IF NOT EXISTS session_list_last_message
    ON session_list (workspace_id, (coalesce(last_message_at, '-infinity'::timestamptz)) DESC,
                     session_id DESC);
-- Selective filters that would otherwise walk most of the sort index.
CREATE INDEX IF NOT EXISTS session_list_agent_started
    ON session_list (workspace_id, agent_id, started_at DESC, session_id DESC);
CREATE INDEX IF NOT EXISTS session_list_ip ON session_list (workspace_id, ip);
CREATE INDEX IF NOT EXISTS session_list_tags ON session_list USING gin (tags);
CREATE INDEX IF NOT EXISTS session_list_goals ON session_list USING gin (goals);
-- Review work filters on rare flags: small partial indexes in the default sort order, so a
-- page of them is read in order instead of filtering the whole list (docs: combinations 5, 8).
CREATE INDEX IF NOT EXISTS session_list_opportunities
    ON session_list (workspace_id, started_at DESC, session_id DESC) WHERE is_opportunity;
CREATE INDEX IF NOT EXISTS session_list_todo
    ON session_list (workspace_id, started_at DESC, session_id DESC) WHERE is_todo;
CREATE INDEX IF NOT EXISTS session_list_favorites
    ON session_list (workspace_id, started_at DESC, session_id DESC) WHERE is_favorite;
CREATE INDEX IF NOT EXISTS session_list_missed
    ON session_list (workspace_id, started_at DESC, session_id DESC)
    WHERE missed_question_count > 0;
-- asr_metrics once re-added whole (agent, channel, local day) groups from these rows; it
-- is changed by each row's difference now, so nothing reads by group and no upsert should
-- keep an index for it.
DROP INDEX IF EXISTS session_list_metric_group;

-- Substring search on contact fields: a trigram index when pg_trgm can be had; without it
-- the search still works, as a scan.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm unavailable (%): contact search will scan', SQLERRM;
END $$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX IF NOT EXISTS session_list_contact_search'
                ' ON session_list USING gin (contact_search gin_trgm_ops)';
    END IF;
END $$;

-- leads: a workspace's sessions merged into leads by shared identifiers (union-find).
--
-- Members and identifiers point to a *cluster*, not to a lead: a merge re-points the rows of
-- the smaller cluster only (O(members of the smaller lead)), while the surviving lead is the
-- older one (first session started first, ties by id), whichever cluster it keeps. Exactly
-- one lead per cluster is alive (merged_into IS NULL); the fold keeps that invariant.

CREATE TABLE IF NOT EXISTS leads (
    lead_id           uuid        PRIMARY KEY,
    workspace_id      text        NOT NULL,
    cluster_id        uuid        NOT NULL,
    first_session_id  uuid        NOT NULL,
    first_started_at  timestamptz NOT NULL,
    size              integer     NOT NULL,  -- sessions; for a merged lead, when it was merged
    merged_into       uuid                   -- the lead that absorbed it; NULL while alive
);
CREATE INDEX IF NOT EXISTS leads_by_cluster ON leads (cluster_id) WHERE merged_into IS NULL;
CREATE INDEX IF NOT EXISTS leads_all_by_cluster ON leads (cluster_id);
CREATE INDEX IF NOT EXISTS leads_listing
    ON leads (workspace_id, first_started_at DESC, lead_id DESC) WHERE merged_into IS NULL;

-- Every session of a lead, with what the 360 view shows of it (folded here, on purpose
-- independent of session_list).
CREATE TABLE IF NOT EXISTS lead_members (
    session_id    uuid        PRIMARY KEY,
    workspace_id  text        NOT NULL,
    cluster_id    uuid        NOT NULL,
    channel       text        NOT NULL,
    agent_id      text        NOT NULL,
    started_at    timestamptz NOT NULL,
    status        text        NOT NULL,
    contact_name  text,
    email         text,
    phone         text,
    external_id   text,
    version       bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS lead_members_by_cluster ON lead_members (cluster_id, started_at);

-- Normalised identifiers (email case-folded, phone E.164, external id), and where each was
-- first seen.
CREATE TABLE IF NOT EXISTS lead_identifiers (
    workspace_id      text    NOT NULL,
    kind              text    NOT NULL,
    value             text    NOT NULL,
    cluster_id        uuid    NOT NULL,
    first_event_id    uuid    NOT NULL,
    first_session_id  uuid    NOT NULL,
    first_position    bigint,
    PRIMARY KEY (workspace_id, kind, value)
);
CREATE INDEX IF NOT EXISTS lead_identifiers_by_cluster ON lead_identifiers (cluster_id);

-- Why each merge happened: the identifier, the event that brought it, the rules version.
CREATE TABLE IF NOT EXISTS lead_merges (
    merged_id         uuid        PRIMARY KEY,  -- a lead is merged away once
    survivor_id       uuid        NOT NULL,
    workspace_id      text        NOT NULL,
    identifier_kind   text        NOT NULL,
    identifier_value  text        NOT NULL,
    event_id          uuid        NOT NULL,
    session_id        uuid        NOT NULL,
    position          bigint,
    occurred_at       timestamptz NOT NULL,
    rules_version     integer     NOT NULL,
    moved_sessions    integer     NOT NULL  -- sessions of the smaller side, re-pointed
);
CREATE INDEX IF NOT EXISTS lead_merges_by_survivor ON lead_merges (survivor_id);

-- missed_questions: questions the agent could not answer, grouped per workspace, agent and
-- wording as the workspace's rules normalise it. group_id = uuid5(workspace, agent, wording) is
-- also the id of the group's missed_question stream, where reviewers resolve or ignore it.

CREATE TABLE IF NOT EXISTS missed_question_groups (
    group_id      uuid        PRIMARY KEY,
    workspace_id  text        NOT NULL,
    agent_id      text        NOT NULL,
    question      text        NOT NULL,
    occurrences   bigint      NOT NULL,
    sessions      bigint      NOT NULL,
    first_seen    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL,
    rules_version integer     NOT NULL  -- whose normalisation grouped it
);
CREATE INDEX IF NOT EXISTS missed_question_groups_by_occurrences
    ON missed_question_groups (workspace_id, occurrences DESC, group_id DESC);
CREATE INDEX IF NOT EXISTS missed_question_groups_by_last_seen
    ON missed_question_groups (workspace_id, last_seen DESC, group_id DESC);

-- Every miss, so that occurrences in any date range can be counted. Keyed by the event.
CREATE TABLE IF NOT EXISTS missed_question_occurrences (
    session_id    uuid        NOT NULL,
    version       bigint      NOT NULL,
    group_id      uuid        NOT NULL,
    workspace_id  text        NOT NULL,
    message_id    text        NOT NULL,
    occurred_at   timestamptz NOT NULL,
    question      text        NOT NULL,
    position      bigint,
    PRIMARY KEY (session_id, version)
);
CREATE INDEX IF NOT EXISTS missed_question_occurrences_by_group
    ON missed_question_occurrences (group_id, occurred_at);
CREATE INDEX IF NOT EXISTS missed_question_occurrences_by_time
    ON missed_question_occurrences (workspace_id, occurred_at);

-- Each missed_question stream's status as it last set it, keyed by the stream (group_id: the
-- group id the reviewer saw, under the rules of that time). A group's status is the newest by
-- position among its own id's and its wordings' (missed_question_wordings); none: unresolved.
CREATE TABLE IF NOT EXISTS missed_question_status (
    group_id      uuid        PRIMARY KEY,
    workspace_id  text        NOT NULL,
    status        text        NOT NULL,
    reason        text,
    changed_at    timestamptz NOT NULL,
    version       bigint      NOT NULL,
    position      bigint
);

-- A group's members whose wording id (their group id under the built-in normalisation, which
-- statuses were recorded under before any rules change) differs from the group's id: only rules
-- that merge wordings (case folding) make any. Also how a wording id still finds its group.
CREATE TABLE IF NOT EXISTS missed_question_wordings (
    group_id      uuid  NOT NULL,
    wording_id    uuid  NOT NULL,
    workspace_id  text  NOT NULL,
    PRIMARY KEY (group_id, wording_id)
);
CREATE INDEX IF NOT EXISTS missed_question_wordings_by_wording
    ON missed_question_wordings (wording_id, workspace_id);

-- The share of customer messages missed: per workspace, agent and (UTC) day of the message.
CREATE TABLE IF NOT EXISTS missed_question_daily (
    workspace_id       text    NOT NULL,
    agent_id           text    NOT NULL,
    day                date    NOT NULL,
    customer_messages  bigint  NOT NULL,
    missed             bigint  NOT NULL,
    PRIMARY KEY (workspace_id, agent_id, day)
);

-- Per session: misses and the longest run of consecutive missed customer messages, plus the
-- fold state that keeps them right when a miss arrives late (other read models may join it).
CREATE TABLE IF NOT EXISTS missed_question_sessions (
    session_id            uuid     PRIMARY KEY,
    workspace_id          text     NOT NULL,
    agent_id              text     NOT NULL,
    missed_count          integer  NOT NULL,
    longest_run           integer  NOT NULL,
    customer_message_ids  text[]   NOT NULL,
    customer_message_days date[]   NOT NULL,
    missed_message_ids    text[]   NOT NULL,
    group_ids             uuid[]   NOT NULL
);

-- Columns added after the first release, for a database created before them: its groups were
-- grouped under the built-in rules (version 0); its statuses have no recorded position.
ALTER TABLE missed_question_groups ADD COLUMN IF NOT EXISTS rules_version integer NOT NULL DEFAULT 0;
ALTER TABLE missed_question_status ADD COLUMN IF NOT EXISTS position bigint;

-- missed_questions: questions the agent could not answer, grouped per workspace, agent and
-- whitespace-normalised wording. group_id = uuid5(workspace, agent, wording) is also the id of
-- the group's missed_question stream, where reviewers resolve or ignore it.

CREATE TABLE IF NOT EXISTS missed_question_groups (
    group_id      uuid        PRIMARY KEY,
    workspace_id  text        NOT NULL,
    agent_id      text        NOT NULL,
    question      text        NOT NULL,
    occurrences   bigint      NOT NULL,
    sessions      bigint      NOT NULL,
    first_seen    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL
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

-- The group's status as its missed_question stream last set it; no row means unresolved.
CREATE TABLE IF NOT EXISTS missed_question_status (
    group_id      uuid        PRIMARY KEY,
    workspace_id  text        NOT NULL,
    status        text        NOT NULL,
    reason        text,
    changed_at    timestamptz NOT NULL,
    version       bigint      NOT NULL
);

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

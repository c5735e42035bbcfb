-- ASR figures per workspace, agent, channel and local day (the agent's rules' time zone),
-- test sessions excluded. OSS and CSS are kept as sums and counts so that any period (a
-- week, a month) can be averaged exactly from days: a mean of daily means would not be.
-- The sums are numeric: each batch adds and takes out shares (projections/asr_metrics.py),
-- which only exact arithmetic leaves independent of the order they came in.
CREATE TABLE IF NOT EXISTS asr_metrics (
    workspace_id     text             NOT NULL,
    agent_id         text             NOT NULL,
    channel          text             NOT NULL,
    day              date             NOT NULL,
    sessions         integer          NOT NULL,
    leads            integer          NOT NULL,
    opportunities    integer          NOT NULL,
    lead_value       numeric          NOT NULL,
    asr              numeric          NOT NULL,
    success_sum      numeric          NOT NULL, -- success factors of assessed opportunities
    success_count    integer          NOT NULL,
    quality_sum      numeric          NOT NULL, -- STAR_WEIGHT (0.2) x stars of rated sessions
    quality_count    integer          NOT NULL,
    rules_version    integer          NOT NULL,
    PRIMARY KEY (workspace_id, day, agent_id, channel)
);

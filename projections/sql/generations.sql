-- Which tables each read model generation lives in, and which one the API reads.
-- A generation is built under exactly one rules version per workspace (rules_versions:
-- {workspace: version}; a workspace not named uses the built-in version 0). Generation 1 is
-- the original, unsuffixed tables. Status: building (a rebuild is filling it), shadow (caught
-- up, fed by the stream processor beside the live one), live (what queries read; one per
-- read model), retired (switched out), cancelled, dropped (its tables are gone).
CREATE TABLE IF NOT EXISTS read_model_generations (
    projection         text             NOT NULL,
    generation         integer          NOT NULL,
    rules_versions     jsonb            NOT NULL DEFAULT '{}',
    status             text             NOT NULL,
    position           bigint           NOT NULL DEFAULT 0,
    events_done        bigint           NOT NULL DEFAULT 0,
    events_per_second  double precision,
    head               bigint,
    started_at         timestamptz      NOT NULL DEFAULT now(),
    updated_at         timestamptz      NOT NULL DEFAULT now(),
    switched_at        timestamptz,
    tables             jsonb            NOT NULL,
    PRIMARY KEY (projection, generation)
);
CREATE UNIQUE INDEX IF NOT EXISTS read_model_generations_one_live
    ON read_model_generations (projection) WHERE status = 'live';
CREATE UNIQUE INDEX IF NOT EXISTS read_model_generations_one_rebuild
    ON read_model_generations (projection) WHERE status = 'building';

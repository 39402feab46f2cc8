-- Broadcast runs: each shard run names its broadcast run, its index and the total.
ALTER TABLE runs ADD COLUMN parent_run_id uuid;
ALTER TABLE runs ADD COLUMN shard_index integer;
ALTER TABLE runs ADD COLUMN shard_total integer;
CREATE INDEX IF NOT EXISTS runs_parent_idx ON runs (parent_run_id);

-- Every attempt of a run, with its worker, times and outcome.
CREATE TABLE IF NOT EXISTS run_attempts (
    run_id            uuid NOT NULL,
    attempt           integer NOT NULL,
    worker_id         uuid NOT NULL,
    status            text NOT NULL,
    assigned_at       timestamptz NOT NULL,
    started_at        timestamptz,
    finished_at       timestamptz,
    exit_code         integer,
    error             text,
    duration_seconds  real,
    PRIMARY KEY (run_id, attempt)
);

-- The latest misfire decision of a task (slots not fired and why), as JSON.
ALTER TABLE tasks ADD COLUMN last_misfire text;

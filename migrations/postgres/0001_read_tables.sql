-- Read tables for the query side. Written only by projectors, each batch of rows in the
-- same transaction as its projection's tracking position. The event store makes its own tables.

CREATE TABLE IF NOT EXISTS projection_tracking (
    projection  text PRIMARY KEY,
    position    bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz
);

CREATE TABLE IF NOT EXISTS tasks (
    uuid          uuid PRIMARY KEY,
    number        integer NOT NULL UNIQUE,
    name          text NOT NULL,
    status        text NOT NULL,
    pause_reason  text,
    priority      text NOT NULL,
    schedule      text,
    version       integer NOT NULL,
    spec          text NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    next_fire_at  timestamptz,
    position      bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_name_idx ON tasks (name);
CREATE INDEX IF NOT EXISTS tasks_status_number_idx ON tasks (status, number);

CREATE TABLE IF NOT EXISTS runs (
    id                uuid PRIMARY KEY,
    task_uuid         uuid NOT NULL,
    task_name         text NOT NULL,
    task_version      integer NOT NULL,
    status            text NOT NULL,
    attempt           integer NOT NULL DEFAULT 0,
    worker_id         uuid,
    trigger           text NOT NULL,
    nominal_time      timestamptz,
    priority          text NOT NULL,
    params            text NOT NULL,
    requested_at      timestamptz NOT NULL,
    assigned_at       timestamptz,
    started_at        timestamptz,
    finished_at       timestamptz,
    duration_seconds  double precision,
    exit_code         integer,
    output            text,
    error             text,
    reason            text,
    correlation_id    text,
    position          bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_task_position_idx ON runs (task_uuid, position DESC);
CREATE INDEX IF NOT EXISTS runs_status_position_idx ON runs (status, position DESC);
CREATE INDEX IF NOT EXISTS runs_position_idx ON runs (position DESC);

CREATE TABLE IF NOT EXISTS workers (
    id                    uuid PRIMARY KEY,
    name                  text NOT NULL,
    hostname              text NOT NULL,
    status                text NOT NULL,
    executors             text NOT NULL,
    queues                text NOT NULL,
    labels                text NOT NULL,
    max_concurrent_tasks  integer NOT NULL,
    running               integer NOT NULL DEFAULT 0,
    registered_at         timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    position              bigint NOT NULL
);

-- Which worker holds which unfinished run: lets the workers projection count load
-- without reading another projection's table.
CREATE TABLE IF NOT EXISTS worker_runs (
    run_id     uuid PRIMARY KEY,
    worker_id  uuid NOT NULL
);
CREATE INDEX IF NOT EXISTS worker_runs_worker_idx ON worker_runs (worker_id);

CREATE TABLE IF NOT EXISTS task_run_stats (
    task_uuid               uuid PRIMARY KEY,
    runs_total              integer NOT NULL DEFAULT 0,
    runs_succeeded          integer NOT NULL DEFAULT 0,
    runs_failed             integer NOT NULL DEFAULT 0,
    total_duration_seconds  double precision NOT NULL DEFAULT 0,
    max_duration_seconds    double precision,
    last_run_id             uuid,
    last_status             text,
    last_finished_at        timestamptz
);

-- Run -> task, kept by the stats projection so it needs no other table.
CREATE TABLE IF NOT EXISTS task_run_stats_runs (
    run_id     uuid PRIMARY KEY,
    task_uuid  uuid NOT NULL
);

-- Quarantine: aggregates a consumer of the log could not handle (docs/operations.md). One row
-- per (consumer, aggregate); the consumer holds the aggregate's later events while it is
-- 'held', and every other aggregate goes on. Bookkeeping of the consumers, like
-- projection_status: projections write it in their batch transaction, the dispatcher alone.
CREATE TABLE IF NOT EXISTS quarantine (
    consumer            text NOT NULL,
    aggregate_id        text NOT NULL,
    aggregate_type      text NOT NULL,
    position            integer NOT NULL,
    topic               text NOT NULL,
    error               text NOT NULL,
    status              text NOT NULL,
    request             text,
    requested_through   integer,
    released_through    integer,
    last_position       integer,
    held_count          integer NOT NULL DEFAULT 1,
    failures            integer NOT NULL DEFAULT 1,
    first_failed_at     text NOT NULL,
    last_failed_at      text NOT NULL,
    resolved_at         text,
    note                text,
    PRIMARY KEY (consumer, aggregate_id)
);
CREATE INDEX IF NOT EXISTS quarantine_status_idx ON quarantine (status, consumer);
CREATE INDEX IF NOT EXISTS quarantine_aggregate_idx ON quarantine (aggregate_id);

-- Each dispatcher's last sign of life and last round, so /health can tell a dead or stuck
-- dispatcher from a quiet one, in every process.
CREATE TABLE IF NOT EXISTS dispatcher_status (
    name              text PRIMARY KEY,
    started_at        text NOT NULL,
    beat_at           text NOT NULL,
    last_round_at     text,
    position          integer NOT NULL DEFAULT 0,
    failed_rounds     integer NOT NULL DEFAULT 0,
    last_error        text,
    last_error_at     text,
    stopped_at        text
);

-- Recent log records of every process (GET /api/system/logs, docs/operations.md#logs). Not a
-- projection and not a record: operational bookkeeping like api_key_usage, written by each
-- process's log shipper (workers' records through a dispatcher) and pruned by count and age
-- ([observability] log_retention_records, log_retention_hours).
CREATE TABLE IF NOT EXISTS log_records (
    id              bigserial PRIMARY KEY,
    time            timestamptz NOT NULL,
    level           text NOT NULL,
    level_no        integer NOT NULL,
    logger          text NOT NULL,
    message         text NOT NULL,
    process         text NOT NULL,
    pid             integer,
    host            text,
    correlation_id  text,
    trace_id        text,
    span_id         text,
    run_id          text,
    attempt         integer,
    task_id         text,
    worker_id       text,
    principal       text,
    extra           text NOT NULL
);

CREATE INDEX IF NOT EXISTS log_records_time ON log_records (time);

CREATE INDEX IF NOT EXISTS log_records_run ON log_records (run_id) WHERE run_id IS NOT NULL;

CREATE INDEX IF NOT EXISTS log_records_correlation ON log_records (correlation_id)
    WHERE correlation_id IS NOT NULL;

-- The queryable log (docs/api.md "Querying the log"). `event_index` is the read table of the
-- event_index projection: one row per event of the log with the fields a query filters on;
-- the events themselves stay in scheduler_events and are read from there by position.
CREATE TABLE IF NOT EXISTS event_index (
    position        integer PRIMARY KEY,
    type            text NOT NULL,
    aggregate_id    text NOT NULL,
    version         integer NOT NULL,
    recorded_at     text,
    actor           text,
    correlation_id  text,
    task_id         text,
    worker_id       text
);
CREATE INDEX IF NOT EXISTS event_index_by_type ON event_index (type, position);
CREATE INDEX IF NOT EXISTS event_index_by_aggregate ON event_index (aggregate_id, position);
CREATE INDEX IF NOT EXISTS event_index_by_actor ON event_index (actor, position);
CREATE INDEX IF NOT EXISTS event_index_by_correlation ON event_index (correlation_id, position);
CREATE INDEX IF NOT EXISTS event_index_by_task ON event_index (task_id, position);
CREATE INDEX IF NOT EXISTS event_index_by_worker ON event_index (worker_id, position);
CREATE INDEX IF NOT EXISTS event_index_by_time ON event_index (recorded_at);

-- Namespaces (docs/scaling.md): every task and run belongs to one; lists filter by it. Rows
-- from before namespaces are the default namespace's, as their events load.
ALTER TABLE tasks ADD COLUMN namespace text NOT NULL DEFAULT 'default';
CREATE INDEX IF NOT EXISTS tasks_namespace_number_idx ON tasks (namespace, number);
ALTER TABLE runs ADD COLUMN namespace text NOT NULL DEFAULT 'default';
CREATE INDEX IF NOT EXISTS runs_namespace_position_idx ON runs (namespace, position DESC);
-- The namespaces a worker serves and a key may act in, as JSON lists (["*"]: all).
ALTER TABLE workers ADD COLUMN namespaces text NOT NULL DEFAULT '["default"]';
ALTER TABLE api_keys ADD COLUMN namespaces text NOT NULL DEFAULT '["*"]';

-- The namespaces created through the API ("default" exists without a row) and their limits.
CREATE TABLE IF NOT EXISTS namespace_limits (
    name                     text PRIMARY KEY,
    max_concurrent_runs      integer,
    trigger_rate_per_minute  integer,
    created_at               text NOT NULL,
    updated_at               text NOT NULL,
    position                 integer NOT NULL
);

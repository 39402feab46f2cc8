-- Broadcast runs: each shard run names its broadcast run, its index and the total.
ALTER TABLE runs ADD COLUMN parent_run_id text;
ALTER TABLE runs ADD COLUMN shard_index integer;
ALTER TABLE runs ADD COLUMN shard_total integer;
CREATE INDEX IF NOT EXISTS runs_parent_idx ON runs (parent_run_id);

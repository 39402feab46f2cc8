-- Alerting (docs/operations.md#alerting). `subscriptions` is a read table of the
-- subscriptions projection: one row per subscription, its URL and secret sealed.
CREATE TABLE IF NOT EXISTS subscriptions (
    id               text PRIMARY KEY,
    name             text NOT NULL,
    target           text NOT NULL,
    destination      text NOT NULL,
    url_sealed       text,
    email            text NOT NULL,
    secret_sealed    text,
    filter           text NOT NULL,
    max_attempts     integer NOT NULL,
    start_after      integer NOT NULL,
    replay_after     integer,
    replay_version   integer NOT NULL DEFAULT 0,
    dead_lettered    integer NOT NULL DEFAULT 0,
    last_dead_letter text,
    created_at       text NOT NULL,
    created_by       text NOT NULL,
    deleted_at       text,
    position         integer NOT NULL
);

-- How far the notifier has delivered each subscription: its bookkeeping, like
-- projection_tracking (not rebuilt from the log; a replay request moves it back).
CREATE TABLE IF NOT EXISTS subscription_offsets (
    subscription_id  text PRIMARY KEY,
    position         integer NOT NULL,
    generation       integer NOT NULL DEFAULT 0,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  text,
    delivered        integer NOT NULL DEFAULT 0,
    last_error       text,
    last_error_at    text,
    last_delivered_at text,
    streaks          text NOT NULL DEFAULT '{}',
    updated_at       text NOT NULL
);

-- What a projection's runner last went through, readable by every process (`scheduler
-- projections status`, /health, metrics): its last error, cleared by the next good batch, and
-- its last rebuild. Written outside the batch transactions, so a failed batch can record why.
CREATE TABLE IF NOT EXISTS projection_status (
    projection        text PRIMARY KEY,
    last_error        text,
    last_error_at     timestamptz,
    rebuilt_at        timestamptz,
    rebuilt_position  bigint
);

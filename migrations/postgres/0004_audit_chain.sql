-- The audit chain (docs/audit.md): one row per chained log position, each hash linked to the
-- previous one; written by AuditChainFollower, checked by `scheduler audit verify`.
CREATE TABLE IF NOT EXISTS audit_chain (
    position           bigint PRIMARY KEY,
    previous_position  bigint NOT NULL,
    event_digest       bytea NOT NULL,
    hash               bytea NOT NULL,
    chained_at         timestamptz NOT NULL
);

-- Rejects any change to an append-only table, whoever asks (the table owner included, until
-- they disable the trigger). The code makes it look like a missing grant. The body stays on
-- one line: the migration runner splits statements at a semicolon that ends a line.
CREATE OR REPLACE FUNCTION scheduler_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege'; END $$;

CREATE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION scheduler_reject_change();

CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION scheduler_reject_change();

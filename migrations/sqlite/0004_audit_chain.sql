-- The audit chain (docs/audit.md): one row per chained log position, each hash linked to the
-- previous one; written by AuditChainFollower, checked by `scheduler audit verify`.
CREATE TABLE IF NOT EXISTS audit_chain (
    position           integer PRIMARY KEY,
    previous_position  integer NOT NULL,
    event_digest       blob NOT NULL,
    hash               blob NOT NULL,
    chained_at         text NOT NULL
);

-- Written links never change. A trigger body stays on one line: the migration runner splits
-- statements at a semicolon that ends a line. SQLite has no TRUNCATE, and a DELETE without
-- WHERE fires these triggers too (the truncate shortcut is off on tables with triggers).
CREATE TRIGGER IF NOT EXISTS audit_chain_no_update BEFORE UPDATE ON audit_chain BEGIN SELECT RAISE(ABORT, 'audit_chain is append-only: UPDATE is not allowed'); END;

CREATE TRIGGER IF NOT EXISTS audit_chain_no_delete BEFORE DELETE ON audit_chain BEGIN SELECT RAISE(ABORT, 'audit_chain is append-only: DELETE is not allowed'); END;

"""Everything that speaks PostgreSQL: pool, session, locks, event store, DDL, bulk rebuild."""

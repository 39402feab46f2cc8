"""Everything that speaks SQLite: the database, its leases and locks, DDL, event-store SQL."""

"""Archives of closed aggregates' events: chained, hashed files checked against the audit chain."""

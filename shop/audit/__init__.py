"""The shop's invariants, checked on any database (`shop audit-data`), on a restored backup (the
restore drill) and after load tests: one checker, read-only."""

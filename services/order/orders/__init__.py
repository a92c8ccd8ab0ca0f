"""Orders: atomic checkout, the life cycle state machine, expiry, and listings."""

"""Payments: creation per provider, settlement exactly once, reconciliation."""

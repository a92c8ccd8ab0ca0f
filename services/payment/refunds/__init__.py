"""Refunds: validated against what is refundable and restockable, applied exactly once."""

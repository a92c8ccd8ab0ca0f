"""The audit trail, read by admins (every service writes it through shared/audit.py)."""

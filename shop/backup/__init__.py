"""Consistent backups of the shop's database, their verification and their restore."""

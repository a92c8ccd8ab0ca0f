"""Accounts: registration, profiles, roles and the bootstrap admin."""

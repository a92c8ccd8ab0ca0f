"""Deployment tooling that runs outside the services (database users; see docs/deployment.md)."""

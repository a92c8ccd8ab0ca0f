"""Developer tools run by `make` and CI, never imported by the services."""

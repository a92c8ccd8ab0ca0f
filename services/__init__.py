"""The service packages; each runs as its own process."""

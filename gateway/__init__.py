"""The gateway: the only public door; routes /api/v1/<area> to the owning service."""

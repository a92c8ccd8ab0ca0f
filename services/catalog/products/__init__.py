"""Products: what the SPA browses, partners sync and orders decrement."""

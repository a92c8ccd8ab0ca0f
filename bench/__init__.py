"""Benchmarks: scripts that print figures (throughput, latency percentiles, ratios) and assert nothing."""

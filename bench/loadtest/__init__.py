"""The load test of the whole shop (Locust); run with `python -m bench.loadtest`."""

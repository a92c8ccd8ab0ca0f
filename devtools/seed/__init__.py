"""The demo catalog for development and benchmarks (`make seed`, `make run SEED=1`, `shop seed`).

`catalog.py` builds and writes it, `departments.py` holds its words, `__main__.py` is the command.
A development tool, not part of any service: the container image does not carry it.
"""

from devtools.seed.catalog import DemoCatalog, SeedSummary, demo_catalog, seed_catalog

__all__ = ["DemoCatalog", "SeedSummary", "demo_catalog", "main", "seed_catalog"]


def main(argv: list[str] | None = None) -> int:
    """The command (`python -m devtools.seed`), for callers that run it in process (`shop seed`)."""
    from devtools.seed.__main__ import main as command

    return command(argv)

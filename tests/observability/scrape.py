"""Reading Prometheus text as the tests need it: one sample's value by name and labels."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Samples:
    values: dict[tuple[str, frozenset[tuple[str, str]]], float]

    @classmethod
    def parse(cls, text: str) -> Samples:
        values = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                values[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return cls(values)

    def get(self, name: str, **labels: str) -> float:
        """The sample with exactly these labels; 0 when it was never exported (a counter not yet moved)."""
        return self.values.get((name, frozenset(labels.items())), 0.0)

    def names(self) -> set[str]:
        return {name for name, _ in self.values}


async def scrape(url: str) -> Samples:
    """`url`: a service's `/metrics` (served on its own port) or the gateway's metrics listener."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(url)
    assert response.status_code == 200, response.text
    return Samples.parse(response.text)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return after.get(name, **labels) - before.get(name, **labels)

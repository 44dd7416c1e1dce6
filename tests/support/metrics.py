"""Read a provgate /metrics page the way Prometheus does (the official text parser)."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def scrape(base_url: str) -> dict[tuple[str, tuple], float]:
    text = urllib.request.urlopen(f"{base_url}/metrics", timeout=10).read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def metric(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples, name: str) -> float:
    """The sum of ``name`` over all its label sets (e.g. every request answered)."""
    return sum(value for (sample, _), value in samples.items() if sample == name)

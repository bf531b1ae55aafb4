"""The LINE handler's counters for ``/metrics``: read when scraped, nothing on the hot path.

Register with ``metrics.registry.register(LineCollector(handler))`` where the app and the
handler are built (`townsquare.api.metrics` leaves adapter collectors to the adapters).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from townsquare.adapters.line.handler import LineEventHandler


class LineCollector(Collector):
    """``townsquare_line_*``: events handled, replies and pushes, retries, breaker state."""

    def __init__(self, handler: LineEventHandler) -> None:
        self.handler = handler

    def collect(self) -> Iterator[Metric]:
        for figures, prefix in (
            (self.handler.figures, "townsquare_line_events"),
            (self.handler.sender.figures, "townsquare_line_replies"),
        ):
            for field in fields(figures):
                value = getattr(figures, field.name)
                yield CounterMetricFamily(f"{prefix}_{field.name}", field.name, value=value)
        calls = self.handler.sender.calls
        yield CounterMetricFamily(
            "townsquare_line_api_retries", "Messaging API calls retried.", value=calls.retries
        )
        yield CounterMetricFamily(
            "townsquare_line_api_failures",
            "Messaging API calls that failed after their retries (or met an open breaker).",
            value=calls.failures,
        )
        open_breakers = GaugeMetricFamily(
            "townsquare_line_breaker_open",
            "1 while a channel's circuit breaker refuses calls.",
            labels=["channel"],
        )
        for key, breaker in self.handler.sender.breakers.items():
            open_breakers.add_metric([key], 1.0 if breaker.is_open else 0.0)
        yield open_breakers

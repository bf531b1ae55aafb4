"""Simulated communities for ``townsquare demo`` and the benchmarks.

`install_communities` creates the simulated communities with their configuration, the way
an admin would (idempotent, so a second demo on the same data reuses them).
`DemoTraffic` feeds the simulator into the pipeline at a steady real-time pace — its events
are dated "now" — and keeps the figures the demo prints: events per second, level-ups and
unlocks as they are committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field

import psycopg
from psycopg.types.json import Jsonb

from townsquare.config.document import CommunityConfigDocument
from townsquare.core import Platform
from townsquare.pipeline.directory import CHANNEL_TYPE_NAMES
from townsquare.pipeline.ingest import Pipeline
from townsquare.pipeline.simulator import Simulator
from townsquare.store.engine import libpq_url


def install_communities(url: str, simulator: Simulator) -> dict[str, int]:
    """Create (or find) the simulated communities with their configuration; ids by slug."""
    ids: dict[str, int] = {}
    with psycopg.connect(libpq_url(url)) as conn:
        for external_id, config in simulator.configs().items():
            platform = Platform.LINE if external_id.startswith("line-") else Platform.DISCORD
            row = conn.execute(
                "SELECT community_id FROM community_links WHERE platform = %s AND external_id = %s",
                (platform.value, external_id),
            ).fetchone()
            if row is None:
                row = conn.execute(
                    "INSERT INTO communities (slug, name) VALUES (%s, %s) RETURNING id",
                    (f"demo-{external_id}", f"Demo {external_id}"),
                ).fetchone()
                assert row is not None
                conn.execute(
                    "INSERT INTO community_links (community_id, platform, external_id) "
                    "VALUES (%s, %s, %s)",
                    (row[0], platform.value, external_id),
                )
            # The channels the rules name exist, as the Discord adapter's sync would make them.
            channels = simulator.channels(external_id)
            categories = sorted({c.category_id for c in channels if c.category_id is not None})
            conn.cursor().executemany(
                "INSERT INTO channels (community_id, platform, external_id, name, type) "
                "VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (community_id, platform, external_id) DO NOTHING",
                [(row[0], platform.value, c, c, "category") for c in categories]
                + [
                    (row[0], platform.value, c.id, c.id, CHANNEL_TYPE_NAMES[c.type])
                    for c in channels
                ],
            )
            document = CommunityConfigDocument.covering(config)
            conn.execute(
                "INSERT INTO community_settings (community_id, settings) VALUES (%s, %s) "
                "ON CONFLICT (community_id) DO UPDATE SET settings = excluded.settings",
                (row[0], Jsonb(document.model_dump(mode="json"))),
            )
            conn.execute(
                "UPDATE communities SET config_version = config_version + 1 WHERE id = %s",
                (row[0],),
            )
            ids[external_id] = int(row[0])
        conn.commit()
    return ids


@dataclass(slots=True)
class DemoFigures:
    """What the demo shows while it runs."""

    fed: int = 0
    level_ups: int = 0
    unlocks: int = 0
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=5))


class DemoTraffic:
    """Feeds a simulator into a pipeline at ``rate`` events per second until stopped."""

    def __init__(self, pipeline: Pipeline, simulator: Simulator, rate: int) -> None:
        self.pipeline = pipeline
        self.simulator = simulator
        self.rate = rate
        self.figures = DemoFigures()
        self._outcomes = pipeline.subscribe(1000)

    async def run(self, stop: asyncio.Event) -> None:
        """Feed and watch outcomes until ``stop`` is set (the caller owns the task)."""
        watcher = asyncio.create_task(self._watch(), name="townsquare-demo-outcomes")
        try:
            started = time.monotonic()
            while not stop.is_set():
                due = self.figures.fed / self.rate - (time.monotonic() - started)
                if due > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), due)
                    continue
                for event in self.simulator.take(max(1, self.rate // 20)):
                    await self.pipeline.ingest(event)
                    self.figures.fed += 1
        finally:
            watcher.cancel()

    async def _watch(self) -> None:
        while True:
            published = await self._outcomes.get()
            outcome = published.outcome
            self.figures.level_ups += len(outcome.level_changes)
            self.figures.unlocks += len(outcome.unlocks)
            for change in outcome.level_changes:
                self.figures.recent.append(
                    f"{published.event.member_id} reached level {change.new_level} "
                    f"in {published.event.community_id}"
                )
            for unlock in outcome.unlocks:
                if not unlock.hidden:
                    self.figures.recent.append(
                        f"{published.event.member_id} unlocked {unlock.name} "
                        f"({unlock.rarity}) in {published.event.community_id}"
                    )

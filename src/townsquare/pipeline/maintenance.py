"""Housekeeping on a schedule: event-lake partitions ahead, retention behind, old sessions.

Owned by the process that runs the pipeline (``demo`` now; ``run``/``serve`` later), started
and stopped with it. Every ``interval_seconds`` it creates the coming days' partitions and
drops the days older than ``pipeline.retention_days`` (rolling their counters up first; see
`townsquare.pipeline.retention`), and deletes sign-in sessions that ended more than
``auth.session_retention_days`` ago (they hold IP addresses). Several processes may run
it: the maintenance advisory lock makes concurrent runs harmless. An outage is logged and
retried at the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from townsquare.config.settings import DatabaseSettings, PipelineSettings
from townsquare.errors import DatabaseUnavailable
from townsquare.pipeline.retention import RetentionReport, apply_retention
from townsquare.store.session_retention import purge_ended_sessions

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class MaintenanceStatus:
    runs: int = 0
    last_run: datetime | None = None
    last_error: str | None = None
    dropped_partitions: int = 0
    purged_sessions: int = 0


class Maintenance:
    """Runs `apply_retention` now and then until stopped."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: PipelineSettings,
        database: DatabaseSettings,
        *,
        interval_seconds: float = 3600.0,
        session_retention_days: int = 30,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.database = database
        self.interval_seconds = interval_seconds
        self.session_retention_days = session_retention_days
        self._now = now
        self.status = MaintenanceStatus()

    async def run_once(self) -> RetentionReport:
        report = await apply_retention(
            self.engine,
            keep_days=self.settings.retention_days,
            now=self._now(),
            settings=self.database,
        )
        self.status.runs += 1
        self.status.last_run = self._now()
        self.status.last_error = None
        self.status.dropped_partitions += len(report.dropped)
        async with self.engine.begin() as conn:
            purged = await purge_ended_sessions(
                conn, now=self._now(), days=self.session_retention_days
            )
        self.status.purged_sessions += purged
        if report.dropped:
            log.info(
                "old events dropped",
                partitions=len(report.dropped),
                events=report.events_rolled_up,
            )
        return report

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set; the caller owns the task."""
        while not stop.is_set():
            try:
                await self.run_once()
            except DatabaseUnavailable as exc:
                self.status.last_error = exc.message
                log.warning("maintenance postponed: database unavailable", error=exc.message)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_seconds)

    def readiness(self) -> dict[str, Any]:
        status = self.status
        return {
            "runs": status.runs,
            "last_run": status.last_run.isoformat() if status.last_run else None,
            "last_error": status.last_error,
            "dropped_partitions": status.dropped_partitions,
            "purged_sessions": status.purged_sessions,
            "retention_days": self.settings.retention_days,
        }

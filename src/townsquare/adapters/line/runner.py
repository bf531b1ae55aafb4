"""Start and stop the LINE adapter as one owned unit: webhook router, inbox workers, handler.

LINE pushes events to us, so there is nothing to connect to: "started" means the configured
communities exist and the inbox workers run. The webhook (``router``) is mounted on the API
app by the entrypoint and writes with the API's own connection pool, so acknowledgements
never wait behind the workers; it wakes this process's worker when it stores something.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog
from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncEngine

from townsquare.adapters.line.contract import EventHandler
from townsquare.adapters.line.inbox import InboxOptions, InboxWorker
from townsquare.adapters.line.webhook import webhook_router
from townsquare.config.settings import LineSettings
from townsquare.errors import SettingsInvalid
from townsquare.pipeline.ingest import Pipeline
from townsquare.store.communities import find_community

log = structlog.get_logger(__name__)

#: Builds the handler once the process's pipeline and engine exist.
HandlerFactory = Callable[[Pipeline, AsyncEngine], EventHandler]


def no_channels() -> SettingsInvalid:
    return SettingsInvalid(
        "No LINE channel is configured. Add one per official account, e.g. "
        'TOWNSQUARE_LINE_CHANNELS=\'[{"key": "clinic", "secret": "...", "access_token": '
        '"..."}]\' (see docs/configuration.md); its webhook URL is '
        "https://HOST/line/webhook/clinic."
    )


class LineAdapter:
    """Owns the inbox worker and the handler it calls; exposes the webhook router."""

    name = "line"

    def __init__(
        self,
        settings: LineSettings,
        pipeline: Pipeline,
        engine: AsyncEngine,
        handler_factory: HandlerFactory,
        *,
        options: InboxOptions | None = None,
    ) -> None:
        if not settings.channels:
            raise no_channels()
        self.settings = settings
        self.pipeline = pipeline
        self.engine = engine
        self._handler_factory = handler_factory
        self._options = options
        self.handler: EventHandler | None = None
        self.worker: InboxWorker | None = None
        self._stopped = asyncio.Event()
        self.router: APIRouter = webhook_router(settings, on_stored=self._wake)

    def _wake(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    @property
    def failed(self) -> BaseException | None:
        return None if self.worker is None else self.worker.failed

    async def start(self) -> None:
        """Check the configured communities, build the handler, start the workers."""
        async with self.engine.connect() as conn:
            for channel in self.settings.channels:
                if channel.community and await find_community(conn, channel.community) is None:
                    raise SettingsInvalid(
                        f"line.channels[{channel.key}].community is {channel.community!r}, "
                        "which is not a community. Create it, or leave the setting empty to "
                        "have one made for the account."
                    )
        self.handler = self._handler_factory(self.pipeline, self.engine)
        start = getattr(self.handler, "start", None)  # a handler may own clients to open
        if start is not None:
            await start()
        worker = InboxWorker(self.engine, self.handler, self.settings, self._options)
        try:
            await worker.refresh_depth()  # /ready has figures at once; the inbox is readable
        except BaseException:
            await self.stop()  # nobody stops an adapter that did not start
            raise
        self.worker = worker
        await worker.start()
        log.info(
            "line_started",
            channels=[c.key for c in self.settings.channels],
            workers=self.settings.workers,
        )

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop the workers (running handlers get the grace period), then the handler."""
        try:
            if self.worker is not None:
                await self.worker.stop(grace_seconds)
            stop = getattr(self.handler, "stop", None)  # and close them
            if stop is not None:
                await asyncio.wait_for(stop(), grace_seconds)
        finally:
            self._stopped.set()

    async def wait_stopped(self) -> None:
        """Return when the workers end, on their own (a bug) or by `stop`."""
        if self.worker is not None:
            await self.worker.wait_stopped()
        else:
            await self._stopped.wait()

    def readiness(self) -> dict[str, Any]:
        """``ok`` while the workers run; inbox depth (pending, processing, dead), the oldest
        open event's age and the worker figures."""
        worker = self.worker
        if worker is None:
            status = "stopped" if self._stopped.is_set() else "starting"
        elif worker.failed is not None:
            status = "failed"
        else:
            status = "stopped" if self._stopped.is_set() else "ok"
        figures = {} if worker is None else worker.readiness()
        return {
            "status": status,
            "channels": [channel.key for channel in self.settings.channels],
            **figures,
        }

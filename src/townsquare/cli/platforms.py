"""Which platform adapters ``townsquare run`` starts, and the routers they bring to the API.

Apart from ``run.py`` because it is the one place that knows every platform: adding one
is a branch here, not an edit to the serving loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncEngine

from townsquare.adapters.discord.errors import missing_token
from townsquare.adapters.discord.runner import DiscordAdapter
from townsquare.adapters.line.contract import EventHandler
from townsquare.adapters.line.runner import LineAdapter, no_channels
from townsquare.adapters.line.webhook import webhook_router
from townsquare.adapters.protocol import ChatAdapter
from townsquare.config.settings import Settings
from townsquare.errors import SettingsInvalid
from townsquare.pipeline.ingest import Pipeline

AdapterFactory = Callable[[Pipeline, AsyncEngine], ChatAdapter]
PLATFORM_CHOICES = ("all", "discord", "line")


def adapter_factories(settings: Settings, platform_name: str) -> list[AdapterFactory]:
    """The adapters to start (``all``: every configured platform), or a clear error when
    the choice cannot run."""
    choice = platform_name.strip().lower()
    if choice not in PLATFORM_CHOICES:
        raise SettingsInvalid(
            f"--platform must be 'all', 'discord' or 'line', not {platform_name!r}."
        )
    factories: list[AdapterFactory] = []
    discord_configured = settings.discord.token is not None
    if choice == "discord" or (choice == "all" and discord_configured):
        if not discord_configured:
            raise missing_token()

        def discord_adapter(pipeline: Pipeline, engine: AsyncEngine) -> ChatAdapter:
            return DiscordAdapter(settings.discord, pipeline, engine)

        factories.append(discord_adapter)
    if choice == "line" or (choice == "all" and settings.line.channels):
        if not settings.line.channels:
            raise no_channels()

        def line_adapter(pipeline: Pipeline, engine: AsyncEngine) -> ChatAdapter:
            return LineAdapter(settings.line, pipeline, engine, line_handler_factory(settings))

        factories.append(line_adapter)
    if factories:
        return factories
    raise SettingsInvalid(
        "No platform is configured, so there is nothing to run. Set TOWNSQUARE_DISCORD_TOKEN "
        "or TOWNSQUARE_LINE_CHANNELS (see docs/configuration.md), or try `townsquare demo` "
        "for a simulated community."
    )


def line_handler_factory(settings: Settings) -> Callable[[Pipeline, AsyncEngine], EventHandler]:
    """The factory of the real LINE event handler, imported only when the adapter starts
    (it brings the conversation services and HTTP clients; other commands need neither)."""

    def build(pipeline: Pipeline, engine: AsyncEngine) -> EventHandler:
        from townsquare.adapters.line.handler import LineEventHandler

        return LineEventHandler(settings, pipeline, engine)

    return build


def webhook_routers(settings: Settings, adapters: Sequence[ChatAdapter]) -> list[APIRouter]:
    """The routers the running adapters bring (the LINE webhook). With LINE channels
    configured but no LINE adapter (``serve``), a receiver-only webhook: it stores and
    acknowledges; whichever process runs the LINE adapter processes what it stored."""
    routers = [r for a in adapters if isinstance(r := getattr(a, "router", None), APIRouter)]
    if settings.line.channels and not any(isinstance(a, LineAdapter) for a in adapters):
        routers.append(webhook_router(settings.line))
    return routers

"""Point the process's discord.py at a fake Discord, and back.

Why two settings: discord.py takes REST URLs from ``Route.BASE``, but it only asks
``GET /gateway/bot`` for the gateway URL when an ``AutoShardedClient`` has no shard count;
``Client`` and ``AutoShardedClient(shard_count=N)`` connect straight to
``DiscordWebSocket.DEFAULT_GATEWAY`` (and fall back to it after an invalid session). Both
are class attributes, so this is process-wide: one fake at a time. discord.py is imported
only here, when asked: the fake itself does not depend on the client it serves.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import yarl


@contextmanager
def discord_py_redirected(api_url: str, gateway_url: str) -> Iterator[None]:
    """``api_url`` like ``http://127.0.0.1:PORT/api/v10``; ``gateway_url`` a ws:// URL."""
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    previous_base, previous_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = api_url
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        Route.BASE = previous_base
        DiscordWebSocket.DEFAULT_GATEWAY = previous_gateway

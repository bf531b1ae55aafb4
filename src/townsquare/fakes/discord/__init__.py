"""A fake Discord (gateway websocket + REST API v10) for tests and ``townsquare bench``.

The real, unmodified discord.py connects to it on 127.0.0.1::

    with FakeDiscord(guilds=[...]) as fake, fake.redirect_discord_py():
        client = discord.Client(intents=...)
        ...  # client.start(fake.token); fake.dispatch("MESSAGE_CREATE", ...)

``payloads`` builds the Discord JSON objects to dispatch. Never used in production paths.
"""

from townsquare.fakes.discord import intents, payloads
from townsquare.fakes.discord.batch import DispatchBatch
from townsquare.fakes.discord.calls import RestCall, UploadedFile
from townsquare.fakes.discord.gateway import ConnectionInfo, GatewayCommand
from townsquare.fakes.discord.redirect import discord_py_redirected
from townsquare.fakes.discord.server import DEFAULT_TOKEN, FakeDiscord

__all__ = [
    "DEFAULT_TOKEN",
    "ConnectionInfo",
    "DispatchBatch",
    "FakeDiscord",
    "GatewayCommand",
    "RestCall",
    "UploadedFile",
    "discord_py_redirected",
    "intents",
    "payloads",
]

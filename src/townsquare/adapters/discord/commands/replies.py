"""What members see: friendly refusals for typed errors, the reply plumbing, embeds, numbers.

This is the chat edge's counterpart of the API's problem+json handler: every command and
button hands its exceptions to `reply_error`, so a member never sees a traceback, an
expected outcome (no profile yet, not an admin, an invalid setting) reads as a sentence,
and a validation error names each field with what is wrong with it. Errors are always
ephemeral: a public "thinking…" placeholder is deleted and the refusal is sent privately.

Replies never ping anyone (``AllowedMentions.none()``): showing a member's rank is not a
notification they asked for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import discord
import structlog
from discord import app_commands
from discord.utils import TimestampStyle

from townsquare.errors import (
    ConfigConflict,
    ConfigInvalid,
    DatabaseUnavailable,
    TownsquareError,
)
from townsquare.services.engagement import Currency
from townsquare.store.engine import is_unavailable

if TYPE_CHECKING:
    from townsquare.adapters.discord.bot import TownsquareBot

log = structlog.get_logger(__name__)

Interaction: TypeAlias = discord.Interaction["TownsquareBot"]

ACCENT = discord.Colour(0x5865F2)
SUCCESS = discord.Colour(0x2ECC71)
NO_PINGS = discord.AllowedMentions.none()
_CONTENT_LIMIT = 2000
_FIELD_LIMIT = 1024
_NAME_LIMIT = 64

CURRENCY_NAMES: dict[Currency, str] = {"xp": "XP", "stars": "Stars", "gold": "Gold"}
CURRENCY_ICONS: dict[Currency, str] = {"xp": "✨", "stars": "⭐", "gold": "🪙"}
CURRENCY_CHOICES = [
    app_commands.Choice(name=name, value=value) for value, name in CURRENCY_NAMES.items()
]


class Refusal(TownsquareError):
    """An expected "no" a command explains to the member (no profile yet, not your buttons).

    Raised by the commands themselves; the message is the whole reply.
    """

    code = "refusal"


class NotManager(app_commands.CheckFailure):
    """The member lacks Manage Server (or Administrator) for an admin command."""


def currency_of(choice: app_commands.Choice[str] | None) -> Currency:
    """The currency a ``currency`` option chose (XP when it was left out)."""
    if choice is None:
        return "xp"
    for currency in CURRENCY_NAMES:
        if currency == choice.value:
            return currency
    raise Refusal(f"Unknown currency {plain(choice.value)!r}; pick XP, Stars or Gold.")


# --- numbers and names --------------------------------------------------------------------


def amount(value: int) -> str:
    """``12345`` as ``12,345``: balances are read at a glance, not counted."""
    return f"{value:,}"


def priced(value: int, currency: Currency) -> str:
    """``1,250 XP``, ``3 Stars``."""
    return f"{amount(value)} {CURRENCY_NAMES[currency]}"


def plain(name: str, limit: int = _NAME_LIMIT) -> str:
    """A name any member chose, safe inside markdown: no formatting, no mentions, bounded."""
    cleaned = discord.utils.escape_mentions(discord.utils.escape_markdown(name.strip()))
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def board_name(display_name: str) -> str:
    """A member as a leaderboard shows them.

    Members first seen on Discord are named by their user id (events carry no names), so
    such a name becomes a mention: Discord renders it as the member's current name, and a
    mention in an embed never pings.
    """
    if display_name.isdigit():
        return f"<@{display_name}>"
    return f"**{plain(display_name, 32)}**"


def clip(text: str, limit: int = _FIELD_LIMIT) -> str:
    """Text cut to one of Discord's length limits (an embed field value by default)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def progress_bar(share: float, width: int = 12) -> str:
    """A text progress bar for embeds (the rank card draws the real one)."""
    filled = round(max(0.0, min(share, 1.0)) * width)
    return "█" * filled + "░" * (width - filled)


def timestamp(moment: datetime, style: TimestampStyle = "R") -> str:
    """Discord's ``<t:…>`` markup: each reader sees the time in their own zone and language."""
    return discord.utils.format_dt(moment, style)


def embed(
    title: str, description: str | None = None, *, colour: discord.Colour = ACCENT
) -> discord.Embed:
    return discord.Embed(title=clip(title, 256), description=description, colour=colour)


# --- replying -------------------------------------------------------------------------------


async def defer(interaction: Interaction, *, ephemeral: bool = False) -> None:
    """Acknowledge now (the 3 s deadline), answer when the slow part is done."""
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=ephemeral, thinking=True)


async def respond(
    interaction: Interaction,
    *,
    content: str | None = None,
    embeds: Sequence[discord.Embed] = (),
    file: discord.File | None = None,
    view: discord.ui.View | None = None,
    ephemeral: bool = False,
) -> discord.InteractionMessage | None:
    """The answer, whether or not the interaction was deferred first.

    After a deferral the placeholder is edited into the answer (its visibility was fixed by
    the deferral); otherwise the answer is the first response. Returns the message when
    discord.py knows it (after a deferral), for whoever must edit it later.
    """
    extra: dict[str, Any] = {}
    if view is not None:
        extra["view"] = view
    if not interaction.response.is_done():
        if file is not None:
            extra["file"] = file
        await interaction.response.send_message(
            content, embeds=list(embeds), ephemeral=ephemeral, allowed_mentions=NO_PINGS, **extra
        )
        return None
    if file is not None:
        extra["attachments"] = [file]
    return await interaction.edit_original_response(
        content=content, embeds=list(embeds), allowed_mentions=NO_PINGS, **extra
    )


async def reply_error(interaction: Interaction, error: BaseException) -> None:
    """Tell the member what went wrong, privately; log what nobody expected.

    Never raises: the interaction may have expired or been answered already, and a failure
    to explain a failure must not become a second traceback in the logs.
    """
    text = error_text(error)
    if interaction.type is discord.InteractionType.autocomplete:
        return  # suggestions cannot carry a message; Discord shows none
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)
            return
        if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
            # The placeholder may be public; the refusal must not be.
            with contextlib.suppress(discord.HTTPException):
                await interaction.delete_original_response()
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
    except discord.HTTPException as exc:
        log.warning("discord_error_reply_failed", status=exc.status, code=exc.code)


def error_text(error: BaseException) -> str:
    """The sentence a member reads for ``error`` (unexpected errors are logged here)."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, NotManager):
        return "🔒 You need the **Manage Server** permission to use this command."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command only works in a server."
    if isinstance(error, app_commands.TransformerError):
        return f"I could not understand `{plain(str(error.value), 100)}` for this option."
    if isinstance(error, app_commands.CommandSignatureMismatch | app_commands.CommandNotFound):
        return "This command was just updated; try again in a minute, once Discord caught up."
    if isinstance(error, app_commands.CheckFailure):
        return "🔒 You cannot use this command here."
    if isinstance(error, ConfigConflict):
        return "The settings changed while you were editing them; run the command again."
    if isinstance(error, ConfigInvalid):
        return clip(_invalid_text(error), _CONTENT_LIMIT)
    if isinstance(error, DatabaseUnavailable) or is_unavailable(error):
        log.warning("discord_command_database_unavailable", error=type(error).__name__)
        return "Townsquare cannot reach its database right now; try again in a minute."
    if isinstance(error, TownsquareError):
        return clip(error.message, _CONTENT_LIMIT)
    log.error("discord_command_failed", error=type(error).__name__, exc_info=error)
    return (
        "Something went wrong on our side. The server's admins can find the details in "
        "Townsquare's logs."
    )


def _invalid_text(error: ConfigInvalid) -> str:
    lines = ["That is not valid:"]
    for location, message in error.errors:
        where = _location(location)
        lines.append(f"• `{where}`: {message}" if where else f"• {message}")
    return "\n".join(lines)


def _location(location: tuple[str | int, ...]) -> str:
    dotted = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location)
    return dotted.lstrip(".")

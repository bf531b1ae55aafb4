"""Why the Discord adapter cannot start, said so an operator can fix it."""

from __future__ import annotations

from townsquare.errors import TownsquareError

PORTAL = "https://discord.com/developers/applications"


class DiscordSetupError(TownsquareError):
    """The bot token or the intents are wrong; the message says how to fix it."""

    code = "discord_setup"


def missing_token() -> DiscordSetupError:
    return DiscordSetupError(
        "No Discord bot token. Set TOWNSQUARE_DISCORD_TOKEN (or [discord] token in the config "
        f"file) to the token from {PORTAL} → your application → Bot → Reset Token."
    )


def invalid_token() -> DiscordSetupError:
    return DiscordSetupError(
        "Discord refused the bot token (401 Unauthorized). It may have been reset or copied "
        f"incompletely: get a new one at {PORTAL} → your application → Bot → Reset Token, and "
        "set TOWNSQUARE_DISCORD_TOKEN."
    )


def privileged_intents(asked: list[str]) -> DiscordSetupError:
    names = ", ".join(asked) or "a privileged intent"
    return DiscordSetupError(
        f"Discord refused the connection: the bot asks for {names}, which is not enabled for "
        f"it. Enable it at {PORTAL} → your application → Bot → Privileged Gateway Intents, "
        "or turn it off here ([discord] message_content / members = false)."
    )

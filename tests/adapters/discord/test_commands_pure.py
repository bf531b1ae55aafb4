"""The pure parts of the slash commands: page custom ids, error texts, suggestions."""

from __future__ import annotations

import re
import warnings
from typing import Any

import pytest

from townsquare.core.achievement_config import AchievementConfig, ManualTrigger
from townsquare.errors import ConfigInvalid, NotFound

with warnings.catch_warnings():
    # discord.py imports the deprecated audioop (for voice) on Python < 3.13.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord
    from discord import app_commands

from townsquare.adapters.discord.commands.admin import achievement_matches
from townsquare.adapters.discord.commands.leaderboard import _TEMPLATE, PageTarget
from townsquare.adapters.discord.commands.localization import CommandTranslator, described
from townsquare.adapters.discord.commands.replies import NotManager, Refusal, error_text

BIGGEST_SNOWFLAKE = 2**64 - 1


@pytest.mark.parametrize("direction", ["n", "p"])
def test_a_page_target_survives_its_custom_id(direction: str) -> None:
    target = PageTarget(BIGGEST_SNOWFLAKE, "gold", "S12", direction, 2**63 - 1, 41)  # type: ignore[arg-type]

    custom_id = target.custom_id()
    match = re.fullmatch(_TEMPLATE, custom_id)

    assert match is not None
    assert PageTarget.parse(match) == target
    assert len(custom_id) <= 100


def test_a_long_season_name_still_fits_a_custom_id() -> None:
    target = PageTarget(BIGGEST_SNOWFLAKE, "xp", "s" * 40, "n", 2**63 - 1, 999)

    assert len(target.custom_id()) <= 100


def test_validation_errors_name_each_field_and_problem() -> None:
    error = ConfigInvalid(
        [
            (("rules", "multipliers", "channel_rules", 0, "multiplier"), "too large"),
            (("announcements",), "mode 'channel' needs a channel_id"),
        ]
    )

    text = error_text(app_commands.CommandInvokeError(_command(), error))

    assert "`rules.multipliers.channel_rules[0].multiplier`: too large" in text
    assert "`announcements`: mode 'channel' needs a channel_id" in text


def test_typed_errors_read_as_their_message_and_surprises_as_a_generic_apology() -> None:
    assert error_text(NotFound("No member 'x' in this community.")) == (
        "No member 'x' in this community."
    )
    assert error_text(Refusal("Not yours.")) == "Not yours."
    assert "Manage Server" in error_text(NotManager())
    surprise = error_text(ZeroDivisionError("division by zero"))
    assert "went wrong on our side" in surprise
    assert "division" not in surprise


def test_achievement_suggestions_match_id_or_name_and_mark_hidden_ones() -> None:
    catalog = (
        AchievementConfig(id="chatterbox", name="Chatterbox", trigger=ManualTrigger()),
        AchievementConfig(id="helper", name="Helpful Hand", trigger=ManualTrigger()),
        AchievementConfig(id="shh", name="Handshake", hidden=True, trigger=ManualTrigger()),
    )

    found = achievement_matches(catalog, " hand")

    assert [(c.name, c.value) for c in found] == [
        ("Helpful Hand · helper", "helper"),
        ("Handshake (hidden) · shh", "shh"),
    ]
    assert achievement_matches((), "") == []


async def test_descriptions_translate_to_traditional_chinese_and_japanese() -> None:
    translator = CommandTranslator()
    text = described("The community's leaderboard")
    context: app_commands.TranslationContextTypes = app_commands.TranslationContext(
        app_commands.TranslationContextLocation.other, None
    )

    assert await translator.translate(text, discord.Locale.taiwan_chinese, context) == "社群排行榜"
    assert await translator.translate(text, discord.Locale.japanese, context)
    assert await translator.translate(text, discord.Locale.french, context) is None
    with pytest.raises(KeyError):
        described("An untranslated description")


def _command() -> app_commands.Command[Any, ..., None]:
    async def callback(interaction: discord.Interaction) -> None:
        """A stand-in for the command that failed."""

    return app_commands.Command(name="stand-in", description="x", callback=callback)

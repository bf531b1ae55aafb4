"""The Flex cards: shapes LINE accepts (checked by the fake's validation), numbers shown.

Pure: cards are built from the services' DTOs, so no database or server is needed. Each
card is serialized as the SDK sends it and checked against LINE's documented limits
(``altText`` at most 400 UTF-16 units, contents a bubble or a carousel).
"""

from __future__ import annotations

from typing import Any

import pytest

from townsquare.adapters.line import flex
from townsquare.adapters.line.messages import utf16_length
from townsquare.fakes.line import validation
from townsquare.services.engagement import LeaderboardOut, ProfileOut
from townsquare.services.engagement.profile_schemas import _PROFILE_EXAMPLE
from townsquare.services.engagement.schemas import LeaderboardEntryOut


def profile(**changes: Any) -> ProfileOut:
    return ProfileOut.model_validate({**_PROFILE_EXAMPLE, **changes})


def board(currency: str = "xp", entries: int = 12, season: str = "lifetime") -> LeaderboardOut:
    return LeaderboardOut(
        community_id=1,
        currency=currency,
        season=season,
        entries=[
            LeaderboardEntryOut(
                rank=i + 1, member_id=100 + i, display_name=f"member {i}", value=1000 - i, level=3
            )
            for i in range(entries)
        ],
        next_cursor=None,
    )


def wire(message: Any) -> dict[str, Any]:
    wired: dict[str, Any] = message.to_dict()
    assert validation.messages_errors([wired]) == []
    assert utf16_length(wired["altText"]) <= 400
    return wired


def texts(node: Any) -> list[str]:
    """Every text shown anywhere in a Flex tree."""
    if isinstance(node, dict):
        found = [node["text"]] if node.get("type") == "text" else []
        return found + [t for value in node.values() for t in texts(value)]
    if isinstance(node, list):
        return [t for value in node for t in texts(value)]
    return []


def test_rank_card_is_a_bubble_with_level_progress_and_rank() -> None:
    wired = wire(flex.rank_card("mika", profile()))
    shown = texts(wired["contents"])
    assert wired["contents"]["type"] == "bubble"
    assert "Level 7" in shown
    assert "#12 of 1,204" in shown
    assert "130 / 370 XP · 240 to level 8" in shown
    assert wired["altText"] == "mika: level 7, 1,320 XP, rank #12 of 1204"


def test_progress_bar_is_as_wide_as_the_share_of_the_level() -> None:
    bar = flex.progress_bar(0.3514).to_dict()
    assert bar["contents"][0]["width"] == "35%"
    assert flex.progress_bar(0.0).to_dict()["contents"][0]["width"] == "1%"
    assert flex.progress_bar(1.7).to_dict()["contents"][0]["width"] == "100%"


def test_highest_level_needs_no_next_level() -> None:
    level = {**_PROFILE_EXAMPLE["level"], "next_level_xp": None, "xp_to_next_level": None}  # type: ignore[dict-item]
    found = profile(level={**level, "max_level": True, "progress": 1.0})
    assert "1,320 XP · highest level" in texts(wire(flex.rank_card("mika", found))["contents"])


def test_leaderboard_is_a_carousel_of_boards_with_ten_rows_and_me_highlighted() -> None:
    wired = wire(flex.leaderboard_card([board("xp"), board("stars"), board("gold")], me=101))
    carousel = wired["contents"]
    assert carousel["type"] == "carousel"
    assert len(carousel["contents"]) == 3
    rows = carousel["contents"][0]["body"]["contents"]
    assert len(rows) == flex.BOARD_ROWS
    assert [r.get("backgroundColor") for r in rows].count(flex.HIGHLIGHT) == 1
    assert rows[1]["backgroundColor"] == flex.HIGHLIGHT
    assert wired["altText"].startswith("XP leaderboard: 1. member 0 1,000, 2. member 1 999")


def test_one_board_is_a_bubble_and_an_empty_one_says_so() -> None:
    wired = wire(flex.leaderboard_card([board("gold", entries=0, season="S3")]))
    assert wired["contents"]["type"] == "bubble"
    assert "Nobody has earned Gold yet." in texts(wired["contents"])
    assert "Season S3" in texts(wired["contents"])
    assert wired["altText"] == "Gold leaderboard: nobody yet"


def test_profile_card_shows_balances_ranks_and_latest_achievements() -> None:
    wired = wire(flex.profile_card("mika", profile()))
    shown = texts(wired["contents"])
    assert wired["contents"]["type"] == "bubble"
    assert {"1,320", "14", "85"} <= set(shown)  # lifetime XP, Stars, Gold
    assert "Season S12" in shown
    assert "Chatter 2" in shown
    assert "1 achievements" in wired["altText"]


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("U" + "a" * 32, "Member #7"),  # the pipeline's placeholder for a LINE user
        ("123456789012345678", "Member #7"),  # a Discord snowflake
        ("  ", "Member #7"),
        ("Mika", "Mika"),
    ],
)
def test_placeholder_names_are_never_shown(name: str, shown: str) -> None:
    assert flex.shown_name(name, 7) == shown


def test_long_names_and_emoji_keep_alt_text_within_400_utf16_units() -> None:
    name = "🎉" * 300  # 600 UTF-16 units
    for message in (
        flex.rank_card(name, profile()),
        flex.profile_card(name, profile()),
        flex.leaderboard_card(
            [
                LeaderboardOut(
                    community_id=1,
                    currency="xp",
                    season="lifetime",
                    entries=[
                        LeaderboardEntryOut(
                            rank=1, member_id=1, display_name=name, value=5, level=1
                        )
                    ],
                    next_cursor=None,
                )
            ]
        ),
    ):
        wire(message)  # within LINE's limits, names clipped
    assert wire(flex.rank_card(name, profile()))["altText"].endswith("…")

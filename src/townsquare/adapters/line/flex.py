"""Flex Message cards: the rank card, the leaderboards and the profile, built with the SDK.

Why Flex and not an image: LINE renders Flex natively (sharp on every screen, in dark mode,
readable by screen readers through ``altText``), and building it costs no CPU — the
Discord rank card is a PNG drawn off the event loop, this is a small JSON tree. The
numbers come from the same use cases as the public API and Discord (`ProfileOut`,
`LeaderboardOut`), so a member reads the same figures everywhere.

Every card's ``altText`` (what notifications and chat lists show) is at most 400 UTF-16
units; names members chose are clipped so one long name cannot break a layout.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

from linebot.v3.messaging import (
    FlexBox,
    FlexBubble,
    FlexButton,
    FlexCarousel,
    FlexFiller,
    FlexMessage,
    FlexSeparator,
    FlexText,
    PostbackAction,
)

from townsquare.adapters.line.messages import clip
from townsquare.services.conversations import encode_postback
from townsquare.services.engagement import Currency, LeaderboardOut, ProfileOut
from townsquare.services.engagement.profile_schemas import LevelProgress, Standings
from townsquare.services.engagement.schemas import Amounts

ACCENT: Final = "#06C755"  # LINE green
TRACK: Final = "#E5E7EB"
MUTED: Final = "#8C8C8C"
HIGHLIGHT: Final = "#F0FFF4"
CURRENCY_NAMES: Final[dict[Currency, str]] = {"xp": "XP", "stars": "Stars", "gold": "Gold"}
CURRENCY_ICONS: Final[dict[Currency, str]] = {"xp": "✨", "stars": "⭐", "gold": "🪙"}
BOARD_ROWS: Final = 10
_NAME_UNITS: Final = 40
# Placeholder names the pipeline gives members it has not named yet: a LINE user id or a
# Discord snowflake. Shown as "Member #id" instead.
_PLATFORM_ID = re.compile(r"^(?:U[0-9a-f]{32}|\d{15,21})$")


def amount(value: int) -> str:
    return f"{value:,}"


def is_placeholder(display_name: str) -> bool:
    """A name the pipeline made up (a platform id), not one a person chose."""
    return not display_name.strip() or _PLATFORM_ID.match(display_name) is not None


def shown_name(display_name: str, member_id: int) -> str:
    """A member's name as a card shows it: clipped, and never a raw platform id."""
    if is_placeholder(display_name):
        return f"Member #{member_id}"
    return clip(display_name.strip(), _NAME_UNITS)


def _text(value: str, **style: Any) -> FlexText:
    return FlexText(text=value or " ", wrap=style.pop("wrap", True), **style)


def _button(label: str, action: str, params: dict[str, str] | None = None) -> FlexButton:
    return FlexButton(
        action=PostbackAction(
            label=label, data=encode_postback(action, params), display_text=label
        ),
        style="link",
        height="sm",
    )


def progress_bar(share: float) -> FlexBox:
    """A filled track: the share of the way to the next level."""
    percent = round(max(0.0, min(share, 1.0)) * 100)
    fill = FlexBox(
        layout="vertical",
        contents=[FlexFiller()],
        width=f"{max(percent, 1)}%",
        height="8px",
        background_color=ACCENT,
        corner_radius="4px",
    )
    return FlexBox(
        layout="vertical",
        contents=[fill],
        height="8px",
        background_color=TRACK,
        corner_radius="4px",
        margin="md",
    )


def _progress_line(level: LevelProgress) -> str:
    if level.max_level or level.next_level_xp is None:
        return f"{amount(level.xp)} XP · highest level"
    into = level.xp - level.level_xp
    span = level.next_level_xp - level.level_xp
    return (
        f"{amount(into)} / {amount(span)} XP · "
        f"{amount(level.xp_to_next_level or 0)} to level {level.level + 1}"
    )


def _balances_row(amounts: Amounts) -> FlexBox:
    cells = [
        FlexBox(
            layout="vertical",
            contents=[
                _text(CURRENCY_ICONS[c] + " " + CURRENCY_NAMES[c], size="xs", color=MUTED),
                _text(amount(getattr(amounts, c)), size="md", weight="bold"),
            ],
        )
        for c in CURRENCY_NAMES
    ]
    return FlexBox(layout="horizontal", contents=cells, margin="lg", spacing="md")


def _rank_line(standings: Standings, currency: Currency = "xp") -> str:
    standing = getattr(standings, currency)
    if standing is None:
        return "Not ranked yet"
    return f"#{amount(standing.rank)} of {amount(standing.total)}"


def _level_block(name: str, level: LevelProgress) -> list[Any]:
    return [
        _text(name, weight="bold", size="lg"),
        _text(f"Level {level.level}", weight="bold", size="xxl", color=ACCENT),
        progress_bar(level.progress),
        _text(_progress_line(level), size="sm", color=MUTED, margin="sm"),
    ]


def rank_card(name: str, found: ProfileOut) -> FlexMessage:
    """The rank card: level, progress to the next one, XP rank and balances."""
    level, lifetime = found.level, found.balances.lifetime
    body = FlexBox(
        layout="vertical",
        contents=[
            *_level_block(name, level),
            FlexSeparator(margin="lg"),
            FlexBox(
                layout="baseline",
                margin="lg",
                contents=[
                    _text("Rank", size="sm", color=MUTED, flex=2),
                    _text(_rank_line(found.ranks.lifetime), size="sm", weight="bold", flex=5),
                ],
            ),
            _balances_row(lifetime),
        ],
    )
    footer = FlexBox(
        layout="horizontal",
        contents=[_button("Leaderboard", "leaderboard"), _button("Profile", "profile")],
    )
    standing = found.ranks.lifetime.xp
    ranked = f", rank #{standing.rank} of {standing.total}" if standing else ""
    alt = f"{name}: level {level.level}, {amount(lifetime.xp)} XP{ranked}"
    return FlexMessage(
        alt_text=clip(alt), contents=FlexBubble(size="kilo", body=body, footer=footer)
    )


def _board_row(rank: int, name: str, value: str, *, mine: bool) -> FlexBox:
    return FlexBox(
        layout="baseline",
        spacing="sm",
        padding_all="4px",
        background_color=HIGHLIGHT if mine else None,
        contents=[
            _text(f"{rank}.", size="sm", color=MUTED, flex=1, wrap=False),
            _text(name, size="sm", flex=6, wrap=False, weight="bold" if mine else "regular"),
            _text(value, size="sm", flex=3, align="end", wrap=False),
        ],
    )


def board_bubble(board: LeaderboardOut, *, me: int | None = None) -> FlexBubble:
    """One board, best first (at most `BOARD_ROWS` rows); the reader's own row stands out."""
    title = f"{CURRENCY_ICONS[board.currency]} {CURRENCY_NAMES[board.currency]} leaderboard"
    season = "All time" if board.season == "lifetime" else f"Season {board.season}"
    rows: list[Any] = [
        _board_row(
            entry.rank,
            shown_name(entry.display_name, entry.member_id),
            amount(entry.value),
            mine=entry.member_id == me,
        )
        for entry in board.entries[:BOARD_ROWS]
    ]
    if not rows:
        rows = [_text(f"Nobody has earned {CURRENCY_NAMES[board.currency]} yet.", size="sm")]
    header = FlexBox(
        layout="vertical",
        contents=[
            _text(title, weight="bold", size="md"),
            _text(clip(season, 60), size="xs", color=MUTED),
        ],
    )
    body = FlexBox(layout="vertical", spacing="xs", contents=rows)
    return FlexBubble(size="kilo", header=header, body=body)


def leaderboard_card(boards: Sequence[LeaderboardOut], *, me: int | None = None) -> FlexMessage:
    """The boards side by side (a carousel), or one bubble for one board."""
    if not boards:
        raise ValueError("a leaderboard card needs at least one board")
    bubbles = [board_bubble(board, me=me) for board in boards]
    contents: Any = bubbles[0] if len(bubbles) == 1 else FlexCarousel(contents=bubbles)
    first = boards[0]
    top = ", ".join(
        f"{e.rank}. {shown_name(e.display_name, e.member_id)} {amount(e.value)}"
        for e in first.entries[:3]
    )
    alt = f"{CURRENCY_NAMES[first.currency]} leaderboard: {top or 'nobody yet'}"
    return FlexMessage(alt_text=clip(alt), contents=contents)


def _ranks_text(standings: Standings) -> str:
    lines = [
        f"{CURRENCY_NAMES[c]} {_rank_line(standings, c)}"
        for c in CURRENCY_NAMES
        if getattr(standings, c) is not None
    ]
    return "\n".join(lines) or "Not ranked yet"


def _section(title: str, *contents: Any) -> FlexBox:
    return FlexBox(
        layout="vertical",
        margin="lg",
        contents=[_text(title, size="xs", color=MUTED), *contents],
    )


def profile_card(name: str, found: ProfileOut) -> FlexMessage:
    """The profile: level, balances (all time and this season), ranks, achievements."""
    sections: list[Any] = [*_level_block(name, found.level), FlexSeparator(margin="lg")]
    sections.append(_section("All time", _balances_row(found.balances.lifetime)))
    season = found.balances.season
    if season is not None:
        sections.append(
            _section(f"Season {clip(season.season, 40)}", _balances_row(season.balances))
        )
    sections.append(_section("Ranks", _text(_ranks_text(found.ranks.lifetime), size="sm")))
    earned = sorted(found.achievements, key=lambda a: a.awarded_at, reverse=True)
    if earned:
        latest = ", ".join(clip(a.name, 40) for a in earned[:3])
        more = f" and {len(earned) - 3} more" if len(earned) > 3 else ""
        sections.append(_section(f"Achievements ({len(earned)})", _text(latest + more, size="sm")))
    footer = FlexBox(
        layout="horizontal",
        contents=[_button("Rank", "rank"), _button("Leaderboard", "leaderboard")],
    )
    lifetime = found.balances.lifetime
    alt = (
        f"{name}: level {found.level.level}, {amount(lifetime.xp)} XP, "
        f"{amount(lifetime.stars)} Stars, {amount(lifetime.gold)} Gold, "
        f"{len(earned)} achievements"
    )
    bubble = FlexBubble(body=FlexBox(layout="vertical", contents=sections), footer=footer)
    return FlexMessage(alt_text=clip(alt), contents=bubble)

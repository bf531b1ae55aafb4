"""``/leaderboard [currency] [season]``: a board as an embed, paged with Previous/Next buttons.

Stateless pages: each button's custom id says which board, whose buttons they are, and
where its page starts — the page right after, or right before, one member. The page is read
with the ``around`` service (that member's neighbours below or above), so no page cursor
has to be remembered anywhere and the buttons keep working after the bot restarts
(`PageButton` is a dynamic item matched by its custom id, registered on the bot for good).
A page starts at a member rather than at a rank, so members earning meanwhile shift the
board under the reader, never the reader off the board.

The view's timeout only tidies up: after `PAGES_TIMEOUT` of no paging the buttons of the
message are disabled (while the interaction token can still edit it).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any, Literal, Self

import discord
from discord import app_commands
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.adapters.discord.commands.localization import described
from townsquare.adapters.discord.commands.replies import (
    CURRENCY_CHOICES,
    CURRENCY_ICONS,
    CURRENCY_NAMES,
    Interaction,
    Refusal,
    board_name,
    currency_of,
    defer,
    embed,
    priced,
    reply_error,
    respond,
)
from townsquare.adapters.discord.commands.scope import (
    community_of,
    context_of,
    sessions_of,
    tree_of,
)
from townsquare.errors import NotFound
from townsquare.services import engagement
from townsquare.services.engagement import LIFETIME_NAME, CommunityContext, Currency
from townsquare.services.engagement.schemas import LeaderboardEntryOut

PAGE_SIZE = 10
PAGES_TIMEOUT = 600.0  # seconds; below the 15 minutes an interaction token can edit
_SEASON = r"[A-Za-z0-9_.-]{1,64}"
_CODES: dict[Currency, str] = {"xp": "x", "stars": "s", "gold": "g"}
_CURRENCIES: dict[str, Currency] = {code: currency for currency, code in _CODES.items()}
_TEMPLATE = (
    r"ts:lb:(?P<invoker>[0-9a-z]{1,13}):(?P<currency>[xsg]):(?P<season>" + _SEASON + r"):"
    r"(?P<direction>[np])(?P<member>[0-9a-z]{1,13}):(?P<page>[0-9]{1,6})"
)
_CUSTOM_ID_LIMIT = 100


@dataclass(frozen=True, slots=True)
class PageTarget:
    """Where a button leads: the page after (``n``) or before (``p``) a member on a board."""

    invoker: int
    currency: Currency
    season: str  # a season id or "lifetime" (never "current": the pages stay on one board)
    direction: Literal["n", "p"]
    member_id: int
    page: int

    def custom_id(self) -> str:
        return (
            f"ts:lb:{_base36(self.invoker)}:{_CODES[self.currency]}:{self.season}:"
            f"{self.direction}{_base36(self.member_id)}:{self.page}"
        )

    @classmethod
    def parse(cls, match: re.Match[str]) -> PageTarget:
        direction: Literal["n", "p"] = "n" if match["direction"] == "n" else "p"
        return cls(
            invoker=int(match["invoker"], 36),
            currency=_CURRENCIES[match["currency"]],
            season=match["season"],
            direction=direction,
            member_id=int(match["member"], 36),
            page=int(match["page"]),
        )


@dataclass(frozen=True, slots=True)
class BoardPage:
    currency: Currency
    season: str
    entries: list[LeaderboardEntryOut]
    page: int
    has_previous: bool
    has_next: bool


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, remainder = divmod(number, 36)
        text = digits[remainder] + text
        if number == 0:
            return text


async def first_page(
    session: AsyncSession, context: CommunityContext, currency: Currency, season: str
) -> BoardPage:
    board = await engagement.leaderboard(session, context, currency, season, None, PAGE_SIZE)
    return BoardPage(
        board.currency, board.season, board.entries, 1, False, board.next_cursor is not None
    )


async def page_at(
    session: AsyncSession, context: CommunityContext, target: PageTarget
) -> BoardPage:
    """The page a button leads to; the first page if its member has left the board."""
    try:
        standing = await engagement.around(
            session,
            context,
            str(target.member_id),
            target.currency,
            target.season,
            PAGE_SIZE + 1,  # one more than shown: is there a page beyond?
        )
    except NotFound:
        return await first_page(session, context, target.currency, target.season)
    if target.direction == "n":
        entries = standing.below[:PAGE_SIZE]
        more = len(standing.below) > PAGE_SIZE
        page = BoardPage(target.currency, target.season, entries, max(target.page, 2), True, more)
    else:
        entries = standing.above[-PAGE_SIZE:]
        more = len(standing.above) > PAGE_SIZE
        number = max(target.page, 2) if more else 1
        page = BoardPage(target.currency, target.season, entries, number, more, True)
    if not page.entries:
        return await first_page(session, context, target.currency, target.season)
    return page


def board_embed(page: BoardPage) -> discord.Embed:
    season = "all time" if page.season == LIFETIME_NAME else f"season {page.season}"
    ranked_by = f"{CURRENCY_ICONS[page.currency]} {CURRENCY_NAMES[page.currency]}"
    title = f"{ranked_by} leaderboard · {season}"
    lines = [
        f"`#{entry.rank:>3}` {board_name(entry.display_name)} — "
        f"{priced(entry.value, page.currency)} · level {entry.level}"
        for entry in page.entries
    ]
    board = embed(title, "\n".join(lines) or "Nobody is on this board yet.")
    return board.set_footer(text=f"Page {page.page}")


class PageButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=_TEMPLATE):
    """Previous or Next; its custom id is the whole state of the page it leads to."""

    def __init__(self, target: PageTarget, *, disabled: bool = False) -> None:
        label = "Next ▶" if target.direction == "n" else "◀ Previous"
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=target.custom_id(),
                disabled=disabled,
            )
        )
        self.target = target

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(PageTarget.parse(match))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        # Buttons are outside the command tree's error handling: answer errors here.
        try:
            await self.turn(interaction)
        except Exception as error:  # noqa: BLE001 - every failure becomes a private reply
            await reply_error(interaction, error)

    async def turn(self, interaction: Interaction) -> None:
        if interaction.user.id != self.target.invoker:
            raise Refusal(
                "These buttons belong to whoever ran this /leaderboard; run /leaderboard to "
                "page through your own copy."
            )
        await interaction.response.defer()
        community_id = await community_of(interaction)
        async with sessions_of(interaction).begin() as session:
            context = await context_of(interaction, session, community_id)
            page = await page_at(session, context, self.target)
        view = PagesView(interaction, page, self.target.invoker)
        await interaction.edit_original_response(embeds=[board_embed(page)], view=view.shown())
        if interaction.message is not None:
            view.attach(interaction.message.id)


class PagesView(discord.ui.View):
    """The two buttons under one page; disables them when nobody paged for a while."""

    def __init__(self, interaction: Interaction, page: BoardPage, invoker: int) -> None:
        super().__init__(timeout=PAGES_TIMEOUT)
        self._interaction = interaction
        self._message_id: int | None = None
        entries = page.entries
        first = entries[0].member_id if entries else 0
        last = entries[-1].member_id if entries else 0
        board = (invoker, page.currency, page.season)
        previous = PageTarget(*board, "p", first, max(page.page - 1, 1))
        following = PageTarget(*board, "n", last, page.page + 1)
        # A board of one page needs no buttons; a custom id has room for 64-character
        # season names only when the ids in it are not huge, else the page stands alone.
        self.pageable = (page.has_previous or page.has_next) and all(
            len(target.custom_id()) <= _CUSTOM_ID_LIMIT for target in (previous, following)
        )
        if self.pageable:
            self.add_item(PageButton(previous, disabled=not page.has_previous))
            self.add_item(PageButton(following, disabled=not page.has_next))

    def shown(self) -> PagesView | None:
        """The view to send, or None when the page has nowhere to go."""
        return self if self.pageable else None

    def attach(self, message_id: int) -> None:
        """This view now drives ``message_id`` (older views of it stop tidying it)."""
        self._message_id = message_id
        tree_of(self._interaction).current_pages.put(message_id, self)

    async def on_timeout(self) -> None:
        message_id = self._message_id
        if message_id is None or self._interaction.client.is_closed():
            return
        if tree_of(self._interaction).current_pages.get(message_id) is not self:
            return
        for child in self.children:
            if isinstance(child, PageButton):
                child.item.disabled = True
        with contextlib.suppress(discord.HTTPException):
            await self._interaction.edit_original_response(view=self)


async def season_choices(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
    """'lifetime', 'current' and the seasons the schedule names, matching what is typed."""
    community_id = await community_of(interaction)
    async with sessions_of(interaction).begin() as session:
        context = await context_of(interaction, session, community_id)
    schedule = engagement.seasons(context)
    named = [schedule.current, schedule.next, *schedule.windows]
    names = [LIFETIME_NAME, *([engagement.CURRENT] if schedule.current else [])]
    names += [season.id for season in named if season is not None]
    typed = current.strip().lower()
    unique = list(dict.fromkeys(name for name in names if typed in name.lower()))
    return [app_commands.Choice(name=name, value=name) for name in unique[:25]]


@app_commands.command(name="leaderboard", description=described("The community's leaderboard"))
@app_commands.describe(
    currency="What to rank by (default: XP)",
    season="A season, 'current', or 'lifetime' (default)",
)
@app_commands.choices(currency=CURRENCY_CHOICES)
@app_commands.autocomplete(season=season_choices)
@app_commands.guild_only()
async def leaderboard(
    interaction: Interaction,
    currency: app_commands.Choice[str] | None = None,
    season: str | None = None,
) -> None:
    board_currency = currency_of(currency)
    board_season = (season or LIFETIME_NAME).strip()
    if not re.fullmatch(_SEASON, board_season):
        raise Refusal("A season is named with letters, digits, '.', '_' or '-' (e.g. S12).")
    await defer(interaction)
    community_id = await community_of(interaction)
    async with sessions_of(interaction).begin() as session:
        context = await context_of(interaction, session, community_id)
        page = await first_page(session, context, board_currency, board_season)
    view = PagesView(interaction, page, interaction.user.id)
    sent = await respond(interaction, embeds=[board_embed(page)], view=view.shown())
    if sent is not None:
        view.attach(sent.id)


def commands() -> list[app_commands.Command[Any, ..., Any]]:
    return [leaderboard]

"""LINE commands: rank, leaderboard, profile, help, link — one handler each, and the routes
that put them behind the conversation router.

What counts as a command: in a one-to-one chat, a message whose first word names one
(``rank``, ``/rank``, ``!top``, ``link K7QD-M2XA``); in a group or room only a message that
addresses the bot — starting with ``/`` or ``!``, or mentioning it — so ordinary chat
that happens to start with "top" is never answered. Rich menu taps and card buttons are
postbacks with the same names (`encode_postback`).

One-to-one chats go through the conversation service (a persisted, per-user session):
that is what lets ``link`` ask for the code and take the next message as the answer.
Groups have no sessions (a group is many people); their commands run directly. Each
handler reads through the engagement services and adds a Flex card to the turn's answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from townsquare.adapters.line import flex, linking
from townsquare.adapters.line.turn import LineTurn, turn_of
from townsquare.errors import NotFound
from townsquare.services import engagement
from townsquare.services.conversations import (
    ANY,
    Command,
    Context,
    Machine,
    On,
    Outcome,
    Reaction,
    Router,
    TextMessage,
    Transition,
    postback_option,
)
from townsquare.services.engagement import Currency, InvalidPublicQuery
from townsquare.store.profiles import find_member

IDLE: Final = "idle"
AWAITING_CODE: Final = "awaiting_link_code"
CODE_REQUESTED: Final = Outcome("code_requested")
LINK_FINISHED: Final = Outcome("link_finished")
ALIASES: Final = {"top": "leaderboard", "lb": "leaderboard", "ranking": "leaderboard",
                  "me": "profile", "menu": "help", "start": "help", "stop": "cancel"}  # fmt: skip
NAMES: Final = frozenset({"rank", "leaderboard", "profile", "help", "link", "cancel"})
_PREFIXES: Final = ("/", "!", "／", "！")  # full-width forms: Japanese and Chinese keyboards
_CURRENCIES: Final[tuple[Currency, ...]] = ("xp", "stars", "gold")

NOT_YET: Final = (
    "You have no profile here yet: members appear once they have been active. "
    "Say hello in the chat and try again!"
)


class LineFlow(BaseModel):
    """The engagement conversation keeps no data: its states say everything."""

    model_config = ConfigDict(frozen=True)


def parse_command(text: str, *, addressed: bool) -> Command | None:
    """The command a message gives, if any. ``addressed``: the message must start with
    ``/`` or ``!`` (groups); one-to-one chats accept the bare word too."""
    stripped = text.strip()
    prefixed = stripped.startswith(_PREFIXES)
    if addressed and not prefixed:
        return None
    words = (stripped[1:] if prefixed else stripped).split()
    if not words or len(words) > 3:
        return None
    name = ALIASES.get(words[0].lower(), words[0].lower())
    return Command(name, tuple(words[1:])) if name in NAMES else None


def menu_options() -> tuple[Any, ...]:
    return (
        postback_option("Rank", "rank", display_text="Rank"),
        postback_option("Leaderboard", "leaderboard", display_text="Leaderboard"),
        postback_option("Profile", "profile", display_text="Profile"),
        postback_option("Link Discord", "link", display_text="Link my Discord account"),
    )


# --- the commands ----------------------------------------------------------------------


async def show_rank(turn: LineTurn, args: tuple[str, ...] = ()) -> None:
    found = await _own_profile(turn)
    if found is not None:
        name = await turn.user_name(found.display_name) or flex.shown_name(
            found.display_name, found.member_id
        )
        turn.add(flex.rank_card(name, found))


async def show_profile(turn: LineTurn, args: tuple[str, ...] = ()) -> None:
    found = await _own_profile(turn)
    if found is not None:
        name = await turn.user_name(found.display_name) or flex.shown_name(
            found.display_name, found.member_id
        )
        turn.add(flex.profile_card(name, found))


async def show_leaderboard(turn: LineTurn, args: tuple[str, ...] = ()) -> None:
    """The XP, Stars and Gold boards side by side (or the one named: ``/top gold``)."""
    wanted = [c for c in _CURRENCIES if args and args[0].lower() in (c, c.rstrip("s"))]
    context = await turn.context()
    boards = []
    try:
        for currency in wanted or _CURRENCIES:
            boards.append(
                await engagement.leaderboard(turn.db, context, currency, limit=flex.BOARD_ROWS)
            )
    except InvalidPublicQuery as refused:
        turn.say(refused.message)
        return
    me = None
    if turn.member_ref is not None:
        member = await find_member(turn.db, turn.community_id, turn.member_ref)
        me = None if member is None else member.id
    turn.add(flex.leaderboard_card(boards, me=me))


async def show_help(turn: LineTurn, args: tuple[str, ...] = ()) -> None:
    lines = [
        "Here is what I can do:",
        "• rank — your level and rank",
        "• leaderboard — the top members (top gold, top stars)",
        "• profile — your balances and achievements",
        "• link CODE — share one profile with your Discord account",
    ]
    if not turn.is_one_to_one:
        lines.append("In a group, start a command with / (like /rank).")
    turn.say("\n".join(lines), *menu_options())


async def link_in_group(turn: LineTurn, args: tuple[str, ...] = ()) -> None:
    turn.say(linking.ONLY_ONE_TO_ONE)


async def _own_profile(turn: LineTurn) -> engagement.ProfileOut | None:
    if turn.member_ref is None:
        turn.say("I cannot tell who you are in this chat; talk to me one-to-one instead.")
        return None
    context = await turn.context()
    try:
        return await engagement.profile(turn.db, context, turn.member_ref, recent=0)
    except NotFound:
        turn.say(NOT_YET)
        return None


CommandHandler = Callable[[LineTurn, tuple[str, ...]], Awaitable[None]]

#: What a group or room may ask for (no sessions there; ``link`` only explains).
GROUP_COMMANDS: Final[dict[str, CommandHandler]] = {
    "rank": show_rank,
    "leaderboard": show_leaderboard,
    "profile": show_profile,
    "help": show_help,
    "link": link_in_group,
}


# --- the conversation routes (one-to-one chats) ------------------------------------------


def _routed(
    command: CommandHandler,
) -> Callable[[Context[LineFlow]], Awaitable[Reaction[LineFlow]]]:
    async def handle(context: Context[LineFlow]) -> Reaction[LineFlow]:
        trigger = context.trigger
        args = trigger.args if isinstance(trigger, Command) else ()
        await command(turn_of(context), args)
        return Reaction()

    return handle


async def _link_from_idle(context: Context[LineFlow]) -> Reaction[LineFlow]:
    turn = turn_of(context)
    trigger = context.trigger
    code = " ".join(trigger.args) if isinstance(trigger, Command) else ""
    if code:
        await linking.redeem(turn, code)
        return Reaction()
    turn.say(linking.ASK_FOR_CODE, postback_option("Cancel", "cancel", display_text="Cancel"))
    return Reaction(fire=CODE_REQUESTED)


async def _code_given(context: Context[LineFlow]) -> Reaction[LineFlow]:
    turn = turn_of(context)
    trigger = context.trigger
    code = " ".join(trigger.args) if isinstance(trigger, Command) else _text_of(trigger)
    if not code.strip():
        turn.say(linking.ASK_FOR_CODE, postback_option("Cancel", "cancel", display_text="Cancel"))
        return Reaction()
    linked = await linking.redeem(turn, code)
    return Reaction(fire=LINK_FINISHED) if linked is not None else Reaction()


def _text_of(trigger: object) -> str:
    return trigger.text if isinstance(trigger, TextMessage) else ""


async def _cancel(context: Context[LineFlow]) -> Reaction[LineFlow]:
    turn_of(context).say("OK, cancelled.", *menu_options())
    return Reaction(fire=Command("cancel"))


async def _not_understood(context: Context[LineFlow]) -> None:
    turn = turn_of(context)
    if context.session.state == AWAITING_CODE:
        turn.say(linking.ASK_FOR_CODE, postback_option("Cancel", "cancel", display_text="Cancel"))
        return
    await show_help(turn)


def machine() -> Machine[LineFlow]:
    return Machine(
        states=(IDLE, AWAITING_CODE),
        transitions=(
            Transition(IDLE, CODE_REQUESTED.key, AWAITING_CODE),
            Transition(AWAITING_CODE, LINK_FINISHED.key, IDLE),
        ),
        data_model=LineFlow,
        initial=IDLE,
    )


def add_command_routes(router: Router[Any]) -> None:
    """The commands and their postbacks in any state of ``router``'s flow (so another flow,
    e.g. the assistant's, can offer them too)."""
    for name, command in (
        ("rank", show_rank),
        ("leaderboard", show_leaderboard),
        ("profile", show_profile),
        ("help", show_help),
    ):
        router.route(ANY, On.command(name), _routed(command))
        router.route(ANY, On.postback(name), _routed(command))


def engagement_router() -> Router[LineFlow]:
    """The one-to-one flow: commands anywhere; ``link`` without a code waits for it."""
    router = Router(machine(), fallback=_not_understood)
    add_command_routes(router)
    router.route(IDLE, On.command("link"), _link_from_idle)
    router.route(IDLE, On.postback("link"), _link_from_idle)
    router.route(AWAITING_CODE, On.command("link"), _code_given)
    router.route(AWAITING_CODE, On.postback("link"), _code_given)
    router.route(AWAITING_CODE, On.text, _code_given)
    router.route(ANY, On.command("cancel"), _cancel)
    router.route(ANY, On.postback("cancel"), _cancel)
    return router

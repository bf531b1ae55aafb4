"""``link CODE`` on LINE: attach this LINE account to the member who asked for the code.

The code comes from ``/link`` on Discord. Linking is only done in a one-to-one chat with
the bot: a code typed in a group is visible to everyone there, and whoever redeemed it
first would attach *their* account to someone else's profile. The answer explains every
refusal (`townsquare.services.identity` words them); nothing here logs the code.
"""

from __future__ import annotations

from typing import Final

import structlog

from townsquare.adapters.line.turn import LineTurn
from townsquare.core.kinds import Platform
from townsquare.services.identity import LinkedAccount, LinkRefused, redeem_code
from townsquare.store.communities import get_community

log = structlog.get_logger(__name__)

ASK_FOR_CODE: Final = (
    "Send me the code you got from /link on Discord (it looks like K7QD-M2XA), or tap Cancel."
)
ONLY_ONE_TO_ONE: Final = (
    "For your safety, send link codes only in a one-to-one chat with me — anyone in this "
    "group could use a code posted here. Nothing was linked."
)


async def redeem(turn: LineTurn, code: str) -> LinkedAccount | None:
    """Redeem ``code`` for the turn's LINE user and tell them how it went; the link, or
    None when it was refused (the refusal was explained to them)."""
    if turn.user_id is None or not turn.is_one_to_one:
        turn.say(ONLY_ONE_TO_ONE)
        return None
    try:
        linked = await redeem_code(
            turn.db,
            platform=Platform.LINE.value,
            external_user_id=turn.user_id,
            code=code,
            now=turn.now,
        )
    except LinkRefused as refused:
        turn.say(refused.message)
        return None
    community = await get_community(turn.db, str(linked.community_id))
    if linked.already:
        turn.say(f"This LINE account is already linked to your profile in {community.name}.")
    else:
        turn.say(
            f"Linked! Your LINE account now shares one profile with your Discord account in "
            f"{community.name}: XP, Stars and Gold earned on either side add up."
        )
    return linked

"""Issue one-time link codes and redeem them: one member, one profile, two platforms.

A member asks on one platform (``/link`` on Discord) and gets a code valid for ten
minutes; typing it to the bot on the other platform (``link K7QD-M2XA`` to the LINE bot)
attaches that account to the same member, so activity on either side lands on one
balance and one profile. Codes are 40 random bits in Crockford base32 (no 0/O or 1/I/L to
confuse), stored only as SHA-256 hashes, single use, one live code per member and
platform.

Why linking never merges or re-points: the ingest writer resolves (community, platform,
account) to a member once and keeps the answer for as long as it runs, so moving an
account that the community has already seen to another member would send that account's
later events to the old member behind everyone's back. An account the community has never
seen has no cached answer anywhere, so attaching it is safe, and the pipeline finds the
new identity on the account's first event. An account that already has activity of its
own as another member is refused with `AccountInUse` (merging two members' balances is
out of scope). Services flush, never commit: the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Final

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.services.identity.schemas import (
    AccountInUse,
    IssuedCode,
    LinkCodeInvalid,
    LinkedAccount,
    MemberAlreadyLinked,
)
from townsquare.store import link_codes as store

log = structlog.get_logger(__name__)

#: How long a code can be redeemed.
CODE_TTL: Final = timedelta(minutes=10)
CODE_LENGTH: Final = 8
_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
_LOOKALIKES: Final = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS: Final = str.maketrans("", "", " -_\t")
_PLATFORM_NAMES: Final = {"line": "LINE", "discord": "Discord"}


def normalize_code(raw: str) -> str | None:
    """The canonical form of a typed code (case, dashes, spaces and look-alike letters
    forgiven); None when it cannot be a code at all."""
    cleaned = raw.upper().translate(_SEPARATORS).translate(_LOOKALIKES)
    if len(cleaned) != CODE_LENGTH or any(c not in _ALPHABET for c in cleaned):
        return None
    return cleaned


def hash_code(normalized: str) -> str:
    return hashlib.sha256(normalized.encode("ascii")).hexdigest()


def _new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))


def _shown(code: str) -> str:
    half = CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


async def issue_code(
    db: AsyncSession,
    *,
    community_id: int,
    member_id: int,
    platform: str,
    now: datetime,
    ttl: timedelta = CODE_TTL,
) -> IssuedCode:
    """A fresh code for the member to type on ``platform`` (an earlier one stops working).

    `MemberAlreadyLinked` when the member already has an account there.
    """
    linked = await store.member_account(db, community_id, member_id, platform)
    if linked is not None:
        raise MemberAlreadyLinked(
            f"Your {_platform_name(platform)} account is already linked to this profile."
        )
    await store.delete_expired(db, community_id, now)
    code = _new_code()
    await store.save_code(
        db,
        community_id=community_id,
        member_id=member_id,
        platform=platform,
        code_hash=hash_code(code),
        now=now,
        expires_at=now + ttl,
    )
    log.info("link_code_issued", community=community_id, member=member_id, platform=platform)
    return IssuedCode(code=_shown(code), platform=platform, expires_at=now + ttl)


async def redeem_code(
    db: AsyncSession,
    *,
    platform: str,
    external_user_id: str,
    code: str,
    now: datetime,
) -> LinkedAccount:
    """Attach the ``platform`` account to the member the code was issued to.

    Raises `LinkCodeInvalid` (no live code), `AccountInUse` (the account already is
    another member of that community) or `MemberAlreadyLinked` (the member already has
    another account there). Redeeming again for the same pair answers ``already=True``.
    """
    normalized = normalize_code(code)
    rows = (
        []
        if normalized is None
        else await store.live_codes(db, hash_code(normalized), platform, now)
    )
    if len(rows) != 1:  # two live codes with one hash: 2^-40 odds; refuse rather than guess
        log.info("link_code_rejected", platform=platform, reason="no_live_code")
        raise LinkCodeInvalid(
            "That code is not valid: it may be mistyped, used or expired (codes last "
            f"{int(CODE_TTL.total_seconds() // 60)} minutes). Ask for a new one with /link."
        )
    found = rows[0]
    community_id, member_id = found.community_id, found.member_id
    owner = await store.identity_member(db, community_id, platform, external_user_id)
    if owner == member_id:
        await store.consume_code(db, community_id, member_id, platform)
        return _linked(community_id, member_id, platform, external_user_id, already=True)
    if owner is not None:
        log.info("link_refused", community=community_id, member=member_id, reason="account_in_use")
        raise AccountInUse(
            f"This {_platform_name(platform)} account already has its own progress in that "
            "community, as a separate member. Townsquare cannot merge two members' "
            "balances, so the accounts stay apart; an admin can award the difference."
        )
    current = await store.member_account(db, community_id, member_id, platform)
    if current is not None:
        raise MemberAlreadyLinked(
            f"That profile is already linked to another {_platform_name(platform)} account."
        )
    if not await store.insert_identity(db, community_id, platform, external_user_id, member_id):
        # The pipeline saw the account's first event a moment ago: it is a member now.
        raise AccountInUse(
            f"This {_platform_name(platform)} account just became a separate member of that "
            "community, so it cannot be linked any more."
        )
    await store.consume_code(db, community_id, member_id, platform)
    log.info("account_linked", community=community_id, member=member_id, platform=platform)
    return _linked(community_id, member_id, platform, external_user_id, already=False)


def _linked(
    community_id: int, member_id: int, platform: str, external_user_id: str, *, already: bool
) -> LinkedAccount:
    return LinkedAccount(
        community_id=community_id,
        member_id=member_id,
        platform=platform,
        external_user_id=external_user_id,
        already=already,
    )


def _platform_name(platform: str) -> str:
    return _PLATFORM_NAMES.get(platform, platform)

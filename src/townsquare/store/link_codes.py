"""Link codes and the identities they create (SQL only).

Codes are found by their hash alone (the member redeeming one may be talking to the bot
from another community's chat, so the code names the community, not the chat). Every
other statement is scoped to the community the code belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from townsquare.store.models import LinkCode, MemberIdentity

Database = AsyncConnection | AsyncSession
_NO_SYNC = {"synchronize_session": False}


@dataclass(frozen=True, slots=True)
class LinkCodeRow:
    community_id: int
    member_id: int
    platform: str
    expires_at: datetime


async def save_code(
    db: Database,
    *,
    community_id: int,
    member_id: int,
    platform: str,
    code_hash: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    """The member's one live code for ``platform``, replacing an earlier one."""
    statement = insert(LinkCode).values(
        community_id=community_id,
        member_id=member_id,
        platform=platform,
        code_hash=code_hash,
        created_at=now,
        expires_at=expires_at,
    )
    await db.execute(
        statement.on_conflict_do_update(
            index_elements=["community_id", "member_id", "platform"],
            set_={
                "code_hash": statement.excluded.code_hash,
                "created_at": statement.excluded.created_at,
                "expires_at": statement.excluded.expires_at,
            },
        )
    )


async def delete_expired(db: Database, community_id: int, now: datetime) -> int:
    """Forget the community's codes that expired (they can never be redeemed)."""
    deleted = await db.execute(
        delete(LinkCode)
        .where(LinkCode.community_id == community_id, LinkCode.expires_at <= now)
        .returning(LinkCode.id)
        .execution_options(**_NO_SYNC)
    )
    return len(deleted.all())


async def live_codes(
    db: Database, code_hash: str, platform: str, now: datetime
) -> list[LinkCodeRow]:
    """Unexpired codes with this hash for ``platform``, locked until the transaction ends
    (two redemptions of one code take turns; the second finds it gone)."""
    rows = await db.execute(
        select(LinkCode.community_id, LinkCode.member_id, LinkCode.platform, LinkCode.expires_at)
        .where(
            LinkCode.code_hash == code_hash,
            LinkCode.platform == platform,
            LinkCode.expires_at > now,
        )
        .with_for_update()
    )
    return [LinkCodeRow(int(r[0]), int(r[1]), str(r[2]), r[3]) for r in rows]


async def consume_code(db: Database, community_id: int, member_id: int, platform: str) -> None:
    await db.execute(
        delete(LinkCode)
        .where(
            LinkCode.community_id == community_id,
            LinkCode.member_id == member_id,
            LinkCode.platform == platform,
        )
        .execution_options(**_NO_SYNC)
    )


async def identity_member(
    db: Database, community_id: int, platform: str, external_user_id: str
) -> int | None:
    """The member a platform account belongs to in the community, if any."""
    found = await db.scalar(
        select(MemberIdentity.member_id).where(
            MemberIdentity.community_id == community_id,
            MemberIdentity.platform == platform,
            MemberIdentity.external_user_id == external_user_id,
        )
    )
    return None if found is None else int(found)


async def member_account(
    db: Database, community_id: int, member_id: int, platform: str
) -> str | None:
    """The member's account on ``platform`` (at most one), if linked."""
    found = await db.scalar(
        select(MemberIdentity.external_user_id).where(
            MemberIdentity.community_id == community_id,
            MemberIdentity.member_id == member_id,
            MemberIdentity.platform == platform,
        )
    )
    return None if found is None else str(found)


async def insert_identity(
    db: Database, community_id: int, platform: str, external_user_id: str, member_id: int
) -> bool:
    """Attach the account to the member; False when the account or the member's slot for
    that platform was taken meanwhile (by the pipeline seeing the account first)."""
    inserted = await db.scalar(
        insert(MemberIdentity)
        .values(
            community_id=community_id,
            platform=platform,
            external_user_id=external_user_id,
            member_id=member_id,
        )
        .on_conflict_do_nothing()
        .returning(MemberIdentity.member_id)
    )
    return inserted is not None

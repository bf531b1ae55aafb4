"""Communities with linked spaces, channels and members, for service and relay tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.services.audit import Actor, ActorType
from townsquare.store.models import (
    AuditEntry,
    Channel,
    Community,
    CommunityLink,
    Member,
    MemberIdentity,
)

ADMIN = Actor(type=ActorType.USER, id="admin-1", source_ip="203.0.113.7")
OTHER_ADMIN = Actor(type=ActorType.API_TOKEN, id="token-9")
_numbers = itertools.count(1)


@dataclass
class Plaza:
    """A community, its Discord guild id, and members by platform user id."""

    community_id: int
    guild: str
    channels: tuple[str, ...]
    members: dict[str, int] = field(default_factory=dict)


async def make_plaza(
    session: AsyncSession,
    *,
    channels: tuple[str, ...] = ("100", "200", "300"),
    members: tuple[str, ...] = ("alice", "bob"),
) -> Plaza:
    """A community linked to a new Discord guild, with channels and identified members."""
    number = next(_numbers)
    slug = f"plaza-{number}"
    community_id = (
        await session.execute(
            insert(Community).values(slug=slug, name=slug.title()).returning(Community.id)
        )
    ).scalar_one()
    guild = f"guild-{community_id}-{number}"
    await session.execute(
        insert(CommunityLink).values(
            community_id=community_id, platform="discord", external_id=guild
        )
    )
    for channel in channels:
        await session.execute(
            insert(Channel).values(
                community_id=community_id,
                platform="discord",
                external_id=channel,
                name=f"channel {channel}",
                type="text",
            )
        )
    plaza = Plaza(community_id, guild, channels)
    for user in members:
        plaza.members[user] = await add_member(session, community_id, user)
    return plaza


async def add_member(
    session: AsyncSession, community_id: int, user: str, *, identity: bool = True
) -> int:
    """A member, with a Discord identity ``user`` unless ``identity`` is False."""
    member_id = (
        await session.execute(
            insert(Member).values(community_id=community_id, display_name=user).returning(Member.id)
        )
    ).scalar_one()
    if identity:
        await session.execute(
            insert(MemberIdentity).values(
                community_id=community_id,
                platform="discord",
                external_user_id=user,
                member_id=member_id,
            )
        )
    return member_id


async def audit_count(session: AsyncSession, community_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.community_id == community_id)
        )
        or 0
    )


async def config_version(session: AsyncSession, community_id: int) -> int:
    return int(
        await session.scalar(select(Community.config_version).where(Community.id == community_id))
        or 0
    )

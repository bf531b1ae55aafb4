"""Bootstrap a community for a new chat space, keep its channels in sync, collect problems.

Adapters call these with a session whose transaction they own (one gateway event = one unit
of work). Communities made here get the default configuration document at once, so admins
see real, editable settings instead of an empty row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import structlog
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.config.document import CommunityConfigDocument, Section
from townsquare.services.communities.schemas import ChannelInfo, ProblemOut, SpaceRef
from townsquare.store.config_documents import StoredConfig, save_document
from townsquare.store.models import CommunityLink

log = structlog.get_logger(__name__)

_SLUG_UNSAFE = re.compile(r"[^a-z0-9-]+")
_MAX_DETAIL = 500


def _slug(platform: str, name: str, external_id: str) -> str:
    """A readable slug: the space's name and the end of its id, both made URL-safe."""
    base = _SLUG_UNSAFE.sub("-", name.lower()).strip("-")[:40] or platform
    suffix = _SLUG_UNSAFE.sub("-", external_id.lower()).strip("-")[-6:].strip("-")
    slug = f"{base}-{suffix}" if suffix else base
    return re.sub(r"-{2,}", "-", slug)[:64].strip("-") or platform


async def ensure_community(
    session: AsyncSession, platform: str, external_id: str, name: str
) -> SpaceRef:
    """The community of a platform space, created with default settings on first sight.

    Safe against a concurrent creator (another shard process, the pipeline meeting the
    space's first event): the link's unique key decides, and a loser's community is removed
    inside a savepoint, so exactly one community ever exists per space.
    """
    found = await _linked(session, platform, external_id)
    if found is not None:
        await session.execute(
            text(
                "UPDATE community_links SET name = :name WHERE platform = :p "
                "AND external_id = :e AND name IS DISTINCT FROM :name"
            ),
            {"name": name[:200], "p": platform, "e": external_id},
        )
        return SpaceRef(found, platform, external_id, created=False)
    async with session.begin_nested() as savepoint:
        community_id = (
            await session.execute(
                text(
                    "INSERT INTO communities (slug, name) SELECT CASE WHEN EXISTS "
                    "(SELECT 1 FROM communities WHERE slug = :slug) THEN left(:slug, 50) "
                    "|| '-' || substr(md5(random()::text), 1, 8) ELSE :slug END, :name "
                    "RETURNING id"
                ),
                {"slug": _slug(platform, name, external_id), "name": name[:200] or external_id},
            )
        ).scalar_one()
        linked = (
            await session.execute(
                text(
                    "INSERT INTO community_links (community_id, platform, external_id, name) "
                    "VALUES (:c, :p, :e, :name) ON CONFLICT (platform, external_id) DO NOTHING "
                    "RETURNING community_id"
                ),
                {"c": community_id, "p": platform, "e": external_id, "name": name[:200]},
            )
        ).scalar_one_or_none()
        if linked is None:
            await savepoint.rollback()
    if linked is None:
        existing = await _linked(session, platform, external_id)
        assert existing is not None  # the conflicting link is committed or ours to see
        return SpaceRef(existing, platform, external_id, created=False)
    stored = StoredConfig(community_id=community_id, version=1, raw={})
    await save_document(session, stored, CommunityConfigDocument(), list(Section))
    log.info("community_bootstrapped", community=community_id, platform=platform)
    return SpaceRef(community_id, platform, external_id, created=True)


async def _linked(session: AsyncSession, platform: str, external_id: str) -> int | None:
    return (
        await session.execute(
            select(CommunityLink.community_id).where(
                CommunityLink.platform == platform, CommunityLink.external_id == external_id
            )
        )
    ).scalar_one_or_none()


async def sync_channels(
    session: AsyncSession, community_id: int, platform: str, channels: Sequence[ChannelInfo]
) -> None:
    """Make the community's channels match the platform's list (a full snapshot).

    Channels the platform no longer lists are marked deleted, not removed: the event lake
    and the ledger still refer to them. Parents are linked after every row exists.
    """
    await session.execute(
        text(
            "INSERT INTO channels (community_id, platform, external_id, name, type) "
            "SELECT :c, :p, e, n, t FROM unnest(CAST(:e AS text[]), CAST(:n AS text[]), "
            "CAST(:t AS text[])) AS u(e, n, t) "
            "ON CONFLICT (community_id, platform, external_id) DO UPDATE SET "
            "name = excluded.name, type = excluded.type, deleted_at = NULL"
        ),
        {
            "c": community_id,
            "p": platform,
            "e": [c.external_id for c in channels],
            "n": [c.name[:200] or c.external_id for c in channels],
            "t": [c.type for c in channels],
        },
    )
    await _link_parents(session, community_id, platform, channels)
    await session.execute(
        text(
            "UPDATE channels SET deleted_at = now() WHERE community_id = :c AND platform = :p "
            "AND deleted_at IS NULL AND type <> 'thread' "
            "AND NOT (external_id = ANY(CAST(:e AS text[])))"
        ),
        {"c": community_id, "p": platform, "e": [c.external_id for c in channels]},
    )


async def upsert_channel(
    session: AsyncSession, community_id: int, platform: str, channel: ChannelInfo
) -> None:
    """One channel created or changed (name, type, category)."""
    await session.execute(
        text(
            "INSERT INTO channels (community_id, platform, external_id, name, type) "
            "VALUES (:c, :p, :e, :n, :t) ON CONFLICT (community_id, platform, external_id) "
            "DO UPDATE SET name = excluded.name, type = excluded.type, deleted_at = NULL"
        ),
        {
            "c": community_id,
            "p": platform,
            "e": channel.external_id,
            "n": channel.name[:200] or channel.external_id,
            "t": channel.type,
        },
    )
    await _link_parents(session, community_id, platform, [channel])


async def _link_parents(
    session: AsyncSession, community_id: int, platform: str, channels: Sequence[ChannelInfo]
) -> None:
    await session.execute(
        text(
            "UPDATE channels ch SET parent_id = parent.id FROM unnest(CAST(:e AS text[]), "
            "CAST(:parent AS text[])) AS u(e, parent_e) "
            "LEFT JOIN channels parent ON parent.community_id = :c AND parent.platform = :p "
            "AND parent.external_id = u.parent_e "
            "WHERE ch.community_id = :c AND ch.platform = :p AND ch.external_id = u.e "
            "AND ch.parent_id IS DISTINCT FROM parent.id "
            "AND (parent.id IS NULL OR parent.id <> ch.id)"
        ),
        {
            "c": community_id,
            "p": platform,
            "e": [c.external_id for c in channels],
            "parent": [c.parent_id for c in channels],
        },
    )


async def remove_channel(
    session: AsyncSession, community_id: int, platform: str, external_id: str
) -> None:
    """The platform deleted a channel: keep the row for history, mark it deleted."""
    await session.execute(
        text(
            "UPDATE channels SET deleted_at = now() WHERE community_id = :c AND platform = :p "
            "AND external_id = :e AND deleted_at IS NULL"
        ),
        {"c": community_id, "p": platform, "e": external_id},
    )


async def record_problem(
    session: AsyncSession,
    community_id: int,
    platform: str,
    kind: str,
    subject: str,
    detail: str,
) -> bool:
    """Note a problem for admins; True when it is new (or had been resolved) — worth a ping.

    Repeats only count, so a role that cannot be granted to ten thousand members is one
    problem with ten thousand occurrences, not ten thousand rows.
    """
    row = (
        await session.execute(
            text(
                "INSERT INTO community_problems (community_id, platform, kind, subject, detail) "
                "VALUES (:c, :p, :k, :s, :d) "
                "ON CONFLICT (community_id, platform, kind, subject) DO UPDATE SET "
                "occurrences = community_problems.occurrences + 1, last_seen_at = now(), "
                "detail = excluded.detail, resolved_at = NULL "
                "RETURNING (xmax = 0) AS inserted, "
                "(SELECT resolved_at IS NOT NULL FROM community_problems old "
                " WHERE old.community_id = :c AND old.platform = :p AND old.kind = :k "
                " AND old.subject = :s) AS was_resolved"
            ),
            {
                "c": community_id,
                "p": platform,
                "k": kind[:64],
                "s": subject[:128],
                "d": detail[:_MAX_DETAIL],
            },
        )
    ).one()
    return bool(row.inserted or row.was_resolved)


async def resolve_problems(
    session: AsyncSession, community_id: int, platform: str, kind: str, subject: str
) -> None:
    """The thing works again: close the problem so a recurrence pings admins anew."""
    await session.execute(
        text(
            "UPDATE community_problems SET resolved_at = now() WHERE community_id = :c "
            "AND platform = :p AND kind = :k AND subject = :s AND resolved_at IS NULL"
        ),
        {"c": community_id, "p": platform, "k": kind, "s": subject},
    )


async def list_problems(session: AsyncSession, community_id: int) -> list[ProblemOut]:
    """Open problems, most recent first."""
    rows = await session.execute(
        text(
            "SELECT id, platform, kind, subject, detail, occurrences, first_seen_at, "
            "last_seen_at FROM community_problems WHERE community_id = :c "
            "AND resolved_at IS NULL ORDER BY last_seen_at DESC LIMIT 200"
        ),
        {"c": community_id},
    )
    return [ProblemOut.model_validate(row._mapping) for row in rows]

"""Platform ids to internal ids: communities, members and channels, created on first sight.

Adapters speak in platform ids (a guild id, a user id, a channel id); the tables are keyed
by BIGINT ids so one member can link a Discord and a LINE identity. The writer resolves
every id of a batch here in a few set-based statements, and keeps what it learned in
bounded LRU maps (platform ids never change meaning, so a cached answer stays true).
Creation runs in its own short transaction before the batch's, so a batch that fails
leaves no half-known ids in the caches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import psycopg

from townsquare.core import ChannelType
from townsquare.pipeline.lru import LruMap

Connection = psycopg.AsyncConnection[tuple[Any, ...]]
_SLUG_UNSAFE = re.compile(r"[^a-z0-9-]+")

#: core channel types -> the ``channels.type`` vocabulary.
#: The ``channels.type`` of each core channel type.
CHANNEL_TYPE_NAMES = {
    ChannelType.TEXT: "text",
    ChannelType.VOICE: "voice",
    ChannelType.THREAD: "thread",
    ChannelType.FORUM: "forum",
    ChannelType.STAGE: "stage",
    ChannelType.ANNOUNCEMENT: "announcement",
    ChannelType.DIRECT: "other",
    ChannelType.LINE_GROUP: "line_group",
    ChannelType.LINE_ROOM: "line_room",
    ChannelType.LINE_USER: "line_user",
}


CommunityKey = tuple[str, str]  # (platform, external id)
MemberKey = tuple[int, str, str]  # (community id, platform, external user id)
ChannelKey = tuple[int, str, str]  # (community id, platform, external channel id)


def community_slug(platform: str, external_id: str) -> str:
    """A readable, valid slug for an auto-created community."""
    slug = _SLUG_UNSAFE.sub("-", f"{platform}-{external_id}".lower()).strip("-")
    return slug[:64] or platform


class Directory:
    """Resolves (and creates) the internal ids of a batch; owned by one writer."""

    def __init__(self, capacity: int = 500_000) -> None:
        self.communities: LruMap[CommunityKey, int] = LruMap(max(capacity // 100, 1000))
        self.members: LruMap[MemberKey, int] = LruMap(capacity)
        self.channels: LruMap[ChannelKey, int] = LruMap(max(capacity // 10, 1000))
        self.statements = 0

    async def resolve_communities(
        self, conn: Connection, keys: Iterable[CommunityKey]
    ) -> dict[CommunityKey, int]:
        """Community ids for (platform, external id), linking new ones to new communities."""
        found, missing = self.communities.split(set(keys))
        if missing:
            async with conn.transaction():
                for platform, external_id in missing:
                    found[(platform, external_id)] = await self._community(
                        conn, platform, external_id
                    )
            for key in missing:
                self.communities.put(key, found[key])
        return found

    async def _community(self, conn: Connection, platform: str, external_id: str) -> int:
        self.statements += 1
        row = await (
            await conn.execute(
                "SELECT community_id FROM community_links WHERE platform = %s AND external_id = %s",
                (platform, external_id),
            )
        ).fetchone()
        if row is not None:
            return int(row[0])
        # A new space: a community of its own, with a slug made unique by its id if taken.
        self.statements += 2
        slug = community_slug(platform, external_id)
        row = await (
            await conn.execute(
                "INSERT INTO communities (slug, name) "
                "SELECT CASE WHEN EXISTS (SELECT 1 FROM communities WHERE slug = %(slug)s) "
                "THEN left(%(slug)s, 40) || '-' || substr(md5(random()::text), 1, 8) "
                "ELSE %(slug)s END, %(name)s RETURNING id",
                {"slug": slug, "name": f"{platform} {external_id}"[:200]},
            )
        ).fetchone()
        assert row is not None
        community_id = int(row[0])
        await conn.execute(
            "INSERT INTO community_links (community_id, platform, external_id) VALUES (%s, %s, %s)",
            (community_id, platform, external_id),
        )
        return community_id

    async def resolve_members(
        self, conn: Connection, keys: Iterable[MemberKey]
    ) -> dict[MemberKey, int]:
        """Member ids for platform accounts; unknown accounts become new members."""
        found, missing = self.members.split(set(keys))
        if not missing:
            return found
        async with conn.transaction():
            learned = await self._select_members(conn, missing)
            new = [key for key in missing if key not in learned]
            if new:
                learned.update(await self._create_members(conn, new))
        for key, member_id in learned.items():
            self.members.put(key, member_id)
        found.update(learned)
        return found

    async def _select_members(
        self, conn: Connection, keys: list[MemberKey]
    ) -> dict[MemberKey, int]:
        self.statements += 1
        cursor = await conn.execute(
            "SELECT i.community_id, i.platform, i.external_user_id, i.member_id "
            "FROM member_identities i JOIN unnest(%s::bigint[], %s::text[], %s::text[]) "
            "AS k(c, p, e) ON i.community_id = k.c AND i.platform = k.p "
            "AND i.external_user_id = k.e",
            ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]),
        )
        return {(int(c), str(p), str(e)): int(m) for c, p, e, m in await cursor.fetchall()}

    async def _create_members(
        self, conn: Connection, keys: list[MemberKey]
    ) -> dict[MemberKey, int]:
        # Ids come from the identity's sequence first, so each new member is paired with its
        # identity without relying on the order of RETURNING rows.
        self.statements += 3
        cursor = await conn.execute(
            "SELECT nextval(pg_get_serial_sequence('members', 'id')) FROM generate_series(1, %s)",
            (len(keys),),
        )
        ids = [int(row[0]) for row in await cursor.fetchall()]
        await conn.execute(
            "INSERT INTO members (community_id, id, display_name) "
            "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[])",
            ([k[0] for k in keys], ids, [k[2][:200] for k in keys]),
        )
        cursor = await conn.execute(
            "INSERT INTO member_identities (community_id, platform, external_user_id, member_id) "
            "SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::bigint[]) "
            "ON CONFLICT (community_id, platform, external_user_id) DO NOTHING "
            "RETURNING community_id, platform, external_user_id",
            ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys], ids),
        )
        created = {(int(c), str(p), str(e)) for c, p, e in await cursor.fetchall()}
        made = dict(zip(keys, ids, strict=True))
        lost = [key for key in keys if key not in created]
        if not lost:
            return made
        # Someone else (an identity link, another process) gave these accounts a member in
        # the meantime: use theirs and drop the members made here for nothing.
        self.statements += 2
        await conn.execute(
            "DELETE FROM members m USING unnest(%s::bigint[], %s::bigint[]) AS u(c, i) "
            "WHERE m.community_id = u.c AND m.id = u.i",
            ([key[0] for key in lost], [made[key] for key in lost]),
        )
        found = await self._select_members(conn, lost)
        return {key: made[key] for key in keys if key in created} | found

    async def resolve_channels(
        self,
        conn: Connection,
        wanted: dict[ChannelKey, ChannelType],
    ) -> dict[ChannelKey, int]:
        """Channel ids for platform channels; unknown ones are created with their type."""
        found, missing = self.channels.split(wanted)
        if not missing:
            return found
        self.statements += 2
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO channels (community_id, platform, external_id, name, type) "
                "SELECT c, p, e, e, t "
                "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) AS k(c, p, e, t) "
                "ON CONFLICT (community_id, platform, external_id) DO NOTHING",
                (
                    [k[0] for k in missing],
                    [k[1] for k in missing],
                    [k[2] for k in missing],
                    [CHANNEL_TYPE_NAMES[wanted[k]] for k in missing],
                ),
            )
            cursor = await conn.execute(
                "SELECT ch.community_id, ch.platform, ch.external_id, ch.id FROM channels ch "
                "JOIN unnest(%s::bigint[], %s::text[], %s::text[]) AS k(c, p, e) "
                "ON ch.community_id = k.c AND ch.platform = k.p AND ch.external_id = k.e",
                ([k[0] for k in missing], [k[1] for k in missing], [k[2] for k in missing]),
            )
            rows = await cursor.fetchall()
        for c, p, e, channel_id in rows:
            key = (int(c), str(p), str(e))
            found[key] = int(channel_id)
            self.channels.put(key, found[key])
        return found

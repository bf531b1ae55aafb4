"""Level and achievement roles on Discord: grant, remove, resync — never crash on refusal.

Discord refuses a role the bot may not manage (above its highest role, or no Manage Roles
permission) with 403, and a deleted role with 404. Both become a community problem that
admins see (counted, not repeated) and, when new, a note in the announcement channel; the
member's other roles and everyone else's keep being handled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

import discord
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from townsquare.core.levels import LevelConfig, level_roles_held
from townsquare.services.communities import record_problem, resolve_problems
from townsquare.store.engine import create_session_factory
from townsquare.store.member_lookup import leveled_members, member_level

log = structlog.get_logger(__name__)
PLATFORM = "discord"

#: Posts a note for admins in a guild (the announcer's channel), best effort.
NotifyAdmins = Callable[[int, int, str], Awaitable[None]]


class RoleSync:
    """Applies role changes with bounded concurrency (discord.py honours 429s itself)."""

    def __init__(
        self,
        client: discord.Client,
        engine: AsyncEngine,
        *,
        concurrency: int,
        notify_admins: NotifyAdmins | None = None,
    ) -> None:
        self._client = client
        self._engine = engine
        self._sessions = create_session_factory(engine)
        self._slots = asyncio.Semaphore(concurrency)
        self._notify = notify_admins
        self.applied = 0
        self.refused = 0
        # Roles refused since start (bounded by the roles communities configure), so the
        # first success closes their problem and a later refusal pings admins again.
        self._refused: set[tuple[int, int]] = set()

    async def apply(
        self,
        guild_id: int,
        community_id: int,
        user_id: int,
        role_id: int,
        *,
        grant: bool,
        reason: str,
    ) -> bool:
        """Grant or remove one role; False (and a recorded problem) when Discord refuses."""
        http = self._client.http
        async with self._slots:
            try:
                if grant:
                    await http.add_role(guild_id, user_id, role_id, reason=reason)
                else:
                    await http.remove_role(guild_id, user_id, role_id, reason=reason)
            except discord.Forbidden as exc:
                await self._problem(guild_id, community_id, "role_forbidden", role_id, exc)
                return False
            except discord.NotFound as exc:
                if exc.code == 10007:  # unknown member: they left; nothing to fix
                    return False
                await self._problem(guild_id, community_id, "role_missing", role_id, exc)
                return False
        self.applied += 1
        if (community_id, role_id) in self._refused:
            self._refused.discard((community_id, role_id))
            await self.resolved(community_id, role_id)
        return True

    async def _problem(
        self, guild_id: int, community_id: int, kind: str, role_id: int, exc: discord.HTTPException
    ) -> None:
        self.refused += 1
        self._refused.add((community_id, role_id))
        if kind == "role_forbidden":
            detail = (
                f"Discord refused to change role {role_id} ({exc.status} {exc.text[:120]}). "
                "Give the bot Manage Roles and move its role above the reward roles."
            )
        else:
            detail = f"Role {role_id} no longer exists; update the level roles in the settings."
        log.warning("discord_role_refused", guild=guild_id, role=role_id, kind=kind)
        async with self._sessions.begin() as session:
            new = await record_problem(session, community_id, PLATFORM, kind, str(role_id), detail)
        if new and self._notify is not None:
            await self._notify(guild_id, community_id, detail)

    async def resolved(self, community_id: int, role_id: int) -> None:
        async with self._sessions.begin() as session:
            for kind in ("role_forbidden", "role_missing"):
                await resolve_problems(session, community_id, PLATFORM, kind, str(role_id))

    async def restore_member(
        self, guild_id: int, community_id: int, user_id: int, levels: LevelConfig
    ) -> int:
        """Give a (re)joining member the level roles their level earns; how many were given."""
        if not levels.level_roles:
            return 0
        async with self._engine.connect() as conn:
            level = await member_level(conn, community_id, PLATFORM, str(user_id))
        given = 0
        for role in role_ids(sorted(level_roles_held(levels, level))):
            given += await self.apply(
                guild_id, community_id, user_id, role, grant=True, reason="Level roles"
            )
        return given

    async def resync(
        self, guild_id: int, community_id: int, old: LevelConfig, new: LevelConfig
    ) -> int:
        """After a change of level roles: move every leveled member to what the new rules give.

        Only the difference is sent (roles the member should gain or lose), so a change of
        one level's role touches only members at or above it.
        """
        levels = [*old.level_roles, *new.level_roles]
        if not levels:
            return 0
        async with self._engine.connect() as conn:
            members = await leveled_members(conn, community_id, PLATFORM, min(levels))
        changes: list[tuple[int, int, bool]] = []
        for user, level in members:
            before = level_roles_held(old, level)
            after = level_roles_held(new, level)
            changes += [(int(user), role, True) for role in role_ids(sorted(after - before))]
            changes += [(int(user), role, False) for role in role_ids(sorted(before - after))]
        results = await asyncio.gather(
            *(
                self.apply(guild_id, community_id, u, r, grant=g, reason="Level roles changed")
                for u, r, g in changes
            )
        )
        log.info("discord_level_roles_resynced", guild=guild_id, changes=len(changes))
        return sum(results)


def role_ids(values: Iterable[str]) -> list[int]:
    """Role ids that are Discord snowflakes (configuration may name others by mistake)."""
    return [int(v) for v in values if v.isdigit()]

"""Each community's compiled rules, read from ``community_settings`` and kept compiled.

The writer asks for a community's rules once per batch; this answers from memory and
looks at the community's ``config_version`` at most every ``refresh_seconds``, recompiling
only when it moved. (The live config cache replaces the polling with LISTEN/NOTIFY; this
is the simple, always-correct fallback it builds on.) A stored configuration that no
longer validates keeps the last good rules and is logged, so a bad edit cannot stop
rewards; a community without settings gets the documented defaults.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from pydantic import ValidationError

from townsquare.core import CommunityConfig, CommunityRules, compile_rules

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Entry:
    version: int
    rules: CommunityRules
    checked: float


class StoredRules:
    """`RulesSource` over the database, polling the config version."""

    def __init__(
        self, refresh_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._cache: dict[int, _Entry] = {}
        self._default = compile_rules(CommunityConfig())
        self.statements = 0

    def forget(self) -> None:
        self._cache.clear()

    async def rules_for(
        self, conn: psycopg.AsyncConnection[tuple[Any, ...]], community_id: int
    ) -> CommunityRules:
        now = self._clock()
        entry = self._cache.get(community_id)
        if entry is not None and now - entry.checked < self.refresh_seconds:
            return entry.rules
        self.statements += 1
        cursor = await conn.execute(
            "SELECT c.config_version, s.settings FROM communities c "
            "LEFT JOIN community_settings s ON s.community_id = c.id WHERE c.id = %s",
            (community_id,),
        )
        row = await cursor.fetchone()
        version, settings = (int(row[0]), row[1]) if row is not None else (0, None)
        if entry is not None and entry.version == version:
            entry.checked = now
            return entry.rules
        rules = self._default
        if settings:
            try:
                rules = compile_rules(CommunityConfig.model_validate(settings))
            except ValidationError as exc:
                log.error(
                    "stored community settings are invalid; keeping the last good rules",
                    community=community_id,
                    errors=exc.error_count(),
                )
                rules = entry.rules if entry is not None else self._default
        self._cache[community_id] = _Entry(version, rules, now)
        return rules

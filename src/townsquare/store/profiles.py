"""What a member's public profile is read from: the member, balances, standings on the
boards, achievement awards and the event lake's record of recent rewards.

Read-only SQL returning frozen dataclasses; every query is scoped to one community and one
member and walks an index (no query here grows with the size of the community except the
histogram sums of `board_standings`, which grow with the number of distinct values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Row, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from townsquare.store.models import AchievementAward, Balance, Member, MemberIdentity

Database = AsyncConnection | AsyncSession
_MAX_BIGINT: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class MemberRow:
    id: int
    display_name: str
    is_bot: bool
    joined_at: datetime | None
    left_at: datetime | None

    @property
    def is_ranked_kind(self) -> bool:
        """Shown on leaderboards at all (a person who has not left)."""
        return not self.is_bot and self.left_at is None


@dataclass(frozen=True, slots=True)
class BalanceRow:
    season: str
    xp: int
    stars: int
    gold: int
    level: int


@dataclass(frozen=True, slots=True)
class Standing:
    """A member's competition rank on one board and how many are ranked on it."""

    season: str
    currency: str
    rank: int
    total: int


@dataclass(frozen=True, slots=True)
class AwardRow:
    achievement_key: str
    season: str | None
    source: str
    awarded_at: datetime


@dataclass(frozen=True, slots=True)
class LakeEventRow:
    """An event as the lake recorded it: what happened and how it was rewarded (``outcome``),
    never what was said (the lake holds no content; ``metadata`` is not even read)."""

    id: int
    occurred_at: datetime
    kind: str
    status: str
    outcome: dict[str, Any] | None


_MEMBER_COLUMNS = (
    Member.id,
    Member.display_name,
    Member.is_bot,
    Member.joined_at,
    Member.left_at,
)


def _member(row: Row[*tuple[Any, ...]]) -> MemberRow:
    return MemberRow(
        int(row.id), str(row.display_name), bool(row.is_bot), row.joined_at, row.left_at
    )


async def find_member(db: Database, community_id: int, member_ref: str) -> MemberRow | None:
    """The member named by their id, or by a platform account (``discord:<user id>``,
    ``line:<user id>``); None when the community has no such member."""
    query = select(*_MEMBER_COLUMNS).where(Member.community_id == community_id)
    if member_ref.isdigit():
        if int(member_ref) > _MAX_BIGINT:
            return None
        query = query.where(Member.id == int(member_ref))
    else:
        platform, _, external_id = member_ref.partition(":")
        if not external_id:
            return None
        query = query.join(
            MemberIdentity,
            (MemberIdentity.community_id == Member.community_id)
            & (MemberIdentity.member_id == Member.id),
        ).where(MemberIdentity.platform == platform, MemberIdentity.external_user_id == external_id)
    row = (await db.execute(query.limit(1))).first()
    return None if row is None else _member(row)


async def member_balances(
    db: Database, community_id: int, member_id: int, seasons: Sequence[str]
) -> dict[str, BalanceRow]:
    """The member's balance rows for ``seasons`` ('' is lifetime), by season; a season
    the member never earned in has no entry."""
    rows = await db.execute(
        select(Balance.season, Balance.xp, Balance.stars, Balance.gold, Balance.level).where(
            Balance.community_id == community_id,
            Balance.member_id == member_id,
            Balance.season.in_(list(seasons)),
        )
    )
    return {
        str(r.season): BalanceRow(str(r.season), int(r.xp), int(r.stars), int(r.gold), int(r.level))
        for r in rows
    }


# For each board of the member's with a value above zero: how many ranked members are
# ahead (a sum over the histogram's values above theirs) and how many are ranked at all.
# The histogram `balance_counts` is kept by triggers with the balances (migration 0003).
_STANDINGS = text("""
    WITH mine AS (
        SELECT b.season, v.currency, v.value
        FROM balances b
        CROSS JOIN LATERAL (VALUES ('xp', b.xp), ('stars', b.stars), ('gold', b.gold))
            AS v(currency, value)
        WHERE b.community_id = :community_id AND b.member_id = :member_id
          AND b.season = ANY(:seasons) AND v.value > 0
    )
    SELECT mine.season, mine.currency,
           coalesce(sum(bc.members - bc.hidden) FILTER (WHERE bc.value > mine.value), 0) AS ahead,
           coalesce(sum(bc.members - bc.hidden), 0) AS total
    FROM mine
    JOIN balance_counts bc
      ON bc.community_id = :community_id AND bc.season = mine.season
     AND bc.currency = mine.currency AND bc.value > 0
    GROUP BY mine.season, mine.currency
""")


async def board_standings(
    db: Database, community_id: int, member_id: int, seasons: Sequence[str]
) -> list[Standing]:
    """The member's rank on every board of ``seasons`` where they hold a positive value.

    Ranks are competition ranks, the same as `townsquare.store.leaderboards` gives; the
    caller must know the member is shown on boards at all (not a bot, not gone), since
    the histogram only says how many are ahead, not whether this member counts.
    """
    rows = await db.execute(
        _STANDINGS,
        {"community_id": community_id, "member_id": member_id, "seasons": list(seasons)},
    )
    return [Standing(str(r.season), str(r.currency), int(r.ahead) + 1, int(r.total)) for r in rows]


async def member_awards(db: Database, community_id: int, member_id: int) -> list[AwardRow]:
    """Every achievement the member holds, most recent first."""
    rows = await db.execute(
        select(
            AchievementAward.achievement_key,
            AchievementAward.season,
            AchievementAward.source,
            AchievementAward.awarded_at,
        )
        .where(
            AchievementAward.community_id == community_id,
            AchievementAward.member_id == member_id,
        )
        .order_by(AchievementAward.awarded_at.desc(), AchievementAward.id.desc())
    )
    return [AwardRow(str(r.achievement_key), r.season, str(r.source), r.awarded_at) for r in rows]


# The member's own recent events (``ix_events_member``) and the events that credited them
# through the ledger (reactions and replies they received; ``ix_ledger_entries_member``,
# and the ledger row names the event's partition key, so each is a primary-key probe).
_RECENT_EVENTS = text("""
    WITH own AS (
        SELECT e.occurred_at, e.id FROM events e
        WHERE e.community_id = :community_id AND e.member_id = :member_id
        ORDER BY e.occurred_at DESC LIMIT :limit
    ), credited AS (
        SELECT l.occurred_at, l.event_id AS id FROM ledger_entries l
        WHERE l.community_id = :community_id AND l.member_id = :member_id
          AND l.event_id IS NOT NULL
        ORDER BY l.id DESC LIMIT :scan
    ), recent AS (
        SELECT occurred_at, id FROM own
        UNION
        SELECT occurred_at, id FROM credited
        ORDER BY occurred_at DESC, id DESC LIMIT :limit
    )
    SELECT e.id, e.occurred_at, e.kind, e.status, e.outcome
    FROM recent r
    JOIN events e
      ON e.community_id = :community_id AND e.occurred_at = r.occurred_at AND e.id = r.id
    ORDER BY e.occurred_at DESC, e.id DESC
""")


async def recent_events(
    db: Database, community_id: int, member_id: int, limit: int
) -> list[LakeEventRow]:
    """The member's ``limit`` most recent events in the lake, done or received, newest
    first. Events already dropped by retention are simply not there."""
    rows = await db.execute(
        _RECENT_EVENTS,
        # Several ledger rows (one per currency) usually name the same event.
        {"community_id": community_id, "member_id": member_id, "limit": limit, "scan": 4 * limit},
    )
    return [
        LakeEventRow(int(r.id), r.occurred_at, str(r.kind), str(r.status), r.outcome) for r in rows
    ]

"""A member's public profile: level and progress, balances, ranks, achievements and how
their recent rewards were computed.

Everything comes from derived tables and the event lake's stored ``outcome`` (the reward
breakdowns the writer recorded with each event), never from message content, which the
lake does not hold. Members hidden from leaderboards (bots, members who left) have no
public profile: to the public API they do not exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.core.balances import Balances
from townsquare.core.explain import RewardBreakdown, render_breakdown
from townsquare.core.fixed_point import ONE, to_float
from townsquare.errors import NotFound
from townsquare.pipeline.outcome_doc import decode_breakdown
from townsquare.services.engagement.achievements import achievement_definitions, earned_achievement
from townsquare.services.engagement.communities import CommunityContext
from townsquare.services.engagement.profile_schemas import (
    BalancesOut,
    BreakdownOut,
    CapOut,
    Factor,
    LevelProgress,
    ProfileOut,
    RanksOut,
    RecentEvent,
    SeasonBalances,
    Standing,
    Standings,
)
from townsquare.services.engagement.schemas import Amounts
from townsquare.store import profiles as store
from townsquare.store.leaderboards import LIFETIME

log = structlog.get_logger(__name__)
MAX_RECENT_EVENTS = 50


def level_progress(context: CommunityContext, xp: int, level: int) -> LevelProgress:
    """Where lifetime ``xp`` stands between the member's level and the next one.

    ``level`` is the stored one (levels need not fall with XP), so progress is clamped to
    0..1 rather than trusted to follow from ``xp`` alone.
    """
    curve = context.config.curve
    level = min(max(level, 0), curve.max_level)
    level_xp = curve.xp_for(level)
    if level >= curve.max_level:
        return LevelProgress(
            level=level,
            xp=xp,
            level_xp=level_xp,
            next_level_xp=None,
            xp_to_next_level=None,
            progress=1.0,
            max_level=True,
        )
    next_xp = curve.xp_for(level + 1)
    share = (xp - level_xp) / (next_xp - level_xp)
    return LevelProgress(
        level=level,
        xp=xp,
        level_xp=level_xp,
        next_level_xp=next_xp,
        xp_to_next_level=max(next_xp - xp, 0),
        progress=round(min(max(share, 0.0), 1.0), 4),
        max_level=False,
    )


def _amounts(balances: Balances | store.BalanceRow | None) -> Amounts:
    if balances is None:
        return Amounts()
    return Amounts(xp=balances.xp, stars=balances.stars, gold=balances.gold)


def _standings(rows: list[store.Standing], season: str) -> Standings:
    found = {
        row.currency: Standing(rank=row.rank, total=row.total)
        for row in rows
        if row.season == season
    }
    return Standings(**found)


def breakdown_out(breakdown: RewardBreakdown) -> BreakdownOut:
    """The API form of one stored reward breakdown."""
    factors = [
        Factor(name=name, factor=to_float(applied.value), source=applied.source)
        for name, applied in (("channel", breakdown.channel), ("role", breakdown.role))
        if applied.value != ONE or applied.source != "default"
    ]
    if breakdown.quality is not None:
        parts = ", ".join(
            f"{name} {to_float(value):g}" for name, value in breakdown.quality.factors
        )
        factors.append(
            Factor(name="quality", factor=to_float(breakdown.quality.applied), source=parts)
        )
    return BreakdownOut(
        reward_kind=breakdown.reward_kind.value if breakdown.reward_kind else None,
        base=_amounts(breakdown.base),
        units=breakdown.units,
        factors=factors,
        diminishing_position=breakdown.diminishing_position,
        computed=_amounts(breakdown.computed),
        caps=[
            CapOut(currency=cap.currency.value, requested=cap.requested, granted=cap.granted)
            for cap in breakdown.caps
        ],
        granted=_amounts(breakdown.granted),
        blocked_by=breakdown.blocked_by.value if breakdown.blocked_by else None,
        notes=list(breakdown.notes),
        explanation=render_breakdown(breakdown),
    )


def _member_breakdowns(outcome: Mapping[str, Any] | None, member_id: int) -> list[BreakdownOut]:
    """The breakdowns of ``outcome`` about this member (a reaction has one per party)."""
    breakdowns = []
    for doc in (outcome or {}).get("why") or ():
        try:
            breakdown = decode_breakdown(doc)
        except (KeyError, ValueError, TypeError, IndexError):
            # An outcome written by another version: skip it rather than fail the profile.
            log.warning("breakdown_unreadable", member_id=member_id)
            continue
        if str(breakdown.member_id) == str(member_id):
            breakdowns.append(breakdown_out(breakdown))
    return breakdowns


def _recent_event(row: store.LakeEventRow, member_id: int) -> RecentEvent:
    outcome = row.outcome or {}
    blocked = outcome.get("blocked_by")
    return RecentEvent(
        event_id=row.id,
        kind=row.kind,
        occurred_at=row.occurred_at,
        status=row.status,
        blocked_by=blocked if isinstance(blocked, str) else None,
        breakdowns=_member_breakdowns(outcome, member_id),
    )


async def profile(
    session: AsyncSession, context: CommunityContext, member_ref: str, recent: int = 10
) -> ProfileOut:
    """The member's profile (`NotFound` for an unknown, bot or departed member)."""
    member = await store.find_member(session, context.id, member_ref)
    if member is None or not member.is_ranked_kind:
        raise NotFound(f"No member {member_ref!r} in this community.")
    season = context.current_season
    seasons = [LIFETIME] if season is None else [LIFETIME, season]
    balances = await store.member_balances(session, context.id, member.id, seasons)
    standings = await store.board_standings(session, context.id, member.id, seasons)
    awards = await store.member_awards(session, context.id, member.id)
    events = await store.recent_events(session, context.id, member.id, recent)
    lifetime = balances.get(LIFETIME)
    document = context.config.document
    definitions = achievement_definitions(document)
    return ProfileOut(
        community_id=context.id,
        member_id=member.id,
        display_name=member.display_name,
        joined_at=member.joined_at,
        level=level_progress(
            context, lifetime.xp if lifetime else 0, lifetime.level if lifetime else 0
        ),
        balances=BalancesOut(
            lifetime=_amounts(lifetime),
            season=None
            if season is None
            else SeasonBalances(season=season, balances=_amounts(balances.get(season))),
        ),
        ranks=RanksOut(
            lifetime=_standings(standings, LIFETIME),
            season=None if season is None else _standings(standings, season),
        ),
        achievements=[
            earned_achievement(document, a.achievement_key, a.season, a.awarded_at, definitions)
            for a in awards
        ],
        recent_events=[_recent_event(row, member.id) for row in events],
    )

"""Reward breakdowns: how each amount was computed, for `/rank --explain` and the dashboard.

The engine produces a breakdown for every rewarded party of every event, including blocked
events (with the reason), so "why did I get nothing?" always has an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from townsquare.core.balances import ZERO, Balances
from townsquare.core.fast_init import fast_init
from townsquare.core.fixed_point import ONE, to_float
from townsquare.core.kinds import Currency, RewardKind


class BlockReason(StrEnum):
    """Why an event earned nothing (or less than its base)."""

    REPLAY = "replay"
    COOLDOWN = "cooldown"
    DUPLICATE = "duplicate"
    NO_REWARD_CHANNEL = "no_reward_channel"
    NO_REWARD_ROLE = "no_reward_role"
    SELF_REACTION = "self_reaction"
    ALREADY_REACTED = "already_reacted"
    NOTHING_TO_REVERSE = "nothing_to_reverse"
    STILL_REACTED = "still_reacted"
    PAIR_CAP = "pair_cap"
    PARTNER_LIMIT = "partner_limit"
    REACTOR_LIMIT = "reactor_limit"
    VOICE_ALONE = "voice_alone"
    VOICE_MUTED_DEAFENED = "voice_muted_deafened"
    VOICE_AFK = "voice_afk"
    VOICE_DAILY_CAP = "voice_daily_cap"
    ALREADY_JOINED = "already_joined"
    NOT_REWARDED_KIND = "not_rewarded_kind"
    UNKNOWN_ACHIEVEMENT = "unknown_achievement"
    MAX_EARNERS_REACHED = "max_earners_reached"


@fast_init
@dataclass(frozen=True, slots=True)
class AppliedFactor:
    """One multiplier (in 1/10,000ths) and the rule it came from, e.g. ``channel:123/message``."""

    value: int = ONE
    source: str = "default"

    @property
    def as_float(self) -> float:
        """The factor as a number, for display."""
        return to_float(self.value)


NEUTRAL = AppliedFactor()


@fast_init
@dataclass(frozen=True, slots=True)
class QualityBreakdown:
    """The message quality modifier: tier and bonuses, their product, and the clamp."""

    length_tier: int
    factors: tuple[tuple[str, int], ...]
    raw: int
    applied: int


@fast_init
@dataclass(frozen=True, slots=True)
class CapHit:
    """A daily cap cut ``requested`` down to ``granted``."""

    currency: Currency
    requested: int
    granted: int


@fast_init
@dataclass(frozen=True, slots=True)
class RewardBreakdown:
    """How one member's reward for one event was computed.

    ``computed = floor(base * units * channel * role * quality * diminishing)``, then daily
    caps give ``granted``. ``diminishing`` is the share of the reaction-received reward this
    reactor's position on the message earns.
    """

    member_id: str
    reward_kind: RewardKind | None
    base: Balances = ZERO
    units: int = 1
    channel: AppliedFactor = NEUTRAL
    role: AppliedFactor = NEUTRAL
    quality: QualityBreakdown | None = None
    diminishing_position: int | None = None
    computed: Balances = ZERO
    caps: tuple[CapHit, ...] = ()
    granted: Balances = ZERO
    blocked_by: BlockReason | None = None
    notes: tuple[str, ...] = ()


def _amounts(balances: Balances) -> str:
    parts = [f"{balances.get(c)} {c.value}" for c in Currency if balances.get(c)]
    return ", ".join(parts) or "nothing"


def render_breakdown(breakdown: RewardBreakdown) -> list[str]:
    """Human-readable lines, one step per line, for chat and the dashboard."""
    kind = breakdown.reward_kind.value if breakdown.reward_kind else "event"
    lines = [f"{kind}: base {_amounts(breakdown.base)}"]
    if breakdown.blocked_by is not None:
        lines.append(f"blocked: {breakdown.blocked_by.value}")
    if breakdown.units != 1:
        lines.append(f"x {breakdown.units} units")
    if breakdown.channel.value != ONE or breakdown.channel.source != "default":
        lines.append(f"x {breakdown.channel.as_float:g} channel ({breakdown.channel.source})")
    if breakdown.role.value != ONE or breakdown.role.source != "default":
        lines.append(f"x {breakdown.role.as_float:g} role ({breakdown.role.source})")
    if breakdown.quality is not None:
        parts = ", ".join(
            f"{name} {to_float(value):g}" for name, value in breakdown.quality.factors
        )
        lines.append(
            f"x {to_float(breakdown.quality.applied):g} quality ({parts}; "
            f"raw {to_float(breakdown.quality.raw):g})"
        )
    if breakdown.diminishing_position is not None:
        lines.append(f"diminishing returns: reactor #{breakdown.diminishing_position}")
    lines.append(f"= {_amounts(breakdown.computed)} (rounded down)")
    lines.extend(
        f"daily {hit.currency.value} cap: {hit.requested} -> {hit.granted}"
        for hit in breakdown.caps
    )
    lines.extend(breakdown.notes)
    lines.append(f"granted: {_amounts(breakdown.granted)}")
    return lines

"""Validated configuration of rewards, multipliers, quality modifiers and anti-gaming rules.

These pydantic models are what an admin edits (and what the config cache will hold). They
are validated once and compiled into `CommunityRules`; the per-event rules never touch
pydantic. Every field the rules read is here — the predecessor's settings UI edited keys
nothing read, so `tests/core` checks that changing each one changes an outcome.
"""

from __future__ import annotations

from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from townsquare.core.kinds import ChannelType, Currency, EventKind

_MAX_AMOUNT = 1_000_000
_MAX_MULTIPLIER = 100.0


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RewardValues(_Frozen):
    """Base amounts for one reward kind, before any multiplier."""

    xp: int = Field(default=0, ge=0, le=_MAX_AMOUNT)
    stars: int = Field(default=0, ge=0, le=_MAX_AMOUNT)
    gold: int = Field(default=0, ge=0, le=_MAX_AMOUNT)


class BaseRewards(_Frozen):
    """Base reward per reward kind. Defaults are documented in docs/economy.md."""

    message: RewardValues = RewardValues(xp=15, gold=1)
    reaction_received: RewardValues = RewardValues(stars=1)
    reaction_given: RewardValues = RewardValues(xp=1)
    thread_created: RewardValues = RewardValues(xp=25, gold=2)
    voice_minute: RewardValues = RewardValues(xp=2)
    member_joined: RewardValues = RewardValues(gold=10)
    follow: RewardValues = RewardValues(gold=10)
    postback: RewardValues = RewardValues(xp=2)


class ChannelRule(_Frozen):
    """A multiplier for one channel, thread parent or category (by id), for one kind or all."""

    target_id: str = Field(min_length=1, max_length=64)
    kind: EventKind | None = None
    multiplier: float = Field(ge=0.0, le=_MAX_MULTIPLIER)


class ChannelTypeDefault(_Frozen):
    """A multiplier for every channel of a type, for one kind or all kinds."""

    channel_type: ChannelType
    kind: EventKind | None = None
    multiplier: float = Field(ge=0.0, le=_MAX_MULTIPLIER)


class RoleCombine(StrEnum):
    """How the multipliers of a member's several roles combine."""

    MAX = "max"
    PRODUCT = "product"


class MultiplierConfig(_Frozen):
    """Channel and role multipliers plus the places and roles that earn nothing."""

    channel_rules: tuple[ChannelRule, ...] = Field(default=(), max_length=2000)
    channel_type_defaults: tuple[ChannelTypeDefault, ...] = Field(default=(), max_length=200)
    role_multipliers: dict[str, Annotated[float, Field(ge=0.0, le=_MAX_MULTIPLIER)]] = Field(
        default_factory=dict, max_length=500
    )
    role_combine: RoleCombine = RoleCombine.MAX
    no_reward_channels: frozenset[str] = frozenset()
    no_reward_roles: frozenset[str] = frozenset()

    @model_validator(mode="after")
    def _check(self) -> Self:
        seen: set[tuple[str, EventKind | None]] = set()
        for rule in self.channel_rules:
            key = (rule.target_id, rule.kind)
            if key in seen:
                raise ValueError(f"duplicate channel rule for {rule.target_id} / {rule.kind}")
            seen.add(key)
        seen_types: set[tuple[ChannelType, EventKind | None]] = set()
        for default in self.channel_type_defaults:
            type_key = (default.channel_type, default.kind)
            if type_key in seen_types:
                raise ValueError(f"duplicate channel-type default for {type_key}")
            seen_types.add(type_key)
        return self


class LengthTier(_Frozen):
    """Messages at least ``min_length`` characters long get ``factor``."""

    min_length: int = Field(ge=0, le=100_000)
    factor: float = Field(ge=0.0, le=10.0)


class QualityConfig(_Frozen):
    """Message quality modifiers, multiplied together and clamped to [floor, cap]."""

    enabled: bool = True
    length_tiers: tuple[LengthTier, ...] = (
        LengthTier(min_length=0, factor=0.5),
        LengthTier(min_length=20, factor=1.0),
        LengthTier(min_length=100, factor=1.2),
        LengthTier(min_length=300, factor=1.4),
    )
    code_block_factor: float = Field(default=1.2, ge=0.0, le=10.0)
    link_factor: float = Field(default=1.05, ge=0.0, le=10.0)
    attachment_factor: float = Field(default=1.1, ge=0.0, le=10.0)
    reply_factor: float = Field(default=1.1, ge=0.0, le=10.0)
    emoji_spam_count: int = Field(default=10, ge=1, le=1000)
    emoji_spam_ratio: float = Field(default=0.5, gt=0.0, le=1.0)
    emoji_spam_factor: float = Field(default=0.25, ge=0.0, le=1.0)
    floor: float = Field(default=0.25, ge=0.0, le=10.0)
    cap: float = Field(default=2.0, ge=0.0, le=10.0)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.floor > self.cap:
            raise ValueError("quality floor must not exceed the cap")
        lengths = [tier.min_length for tier in self.length_tiers]
        if any(b <= a for a, b in pairwise(lengths)):
            raise ValueError("length tiers must strictly increase in min_length")
        return self


class DailyCaps(_Frozen):
    """Most of each currency activity may earn per member per day; None means no cap."""

    xp: int | None = Field(default=2000, ge=0, le=100 * _MAX_AMOUNT)
    stars: int | None = Field(default=50, ge=0, le=100 * _MAX_AMOUNT)
    gold: int | None = Field(default=200, ge=0, le=100 * _MAX_AMOUNT)

    def get(self, currency: Currency) -> int | None:
        """The cap for one currency."""
        if currency is Currency.XP:
            return self.xp
        if currency is Currency.STARS:
            return self.stars
        return self.gold


class AntiGamingConfig(_Frozen):
    """Limits that keep rewards for genuine activity; see docs/economy.md."""

    cooldown_seconds: int = Field(default=60, ge=0, le=86_400)
    cooldown_kinds: frozenset[EventKind] = frozenset({EventKind.MESSAGE, EventKind.POSTBACK})
    daily_caps: DailyCaps = DailyCaps()
    duplicate_window: int = Field(default=10, ge=0, le=50)
    near_duplicate_bits: int = Field(default=3, ge=0, le=32)
    reaction_pair_daily_cap: int = Field(default=5, ge=0, le=1000)
    reaction_partners_per_day: int = Field(default=100, ge=0, le=1000)
    reaction_decay: float = Field(default=0.8, ge=0.0, le=1.0)
    max_rewarded_reactors: int = Field(default=25, ge=0, le=200)
    tracked_reaction_messages: int = Field(default=64, ge=1, le=1000)
    voice_daily_cap_minutes: int | None = Field(default=240, ge=0, le=1440)
    afk_channel_ids: frozenset[str] = frozenset()
    replay_window: int = Field(default=16, ge=0, le=256)

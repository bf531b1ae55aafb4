"""A community's whole engagement configuration, and its compiled, per-event-ready form.

`CommunityConfig` is the validated pydantic model admins edit. `compile_rules` turns it
into `CommunityRules`: plain dicts and integers (multipliers already quantised, level
thresholds and reaction shares precomputed, achievements indexed) so that applying an
event is dictionary lookups and integer arithmetic. Compile once per config version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from townsquare.core.achievement_config import AchievementConfig, check_achievements
from townsquare.core.achievements import AchievementIndex, compile_achievements
from townsquare.core.balances import Balances
from townsquare.core.economy_config import (
    AntiGamingConfig,
    BaseRewards,
    MultiplierConfig,
    QualityConfig,
    RoleCombine,
)
from townsquare.core.explain import AppliedFactor, QualityBreakdown
from townsquare.core.fixed_point import SCALE, to_scaled
from townsquare.core.kinds import ChannelType, Currency, EventKind, RewardKind
from townsquare.core.levels import LevelConfig, LevelCurve, compile_curve
from townsquare.core.seasons import SeasonConfig, SeasonSchedule

_DAY = 86_400
#: (length tier, code block, link, attachment, reply, emoji spam)
QualityKey = tuple[int, bool, bool, bool, bool, bool]
#: Where an event happened, and its kind: (channel, thread parent, category, type, kind)
ChannelKey = tuple[str | None, str | None, str | None, ChannelType, EventKind]


class CommunityConfig(BaseModel):
    """Everything an admin can configure about the engagement economy of one community."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_rewards: BaseRewards = BaseRewards()
    multipliers: MultiplierConfig = MultiplierConfig()
    quality: QualityConfig = QualityConfig()
    anti_gaming: AntiGamingConfig = AntiGamingConfig()
    levels: LevelConfig = LevelConfig()
    achievements: tuple[AchievementConfig, ...] = Field(default=(), max_length=1000)
    seasons: SeasonConfig = SeasonConfig()
    day_offset_minutes: int = Field(default=0, ge=-720, le=840)
    allow_negative: frozenset[Currency] = frozenset()

    @model_validator(mode="after")
    def _check(self) -> Self:
        check_achievements(self.achievements)
        return self


@dataclass(frozen=True, slots=True)
class CompiledQuality:
    """Quality modifiers as scaled integers; tiers as parallel tuples for bisect."""

    enabled: bool
    tier_lengths: tuple[int, ...]
    tier_factors: tuple[int, ...]
    tier_labels: tuple[str, ...]
    code_block: int
    link: int
    attachment: int
    reply: int
    emoji_spam_count: int
    emoji_spam_ratio: int
    emoji_spam: int
    floor: int
    cap: int
    memo: dict[QualityKey, QualityBreakdown] = field(
        default_factory=dict, compare=False, repr=False
    )


@dataclass(frozen=True, slots=True)
class CommunityRules:
    """Compiled rules; immutable and safe to share between tasks and threads."""

    config: CommunityConfig
    base: Mapping[RewardKind, Balances]
    channel_level: Mapping[tuple[str, EventKind | None], AppliedFactor]
    parent_level: Mapping[tuple[str, EventKind | None], AppliedFactor]
    category_level: Mapping[tuple[str, EventKind | None], AppliedFactor]
    type_level: Mapping[tuple[ChannelType, EventKind | None], AppliedFactor]
    role_factors: Mapping[str, AppliedFactor]
    role_product: bool
    no_reward_channels: frozenset[str]
    no_reward_roles: frozenset[str]
    quality: CompiledQuality
    cooldown_seconds: int
    cooldown_kinds: frozenset[EventKind]
    daily_caps: tuple[int | None, int | None, int | None]
    duplicate_window: int
    near_duplicate_bits: int
    reaction_pair_daily_cap: int
    reaction_partners_per_day: int
    reaction_shares: tuple[int, ...]
    tracked_reaction_messages: int
    voice_daily_cap_minutes: int | None
    afk_channel_ids: frozenset[str]
    replay_window: int
    curve: LevelCurve
    levels: LevelConfig
    achievements: AchievementIndex
    seasons: SeasonSchedule
    day_offset_seconds: int
    allow_negative: frozenset[Currency]
    channel_memo: dict[ChannelKey, AppliedFactor] = field(
        default_factory=dict, compare=False, repr=False
    )
    reward_memo: dict[tuple[RewardKind, int, tuple[int, ...]], Balances] = field(
        default_factory=dict, compare=False, repr=False
    )

    def day_of(self, at: int) -> int:
        """The community-local day number of Unix time ``at``."""
        return (at + self.day_offset_seconds) // _DAY


def _reaction_shares(decay: float, reactors: int) -> tuple[int, ...]:
    """Cumulative share of the reaction reward earned by the first n reactors, scaled.

    ``shares[n] = floor(SCALE * sum(decay**k for k < n))``: each extra reactor adds less
    than the one before (genuine diminishing returns), computed exactly with fractions.
    """
    ratio = Fraction(str(decay))
    shares = [0]
    total = Fraction(0)
    term = Fraction(1)
    for _ in range(reactors):
        total += term
        term *= ratio
        shares.append(int(total * SCALE))
    return tuple(shares)


def _factor_tables(
    config: MultiplierConfig,
) -> tuple[dict[tuple[str, EventKind | None], AppliedFactor], ...]:
    tables: list[dict[tuple[str, EventKind | None], AppliedFactor]] = []
    for label in ("channel", "thread parent", "category"):
        table = {}
        for rule in config.channel_rules:
            kind = rule.kind.value if rule.kind else "any kind"
            source = f"{label} {rule.target_id} rule ({kind})"
            table[(rule.target_id, rule.kind)] = AppliedFactor(to_scaled(rule.multiplier), source)
        tables.append(table)
    return tuple(tables)


def _compile_quality(config: QualityConfig) -> CompiledQuality:
    tiers = config.length_tiers
    return CompiledQuality(
        enabled=config.enabled,
        tier_lengths=tuple(t.min_length for t in tiers),
        tier_factors=tuple(to_scaled(t.factor) for t in tiers),
        tier_labels=tuple(f"length>={t.min_length}" for t in tiers),
        code_block=to_scaled(config.code_block_factor),
        link=to_scaled(config.link_factor),
        attachment=to_scaled(config.attachment_factor),
        reply=to_scaled(config.reply_factor),
        emoji_spam_count=config.emoji_spam_count,
        emoji_spam_ratio=to_scaled(config.emoji_spam_ratio),
        emoji_spam=to_scaled(config.emoji_spam_factor),
        floor=to_scaled(config.floor),
        cap=to_scaled(config.cap),
    )


def compile_rules(config: CommunityConfig) -> CommunityRules:
    """Compile a validated configuration for the engine (milliseconds; do it once)."""
    rewards = config.base_rewards
    base = {
        kind: Balances(values.xp, values.stars, values.gold)
        for kind, values in (
            (RewardKind(name), getattr(rewards, name)) for name in type(rewards).model_fields
        )
    }
    multipliers = config.multipliers
    channel_level, parent_level, category_level = _factor_tables(multipliers)
    type_level = {
        (d.channel_type, d.kind): AppliedFactor(
            to_scaled(d.multiplier),
            f"{d.channel_type.value} channels ({d.kind.value if d.kind else 'any kind'})",
        )
        for d in multipliers.channel_type_defaults
    }
    role_factors = {
        role_id: AppliedFactor(to_scaled(value), f"role {role_id}")
        for role_id, value in multipliers.role_multipliers.items()
    }
    anti = config.anti_gaming
    caps = anti.daily_caps
    return CommunityRules(
        config=config,
        base=base,
        channel_level=channel_level,
        parent_level=parent_level,
        category_level=category_level,
        type_level=type_level,
        role_factors=role_factors,
        role_product=multipliers.role_combine is RoleCombine.PRODUCT,
        no_reward_channels=multipliers.no_reward_channels,
        no_reward_roles=multipliers.no_reward_roles,
        quality=_compile_quality(config.quality),
        cooldown_seconds=anti.cooldown_seconds,
        cooldown_kinds=anti.cooldown_kinds if anti.cooldown_seconds else frozenset(),
        daily_caps=(caps.xp, caps.stars, caps.gold),
        duplicate_window=anti.duplicate_window,
        near_duplicate_bits=anti.near_duplicate_bits,
        reaction_pair_daily_cap=anti.reaction_pair_daily_cap,
        reaction_partners_per_day=anti.reaction_partners_per_day,
        reaction_shares=_reaction_shares(anti.reaction_decay, anti.max_rewarded_reactors),
        tracked_reaction_messages=anti.tracked_reaction_messages,
        voice_daily_cap_minutes=anti.voice_daily_cap_minutes,
        afk_channel_ids=anti.afk_channel_ids,
        replay_window=anti.replay_window,
        curve=compile_curve(config.levels),
        levels=config.levels,
        achievements=compile_achievements(config.achievements),
        seasons=SeasonSchedule.from_config(config.seasons),
        day_offset_seconds=config.day_offset_minutes * 60,
        allow_negative=config.allow_negative,
    )


DEFAULT_RULES_CONFIG = CommunityConfig()

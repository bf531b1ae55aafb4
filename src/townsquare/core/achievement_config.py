"""Achievement definitions: what unlocks them, how they are grouped, what they give.

Triggers are a tagged union so the admin UI and the JSON config say exactly what each
achievement watches. Evaluation lives in `achievements.py`.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from townsquare.core.kinds import FIRST_EVENT_COUNTER, Counter, Currency, EventKind, Rarity, Window


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CounterTrigger(_Frozen):
    """A counter reaches ``threshold`` within a window (lifetime, this season, today)."""

    type: Literal["counter"] = "counter"
    counter: Counter
    window: Window = Window.LIFETIME
    threshold: int = Field(ge=1, le=100_000_000)


class BalanceTrigger(_Frozen):
    """A lifetime or season balance reaches ``threshold`` (XP/Stars/Gold milestones)."""

    type: Literal["balance"] = "balance"
    currency: Currency
    scope: Literal["lifetime", "season"] = "lifetime"
    threshold: int = Field(ge=1, le=10**12)


class LevelTrigger(_Frozen):
    """The member reaches ``level``."""

    type: Literal["level"] = "level"
    level: int = Field(ge=1, le=1000)


class LevelIntervalTrigger(_Frozen):
    """Unlocks again at every multiple of ``every`` levels, as ``<id>:<level>``."""

    type: Literal["level_interval"] = "level_interval"
    every: int = Field(ge=1, le=1000)


class StreakTrigger(_Frozen):
    """Active on ``days`` consecutive days."""

    type: Literal["streak"] = "streak"
    days: int = Field(ge=1, le=10_000)


class TenureTrigger(_Frozen):
    """Member for at least ``days`` days (checked on their next event)."""

    type: Literal["tenure"] = "tenure"
    days: int = Field(ge=0, le=100_000)


class FirstEventTrigger(_Frozen):
    """The member's first counted event of a kind."""

    type: Literal["first_event"] = "first_event"
    kind: EventKind

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.kind not in FIRST_EVENT_COUNTER:
            raise ValueError(f"no counter tracks first events of kind {self.kind}")
        return self


class ManualTrigger(_Frozen):
    """Only granted by an admin (a manual award naming the achievement)."""

    type: Literal["manual"] = "manual"


Trigger = Annotated[
    CounterTrigger
    | BalanceTrigger
    | LevelTrigger
    | LevelIntervalTrigger
    | StreakTrigger
    | TenureTrigger
    | FirstEventTrigger
    | ManualTrigger,
    Field(discriminator="type"),
]


class AchievementReward(_Frozen):
    """What unlocking gives. XP given here can itself level the member up."""

    xp: int = Field(default=0, ge=0, le=1_000_000)
    gold: int = Field(default=0, ge=0, le=1_000_000)
    role_id: str | None = Field(default=None, min_length=1, max_length=64)


class AchievementConfig(_Frozen):
    """One achievement. In a series, tier n unlocks only after tier n-1."""

    id: str = Field(pattern=r"^[a-z0-9_.-]{1,64}$")
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    category: str = Field(default="general", pattern=r"^[a-z0-9_.-]{1,50}$")
    rarity: str = Field(default=Rarity.COMMON.value, pattern=r"^[a-z0-9_.-]{1,32}$")
    series: str | None = Field(default=None, min_length=1, max_length=64)
    tier: int = Field(default=1, ge=1, le=100)
    hidden: bool = False
    max_earners: int | None = Field(default=None, ge=1, le=10_000_000)
    trigger: Trigger
    reward: AchievementReward = AchievementReward()


def check_achievements(achievements: tuple[AchievementConfig, ...]) -> None:
    """Cross-achievement rules: unique ids, and series tiers numbered 1..n without gaps."""
    ids = [a.id for a in achievements]
    if len(ids) != len(set(ids)):
        raise ValueError("achievement ids must be unique")
    tiers: dict[str, list[int]] = {}
    for achievement in achievements:
        if achievement.series is not None:
            tiers.setdefault(achievement.series, []).append(achievement.tier)
    for series, found in tiers.items():
        if sorted(found) != list(range(1, len(found) + 1)):
            raise ValueError(f"series {series!r} must have tiers 1..n without gaps")

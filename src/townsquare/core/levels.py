"""Level curves: how much cumulative XP each level needs, and the level for an XP total.

A curve is configured as a formula or a table and compiled once into a tuple of cumulative
thresholds, so the level for any XP is a binary search (O(log n)) and several level-ups in
one event fall out naturally. Formulas are evaluated with exact fractions, never floats, so
thresholds are identical on every machine.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ExponentialCurve(_Frozen):
    """Level l -> l+1 costs ``floor(base * factor**l)`` (the predecessor's default: 100, 1.25)."""

    type: Literal["exponential"] = "exponential"
    base: int = Field(default=100, ge=1, le=1_000_000)
    factor: float = Field(default=1.25, ge=1.0, le=10.0)


class QuadraticCurve(_Frozen):
    """Level l -> l+1 costs ``a*l**2 + b*l + c`` (MEE6: 5, 50, 100)."""

    type: Literal["quadratic"] = "quadratic"
    a: int = Field(default=5, ge=0, le=1_000_000)
    b: int = Field(default=50, ge=0, le=1_000_000)
    c: int = Field(default=100, ge=1, le=1_000_000)


class LinearCurve(_Frozen):
    """Every level costs the same XP."""

    type: Literal["linear"] = "linear"
    xp_per_level: int = Field(default=100, ge=1, le=1_000_000)


class TableCurve(_Frozen):
    """Explicit cumulative XP needed for levels 1, 2, 3, …; must strictly increase."""

    type: Literal["table"] = "table"
    thresholds: tuple[int, ...] = Field(default=(100,), min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def _check(self) -> Self:
        previous = 0
        for threshold in self.thresholds:
            if threshold <= previous:
                raise ValueError("level table thresholds must be positive and strictly increase")
            previous = threshold
        return self


LevelCurveConfig = Annotated[
    ExponentialCurve | QuadraticCurve | LinearCurve | TableCurve, Field(discriminator="type")
]


class LevelConfig(_Frozen):
    """Curve, ceiling, what happens on level change, and level role rewards."""

    curve: LevelCurveConfig = ExponentialCurve()
    max_level: int = Field(default=200, ge=1, le=1000)
    allow_level_down: bool = False
    gold_per_level_up: int = Field(default=10, ge=0, le=1_000_000)
    gold_per_level_up_per_level: int = Field(default=0, ge=0, le=1_000_000)
    level_roles: dict[int, str] = Field(default_factory=dict, max_length=1000)
    keep_previous_level_roles: bool = True

    @model_validator(mode="after")
    def _check(self) -> Self:
        for level in self.level_roles:
            if not 1 <= level <= self.max_level:
                raise ValueError(f"level role at level {level} is outside 1..max_level")
        return self


def _level_costs(curve: ExponentialCurve | QuadraticCurve | LinearCurve, levels: int) -> list[int]:
    if isinstance(curve, ExponentialCurve):
        factor = Fraction(str(curve.factor))
        costs = []
        power = Fraction(1)
        for _ in range(levels):
            costs.append(int(curve.base * power))  # int() floors a positive Fraction
            power *= factor
        return costs
    if isinstance(curve, QuadraticCurve):
        return [curve.a * lvl * lvl + curve.b * lvl + curve.c for lvl in range(levels)]
    return [curve.xp_per_level] * levels


@dataclass(frozen=True, slots=True)
class LevelCurve:
    """Compiled curve: ``thresholds[n]`` is the cumulative XP that reaches level n."""

    thresholds: tuple[int, ...]

    @property
    def max_level(self) -> int:
        """The highest level this curve can reach."""
        return len(self.thresholds) - 1

    def level_for(self, xp: int) -> int:
        """The level a cumulative XP total reaches (0 for no or negative XP)."""
        return bisect_right(self.thresholds, xp) - 1 if xp > 0 else 0

    def xp_for(self, level: int) -> int:
        """The cumulative XP needed to reach ``level``."""
        return self.thresholds[level]


def compile_curve(config: LevelConfig) -> LevelCurve:
    """Turn the configured curve into cumulative thresholds up to ``max_level``."""
    curve = config.curve
    if isinstance(curve, TableCurve):
        return LevelCurve((0, *curve.thresholds[: config.max_level]))
    thresholds = [0]
    for cost in _level_costs(curve, config.max_level):
        thresholds.append(thresholds[-1] + cost)
    return LevelCurve(tuple(thresholds))


def level_up_gold(config: LevelConfig, old_level: int, new_level: int) -> int:
    """Gold bonus for rising from ``old_level`` to ``new_level`` (every level crossed pays)."""
    if new_level <= old_level:
        return 0
    levels = range(old_level + 1, new_level + 1)
    return config.gold_per_level_up * len(levels) + config.gold_per_level_up_per_level * sum(levels)


def level_roles_held(config: LevelConfig, level: int) -> frozenset[str]:
    """The level-reward roles a member at ``level`` should hold."""
    earned = [(lvl, role) for lvl, role in config.level_roles.items() if lvl <= level]
    if not earned:
        return frozenset()
    if config.keep_previous_level_roles:
        return frozenset(role for _, role in earned)
    return frozenset({max(earned)[1]})

"""Season schedules: which season an instant belongs to.

A member's season balances and counters belong to the season id they were earned in; when
an event arrives in a later season, the member's season stats roll over lazily (see the
engine). Lifetime stats are separate fields and are never touched by a rollover — the
predecessor's "lifetime" Stars restarted every season.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_SEASON_ID = "default"
_DAY = 86_400


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SeasonWindowConfig(_Frozen):
    """One explicit season: ``starts_at <= t < ends_at`` (Unix seconds)."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str = Field(default="", max_length=100)
    starts_at: int = Field(ge=0)
    ends_at: int = Field(ge=0)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.ends_at <= self.starts_at:
            raise ValueError(f"season {self.id} must end after it starts")
        return self


class RecurringSeasons(_Frozen):
    """Back-to-back seasons of ``length_days`` from ``anchor_at``, named prefix+number."""

    anchor_at: int = Field(ge=0)
    length_days: int = Field(ge=1, le=3660)
    id_prefix: str = Field(default="S", pattern=r"^[A-Za-z0-9_.-]{0,32}$")


class SeasonConfig(_Frozen):
    """Either explicit windows, a recurring schedule, or neither (one endless season)."""

    windows: tuple[SeasonWindowConfig, ...] = Field(default=(), max_length=1000)
    recurring: RecurringSeasons | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.windows and self.recurring is not None:
            raise ValueError("configure explicit season windows or a recurring schedule, not both")
        ordered = sorted(self.windows, key=lambda w: w.starts_at)
        for before, after in pairwise(ordered):
            if after.starts_at < before.ends_at:
                raise ValueError(f"seasons {before.id} and {after.id} overlap")
        if len({w.id for w in self.windows}) != len(self.windows):
            raise ValueError("season ids must be unique")
        return self


@dataclass(frozen=True, slots=True)
class SeasonSchedule:
    """Compiled schedule; `season_at` is a bisect or one division.

    ``_names`` memoises recurring season ids (one entry per season that has occurred).
    """

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    ids: tuple[str, ...]
    anchor_at: int | None
    length_seconds: int
    id_prefix: str
    _names: dict[int, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_config(cls, config: SeasonConfig) -> SeasonSchedule:
        """Compile a validated season config."""
        ordered = sorted(config.windows, key=lambda w: w.starts_at)
        recurring = config.recurring
        return cls(
            starts=tuple(w.starts_at for w in ordered),
            ends=tuple(w.ends_at for w in ordered),
            ids=tuple(w.id for w in ordered),
            anchor_at=recurring.anchor_at if recurring else None,
            length_seconds=recurring.length_days * _DAY if recurring else 0,
            id_prefix=recurring.id_prefix if recurring else "",
        )

    def season_at(self, at: int) -> str | None:
        """The season id at Unix time ``at``; None between or before scheduled seasons."""
        if self.anchor_at is not None:
            if at < self.anchor_at:
                return None
            number = (at - self.anchor_at) // self.length_seconds + 1
            season_id = self._names.get(number)
            if season_id is None:
                season_id = self._names[number] = f"{self.id_prefix}{number}"
            return season_id
        if not self.ids:
            return DEFAULT_SEASON_ID
        index = bisect_right(self.starts, at) - 1
        if index < 0 or at >= self.ends[index]:
            return None
        return self.ids[index]

    def season_end(self, at: int) -> int | None:
        """When the season containing ``at`` ends (for schedulers closing a season)."""
        if self.anchor_at is not None:
            if at < self.anchor_at:
                return self.anchor_at
            number = (at - self.anchor_at) // self.length_seconds + 1
            return self.anchor_at + number * self.length_seconds
        index = bisect_right(self.starts, at) - 1
        if not self.ids or index < 0 or at >= self.ends[index]:
            return None
        return self.ends[index]

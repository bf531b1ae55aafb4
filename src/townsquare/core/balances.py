"""Integer amounts of the three currencies, the unit every rule computes in."""

from __future__ import annotations

from dataclasses import dataclass

from townsquare.core.fast_init import fast_init
from townsquare.core.kinds import Currency

# Read once: on Python 3.11 ``Currency.XP`` goes through the enum metaclass's
# ``__getattr__`` hook (~900 instructions), and `get` runs for most events.
_XP, _STARS = Currency.XP, Currency.STARS


@fast_init
@dataclass(frozen=True, slots=True)
class Balances:
    """An amount of XP, Stars and Gold. Always integers: money must add up exactly."""

    xp: int = 0
    stars: int = 0
    gold: int = 0

    def get(self, currency: Currency) -> int:
        """The amount of one currency."""
        if currency is _XP:
            return self.xp
        if currency is _STARS:
            return self.stars
        return self.gold

    def plus(self, other: Balances) -> Balances:
        """Component-wise sum (no clamping; callers decide what a negative means)."""
        return Balances(self.xp + other.xp, self.stars + other.stars, self.gold + other.gold)

    def minus(self, other: Balances) -> Balances:
        """Component-wise difference."""
        return Balances(self.xp - other.xp, self.stars - other.stars, self.gold - other.gold)

    def is_zero(self) -> bool:
        """True when nothing of any currency is held."""
        return self.xp == 0 and self.stars == 0 and self.gold == 0


ZERO = Balances()

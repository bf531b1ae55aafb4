"""Exact arithmetic for multipliers, so a reward is the same number on every machine.

Multipliers are configured as decimals (1.25) but the rules never multiply floats: each
factor is quantised once, at configuration load, to an integer number of 1/10,000ths
(1.25 -> 12,500), and a reward is ``floor(base * f1 * f2 * ... / SCALE**n)`` in integers.
Flooring happens once, after all factors, so the order of the factors cannot matter.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

SCALE = 10_000
ONE = SCALE


def to_scaled(value: float) -> int:
    """Quantise a configured decimal to 1/10,000ths, half-even, via its decimal text.

    Going through ``str`` means ``0.1`` is read as the decimal the admin typed, not as
    the nearest binary float, so 0.1 becomes exactly 1,000.
    """
    return int((Decimal(str(value)) * SCALE).to_integral_value(rounding=ROUND_HALF_EVEN))


def to_float(scaled: int) -> float:
    """For display only: a scaled factor as a float."""
    return scaled / SCALE


def apply_factors(amount: int, *factors: int) -> int:
    """``floor(amount * product(factors) / SCALE**len(factors))``, exactly."""
    numerator = amount
    for factor in factors:
        numerator *= factor
    return numerator // scale_power(len(factors))


_POWERS = tuple(SCALE**n for n in range(8))


def scale_power(n: int) -> int:
    """``SCALE**n`` (precomputed for the few factor counts the rules use)."""
    return _POWERS[n] if n < len(_POWERS) else int(SCALE**n)

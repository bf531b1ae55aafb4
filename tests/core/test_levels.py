import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from townsquare.core.levels import (
    ExponentialCurve,
    LevelConfig,
    LinearCurve,
    QuadraticCurve,
    TableCurve,
    compile_curve,
    level_roles_held,
    level_up_gold,
)


def test_exponential_curve_matches_predecessor_default() -> None:
    curve = compile_curve(LevelConfig(curve=ExponentialCurve(base=100, factor=1.25)))
    assert curve.thresholds[:5] == (0, 100, 225, 381, 576)


def test_quadratic_curve_matches_mee6() -> None:
    curve = compile_curve(LevelConfig(curve=QuadraticCurve()))
    assert curve.thresholds[:5] == (0, 100, 255, 475, 770)


def test_linear_curve_costs_the_same_every_level() -> None:
    curve = compile_curve(LevelConfig(curve=LinearCurve(xp_per_level=50), max_level=4))
    assert curve.thresholds == (0, 50, 100, 150, 200)


def test_table_curve_uses_thresholds_and_caps_at_its_end() -> None:
    curve = compile_curve(LevelConfig(curve=TableCurve(thresholds=(10, 30, 60))))
    assert [curve.level_for(xp) for xp in (0, 9, 10, 29, 30, 59, 60, 10**9)] == [
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        3,
    ]


def test_level_is_capped_at_max_level() -> None:
    curve = compile_curve(LevelConfig(max_level=3))
    assert curve.level_for(10**12) == 3


def test_negative_xp_is_level_zero() -> None:
    assert compile_curve(LevelConfig()).level_for(-50) == 0


def test_table_must_strictly_increase() -> None:
    with pytest.raises(ValidationError, match="strictly increase"):
        TableCurve(thresholds=(10, 10, 20))


def test_exponential_factor_below_one_is_rejected() -> None:
    with pytest.raises(ValidationError):
        ExponentialCurve(factor=0.9)


def test_curve_is_exact_with_decimal_factors() -> None:
    curve = compile_curve(LevelConfig(curve=ExponentialCurve(base=100, factor=1.15), max_level=2))
    # in floats 100 * 1.15 == 114.99999999999999, which would floor to 114
    assert curve.thresholds == (0, 100, 215)


def test_level_up_gold_pays_every_level_crossed() -> None:
    config = LevelConfig(gold_per_level_up=10, gold_per_level_up_per_level=1)
    assert level_up_gold(config, 2, 5) == 3 * 10 + (3 + 4 + 5)
    assert level_up_gold(config, 5, 2) == 0


def test_level_roles_keep_previous_or_only_highest() -> None:
    keep = LevelConfig(level_roles={5: "bronze", 10: "silver"})
    only = LevelConfig(level_roles={5: "bronze", 10: "silver"}, keep_previous_level_roles=False)
    assert level_roles_held(keep, 12) == {"bronze", "silver"}
    assert level_roles_held(only, 12) == {"silver"}
    assert level_roles_held(keep, 4) == frozenset()


curves = st.one_of(
    st.builds(
        ExponentialCurve,
        base=st.integers(1, 1000),
        factor=st.sampled_from([1.0, 1.05, 1.25, 1.5, 2.0]),
    ),
    st.builds(QuadraticCurve, a=st.integers(0, 10), b=st.integers(0, 100), c=st.integers(1, 500)),
    st.builds(LinearCurve, xp_per_level=st.integers(1, 1000)),
)


@settings(max_examples=60, deadline=None)
@given(curve=curves, a=st.integers(0, 10**7), b=st.integers(0, 10**7))
def test_level_is_monotonic_in_xp(curve: ExponentialCurve, a: int, b: int) -> None:
    compiled = compile_curve(LevelConfig(curve=curve, max_level=100))
    low, high = sorted((a, b))
    assert compiled.level_for(low) <= compiled.level_for(high)


@settings(max_examples=60, deadline=None)
@given(curve=curves, xp=st.integers(0, 10**7))
def test_level_is_consistent_with_curve(curve: ExponentialCurve, xp: int) -> None:
    compiled = compile_curve(LevelConfig(curve=curve, max_level=100))
    level = compiled.level_for(xp)
    assert compiled.xp_for(level) <= xp
    assert level == compiled.max_level or xp < compiled.xp_for(level + 1)

from townsquare.core.fixed_point import apply_factors, to_scaled


def test_decimal_multipliers_are_read_as_typed() -> None:
    assert to_scaled(0.1) == 1000
    assert to_scaled(1.25) == 12_500


def test_multipliers_are_quantised_to_four_decimals() -> None:
    assert to_scaled(1.23456) == 12_346


def test_factors_are_floored_once_after_all_of_them() -> None:
    # 15 x 1.5 x 1.5 = 33.75 -> 33; flooring after each step would give floor(22.5)=22 -> 33
    # and 3 x 0.5 x 3 = 4.5 -> 4, while per-step flooring gives floor(1.5)=1 x 3 = 3
    assert apply_factors(15, 15_000, 15_000) == 33
    assert apply_factors(3, 5_000, 30_000) == 4

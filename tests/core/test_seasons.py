import pytest
from pydantic import ValidationError

from tests.core.builders import DAY, T0, World, message, quiet_rules
from townsquare.core.kinds import Counter, Window
from townsquare.core.seasons import SeasonConfig, SeasonSchedule

WEEKLY = {"recurring": {"anchor_at": T0, "length_days": 7}}


def test_recurring_seasons_are_numbered_from_the_anchor() -> None:
    schedule = SeasonSchedule.from_config(SeasonConfig.model_validate(WEEKLY))
    assert schedule.season_at(T0 - 1) is None
    assert schedule.season_at(T0) == "S1"
    assert schedule.season_at(T0 + 7 * DAY - 1) == "S1"
    assert schedule.season_at(T0 + 7 * DAY) == "S2"
    assert schedule.season_end(T0 + DAY) == T0 + 7 * DAY


def test_explicit_windows_with_gap() -> None:
    config = SeasonConfig.model_validate(
        {
            "windows": [
                {"id": "spring", "starts_at": T0, "ends_at": T0 + 10},
                {"id": "summer", "starts_at": T0 + 20, "ends_at": T0 + 30},
            ]
        }
    )
    schedule = SeasonSchedule.from_config(config)
    assert [schedule.season_at(T0 + t) for t in (0, 9, 10, 25, 30)] == [
        "spring",
        "spring",
        None,
        "summer",
        None,
    ]


def test_no_schedule_is_one_endless_season() -> None:
    assert SeasonSchedule.from_config(SeasonConfig()).season_at(T0) == "default"


def test_overlapping_seasons_are_rejected() -> None:
    with pytest.raises(ValidationError, match="overlap"):
        SeasonConfig.model_validate(
            {
                "windows": [
                    {"id": "a", "starts_at": 0, "ends_at": 10},
                    {"id": "b", "starts_at": 5, "ends_at": 20},
                ]
            }
        )


def test_rollover_resets_season_stats_but_never_lifetime() -> None:
    world = World(quiet_rules(seasons=WEEKLY))
    world.apply(message("e1", at=T0 + DAY))
    world.apply(message("e2", at=T0 + 2 * DAY))
    outcome = world.apply(message("e3", at=T0 + 8 * DAY))
    state = outcome.state
    assert state.season.season_id == "S2"
    assert state.season.balances.xp == 15
    assert state.lifetime.xp == 45
    assert state.counter(Counter.MESSAGES, Window.SEASON) == 1
    assert state.counter(Counter.MESSAGES) == 3
    [rollover] = outcome.season_rollovers
    assert (rollover.from_season, rollover.to_season, rollover.closed.xp) == ("S1", "S2", 30)


def test_off_season_activity_counts_only_for_lifetime() -> None:
    world = World(
        quiet_rules(seasons={"windows": [{"id": "s1", "starts_at": T0, "ends_at": T0 + DAY}]})
    )
    outcome = world.apply(message("e1", at=T0 + 2 * DAY))
    assert outcome.state.season.season_id is None
    assert outcome.state.season.balances.xp == 0
    assert outcome.state.lifetime.xp == 15
    assert all(entry.season_delta == 0 for entry in outcome.ledger)

import pytest
from pydantic import ValidationError

from tests.core.builders import message, quiet_rules
from townsquare.core.community_rules import CommunityConfig
from townsquare.core.economy_config import (
    ChannelRule,
    MultiplierConfig,
    QualityConfig,
)
from townsquare.core.engine import apply
from townsquare.core.state import MemberState


def test_quality_floor_above_cap_is_rejected() -> None:
    with pytest.raises(ValidationError, match="floor"):
        QualityConfig(floor=3.0, cap=2.0)


def test_length_tiers_must_increase() -> None:
    with pytest.raises(ValidationError, match="strictly increase"):
        QualityConfig.model_validate(
            {"length_tiers": [{"min_length": 50, "factor": 1}, {"min_length": 10, "factor": 1}]}
        )


def test_negative_multiplier_is_rejected() -> None:
    with pytest.raises(ValidationError):
        ChannelRule(target_id="c", multiplier=-1.0)


def test_negative_role_multiplier_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"role_multipliers\.r"):
        MultiplierConfig(role_multipliers={"r": -0.5})


def test_duplicate_channel_rule_is_rejected() -> None:
    with pytest.raises(ValidationError, match="duplicate channel rule"):
        MultiplierConfig(
            channel_rules=(
                ChannelRule(target_id="c", multiplier=1.0),
                ChannelRule(target_id="c", multiplier=2.0),
            )
        )


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ValidationError):
        CommunityConfig.model_validate({"base_rewards": {"mesage": {"xp": 1}}})


def test_base_rewards_come_from_config() -> None:
    config = quiet_rules(base_rewards={"message": {"xp": 7, "stars": 2, "gold": 3}})
    outcome = apply(MemberState("alice"), config, message())
    assert outcome.state.lifetime.xp == 7
    assert outcome.state.lifetime.stars == 2
    assert outcome.state.lifetime.gold == 3


def test_config_round_trips_through_json() -> None:
    config = CommunityConfig()
    assert CommunityConfig.model_validate_json(config.model_dump_json()) == config

from tests.core.builders import message, rules
from townsquare.core.engine import apply
from townsquare.core.explain import render_breakdown
from townsquare.core.state import MemberState


def test_breakdown_shows_every_step_of_a_reward() -> None:
    config = rules(
        multipliers={
            "channel_rules": [{"target_id": "general", "kind": "message", "multiplier": 2}],
            "role_multipliers": {"booster": 1.5},
        },
        anti_gaming={"daily_caps": {"xp": 50}},
    )
    outcome = apply(MemberState("alice"), config, message(length=150, roles=("booster",)))
    breakdown = outcome.breakdowns[0]
    assert breakdown.channel.as_float == 2.0
    assert breakdown.role.source == "role booster"
    assert breakdown.computed.xp == 54  # 15 x 2 x 1.5 x 1.2
    assert breakdown.granted.xp == 50
    lines = render_breakdown(breakdown)
    assert lines == [
        "message: base 15 xp, 1 gold",
        "x 2 channel (channel general rule (message))",
        "x 1.5 role (role booster)",
        "x 1.2 quality (length>=100 1.2; raw 1.2)",
        "= 54 xp, 3 gold (rounded down)",
        "daily xp cap: 54 -> 50",
        "granted: 50 xp, 3 gold",
    ]


def test_blocked_event_breakdown_names_the_reason() -> None:
    config = rules()
    first = apply(MemberState("alice"), config, message("e1"))
    blocked = apply(first.state, config, message("e2", at=first.state.last_rewarded_at or 0))
    assert "blocked: cooldown" in render_breakdown(blocked.breakdowns[0])

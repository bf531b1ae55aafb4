from hypothesis import given
from hypothesis import strategies as st

from tests.core.builders import DAY, T0, World, message, quiet_rules, rules, voice
from townsquare.core.anti_gaming import is_duplicate
from townsquare.core.balances import Balances
from townsquare.core.engine import apply
from townsquare.core.explain import BlockReason
from townsquare.core.kinds import Counter, Currency
from townsquare.core.outcomes import OutcomeStatus
from townsquare.core.state import MemberState

COOLDOWN = quiet_rules(anti_gaming={"cooldown_seconds": 60})


def test_cooldown_blocks_with_zero_reward_and_reason() -> None:
    first = apply(MemberState("alice"), COOLDOWN, message("e1"))
    blocked = apply(first.state, COOLDOWN, message("e2", at=T0 + 30))
    assert blocked.status is OutcomeStatus.BLOCKED
    assert blocked.ledger == ()
    assert blocked.breakdowns[0].blocked_by is BlockReason.COOLDOWN
    assert blocked.state is first.state


def test_cooldown_is_per_member_not_per_channel() -> None:
    first = apply(MemberState("alice"), COOLDOWN, message("e1", channel="a"))
    other_channel = apply(first.state, COOLDOWN, message("e2", channel="b", at=T0 + 30))
    assert other_channel.breakdowns[0].blocked_by is BlockReason.COOLDOWN


def test_cooldown_ends_after_configured_seconds() -> None:
    first = apply(MemberState("alice"), COOLDOWN, message("e1"))
    later = apply(first.state, COOLDOWN, message("e2", at=T0 + 60))
    assert later.state.lifetime.xp == 30


def test_daily_cap_limits_activity_rewards() -> None:
    config = quiet_rules(anti_gaming={"daily_caps": {"xp": 40, "stars": None, "gold": None}})
    world = World(config)
    outcomes = [world.apply(message(f"e{i}", at=T0 + i)) for i in range(4)]
    assert [o.state.lifetime.xp for o in outcomes] == [15, 30, 40, 40]
    hit = outcomes[2].breakdowns[0].caps[0]
    assert (hit.currency, hit.requested, hit.granted) == (Currency.XP, 15, 10)


def test_daily_cap_resets_the_next_day() -> None:
    config = quiet_rules(anti_gaming={"daily_caps": {"xp": 15, "stars": None, "gold": None}})
    world = World(config)
    world.apply(message("e1"))
    world.apply(message("e2", at=T0 + 5))
    next_day = world.apply(message("e3", at=T0 + DAY))
    assert next_day.state.lifetime.xp == 30


def test_zero_daily_cap_allows_nothing() -> None:
    config = quiet_rules(anti_gaming={"daily_caps": {"xp": 0, "stars": None, "gold": None}})
    outcome = apply(MemberState("alice"), config, message())
    assert outcome.state.lifetime == Balances(gold=1)


def test_exact_duplicate_message_earns_nothing() -> None:
    config = quiet_rules()
    first = apply(MemberState("alice"), config, message("e1", fingerprint=0xABCDEF12345))
    again = apply(first.state, config, message("e2", at=T0 + 300, fingerprint=0xABCDEF12345))
    assert again.breakdowns[0].blocked_by is BlockReason.DUPLICATE
    assert again.state.counter(Counter.MESSAGES) == 1


def test_near_duplicate_message_earns_nothing() -> None:
    config = quiet_rules()
    first = apply(MemberState("alice"), config, message("e1", fingerprint=0xFF00FF00FF00))
    near = apply(first.state, config, message("e2", at=T0 + 300, fingerprint=0xFF00FF00FF03))
    assert near.breakdowns[0].blocked_by is BlockReason.DUPLICATE


def test_different_message_is_not_a_duplicate() -> None:
    config = quiet_rules()
    first = apply(MemberState("alice"), config, message("e1", fingerprint=0xFF00FF00FF00))
    other = apply(first.state, config, message("e2", at=T0 + 300, fingerprint=0x00FF00FF00FF))
    assert other.state.lifetime.xp == 30


def test_duplicate_window_is_bounded() -> None:
    config = quiet_rules(anti_gaming={"duplicate_window": 2, "near_duplicate_bits": 0})
    world = World(config)
    for i, fingerprint in enumerate((111, 222, 333)):
        world.apply(message(f"e{i}", at=T0 + i, fingerprint=fingerprint))
    assert world.state("alice").recent_fingerprints == (333, 222)
    assert world.apply(message("e9", at=T0 + 9, fingerprint=111)).state.lifetime.xp == 60


BITS_RULES = {b: quiet_rules(anti_gaming={"near_duplicate_bits": b}) for b in (0, 1, 3, 32)}
fingerprints = st.integers(0, 2**64 - 1)


@given(
    bits=st.sampled_from(sorted(BITS_RULES)),
    recent=st.lists(fingerprints, max_size=12),
    fingerprint=fingerprints,
    flips=st.lists(st.integers(0, 63), max_size=5),
    copy_of=st.integers(0, 20),
)
def test_is_duplicate_means_within_the_configured_bits_of_a_recent_fingerprint(
    bits: int, recent: list[int], fingerprint: int, flips: list[int], copy_of: int
) -> None:
    if recent and copy_of < len(recent):  # a copy of a recent message, lightly edited
        fingerprint = recent[copy_of]
        for bit in flips:
            fingerprint ^= 1 << bit
    expected = bool(fingerprint) and any(
        (fingerprint ^ previous).bit_count() <= bits for previous in recent
    )
    assert is_duplicate(BITS_RULES[bits], tuple(recent), fingerprint) is expected


def test_voice_minutes_are_rewarded_per_minute() -> None:
    outcome = apply(MemberState("alice"), quiet_rules(), voice("v1", 30))
    assert outcome.state.lifetime.xp == 60
    assert outcome.state.counter(Counter.VOICE_MINUTES) == 30


def test_voice_alone_earns_nothing() -> None:
    outcome = apply(MemberState("alice"), quiet_rules(), voice("v1", 30, alone=True))
    assert outcome.breakdowns[0].blocked_by is BlockReason.VOICE_ALONE


def test_voice_muted_and_deafened_earns_nothing_but_muted_alone_does() -> None:
    config = quiet_rules()
    both = apply(MemberState("alice"), config, voice("v1", 30, muted=True, deafened=True))
    muted = apply(MemberState("alice"), config, voice("v2", 30, muted=True))
    assert both.breakdowns[0].blocked_by is BlockReason.VOICE_MUTED_DEAFENED
    assert muted.state.lifetime.xp == 60


def test_voice_in_afk_channel_earns_nothing() -> None:
    config = quiet_rules(anti_gaming={"afk_channel_ids": ["lounge"]})
    outcome = apply(MemberState("alice"), config, voice("v1", 30))
    assert outcome.breakdowns[0].blocked_by is BlockReason.VOICE_AFK


def test_voice_daily_cap_limits_minutes() -> None:
    config = quiet_rules(anti_gaming={"voice_daily_cap_minutes": 45})
    world = World(config)
    first = world.apply(voice("v1", 30))
    second = world.apply(voice("v2", 30, at=T0 + 3600))
    third = world.apply(voice("v3", 30, at=T0 + 7200))
    assert (first.state.lifetime.xp, second.state.lifetime.xp) == (60, 90)
    assert third.breakdowns[0].blocked_by is BlockReason.VOICE_DAILY_CAP


def test_cooldown_does_not_apply_to_voice() -> None:
    config = rules(anti_gaming={"cooldown_seconds": 3600})
    world = World(config)
    world.apply(message("e1"))
    assert world.apply(voice("v1", 10, at=T0 + 5)).state.lifetime.xp > 15

from townsquare.core.community_rules import CommunityConfig, compile_rules
from townsquare.core.economy_config import QualityConfig
from townsquare.core.events import MessageMeta
from townsquare.core.quality import message_quality


def quality(**overrides: object) -> int:
    compiled = compile_rules(CommunityConfig()).quality
    return message_quality(compiled, MessageMeta(**overrides))[0]  # type: ignore[arg-type]


def test_length_tiers_pick_the_highest_reached() -> None:
    assert [quality(length=n) for n in (5, 20, 99, 100, 300, 5000)] == [
        5_000,
        10_000,
        10_000,
        12_000,
        14_000,
        14_000,
    ]


def test_code_block_link_attachment_and_reply_raise_quality() -> None:
    assert quality(length=50, code_blocks=1) == 12_000
    assert quality(length=50, links=2) == 10_500
    assert quality(length=50, attachments=1) == 11_000
    assert quality(length=50, is_reply=True) == 11_000


def test_emoji_spam_by_count_is_penalised() -> None:
    assert quality(length=200, emoji=12) == 3_000  # 1.2 x 0.25


def test_emoji_spam_by_ratio_counts_unicode_emoji_messages() -> None:
    # four emoji in a five-character message is mostly emoji
    assert quality(length=25, emoji=4) == 10_000
    assert quality(length=5, emoji=4) == 2_500  # 0.5 x 0.25 = 0.125, raised to the floor


def test_quality_is_clamped_to_cap() -> None:
    meta = {"length": 400, "code_blocks": 1, "links": 1, "attachments": 1, "is_reply": True}
    assert quality(**meta) == 20_000


def test_empty_length_table_means_neutral_length() -> None:
    compiled = compile_rules(CommunityConfig(quality=QualityConfig(length_tiers=()))).quality
    assert message_quality(compiled, MessageMeta(length=3))[0] == 10_000


def test_disabled_quality_is_neutral_without_breakdown() -> None:
    compiled = compile_rules(CommunityConfig(quality=QualityConfig(enabled=False))).quality
    assert message_quality(compiled, MessageMeta(length=1, emoji=50)) == (10_000, None)


def test_quality_breakdown_names_every_factor() -> None:
    compiled = compile_rules(CommunityConfig()).quality
    _, breakdown = message_quality(compiled, MessageMeta(length=120, code_blocks=1))
    assert breakdown is not None
    assert [name for name, _ in breakdown.factors] == ["length>=100", "code_block"]
    assert breakdown.raw == 14_400
    assert breakdown.applied == 14_400


def test_unknown_text_is_neutral_not_empty() -> None:
    # Without the text (no Message Content intent) a message is not "short": no length tier,
    # no emoji judgement; what the platform still tells (attachments, replies) counts.
    assert quality(length=0, text_known=False) == 10_000
    assert quality(length=0, emoji=50, text_known=False) == 10_000
    assert quality(length=0, attachments=1, text_known=False) == 11_000
    assert quality(length=0) == 5_000

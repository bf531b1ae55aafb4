from townsquare.core.message_metadata import (
    content_fingerprint,
    count_code_blocks,
    count_emoji,
    count_links,
    message_meta,
)


def test_unicode_emoji_are_counted_as_readers_see_them() -> None:
    family = "👨\u200d👩\u200d👧"
    assert count_emoji("great 🎉🎉") == 2
    assert count_emoji(f"{family} 🇯🇵 👍🏽 ❤️") == 4


def test_discord_custom_emoji_are_counted() -> None:
    assert count_emoji("nice <:pog:123456789012> <a:dance:98765432101>") == 2


def test_plain_text_has_no_emoji() -> None:
    assert count_emoji("hello, world: 1 + 2 = 3") == 0


def test_links_and_code_blocks_are_counted() -> None:
    text = "see https://a.example/x and http://b.example\n```py\nprint(1)\n```"
    assert (count_links(text), count_code_blocks(text)) == (2, 1)


def test_fingerprint_ignores_case_and_spacing() -> None:
    assert content_fingerprint("Hello   World") == content_fingerprint("hello world")


def test_fingerprint_of_near_copy_is_close_and_of_other_text_is_far() -> None:
    base = content_fingerprint("please review my pull request about the login page")
    near = content_fingerprint("please review my pull request about the login page!")
    other = content_fingerprint("what time is the meeting tomorrow afternoon?")
    assert (base ^ near).bit_count() <= 3
    assert (base ^ other).bit_count() > 10


def test_empty_text_has_no_fingerprint() -> None:
    assert content_fingerprint("   ") == 0


def test_message_meta_never_keeps_the_text() -> None:
    meta = message_meta("secret plan 🎉", attachments=1, is_reply=True)
    assert (meta.length, meta.emoji, meta.attachments, meta.is_reply) == (13, 1, 1, True)
    assert "secret" not in repr(meta)

"""Gateway payloads → core events: the pure translation, over generated payloads."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from townsquare.adapters.discord.mapping import (
    DISCORD_EPOCH_MS,
    Place,
    VoiceFlags,
    display_name,
    message_event,
    reaction_event,
    snowflake_seconds,
    voice_segment_event,
)
from townsquare.core import ChannelType, EventKind

snowflakes = st.integers(min_value=1 << 22, max_value=(1 << 63) - 1)
places = st.builds(
    Place,
    channel_id=st.from_regex(r"[1-9][0-9]{5,19}", fullmatch=True),
    channel_type=st.sampled_from(ChannelType),
    parent_channel_id=st.none() | st.just("42"),
    category_id=st.none() | st.just("7"),
)


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    author: dict[str, Any] = {
        "id": str(draw(snowflakes)),
        "username": draw(st.text(min_size=1, max_size=32)),
        "global_name": draw(st.none() | st.text(max_size=32)),
    }
    if draw(st.booleans()):
        author["bot"] = draw(st.booleans())
    payload: dict[str, Any] = {
        "id": str(draw(snowflakes)),
        "type": draw(st.sampled_from([0, 19, 7, 6, 8])),
        "guild_id": str(draw(snowflakes)),
        "channel_id": str(draw(snowflakes)),
        "author": author,
        "content": draw(st.text(max_size=300)),
        "attachments": [{"id": str(i)} for i in range(draw(st.integers(0, 3)))],
    }
    if draw(st.booleans()):
        payload["member"] = {
            "roles": [str(r) for r in draw(st.lists(snowflakes, max_size=5))],
            "nick": draw(st.none() | st.text(max_size=32)),
        }
    if payload["type"] == 19 and draw(st.booleans()):
        payload["message_reference"] = {"message_id": str(draw(snowflakes))}
    if draw(st.integers(0, 9)) == 0:
        payload["webhook_id"] = str(draw(snowflakes))
    return payload


@given(messages(), places, st.booleans())
def test_a_message_maps_to_a_member_event_or_to_nothing(
    payload: dict[str, Any], place: Place, text_known: bool
) -> None:
    event = message_event(payload, place, text_known=text_known)
    counted = (
        payload["type"] in (0, 19)
        and not payload["author"].get("bot")
        and "webhook_id" not in payload
    )
    if not counted:
        assert event is None
        return
    assert event is not None
    assert event.kind is EventKind.MESSAGE
    assert event.event_id == payload["id"]
    assert event.member_id == payload["author"]["id"]
    assert event.community_id == payload["guild_id"]
    assert event.at == ((int(payload["id"]) >> 22) + DISCORD_EPOCH_MS) // 1000
    assert event.roles == tuple(payload.get("member", {}).get("roles", ()))
    assert event.channel_id == place.channel_id
    meta = event.message
    assert meta is not None
    assert meta.attachments == len(payload["attachments"])
    assert meta.is_reply == ("message_reference" in payload)
    assert meta.in_thread == (place.parent_channel_id is not None)
    assert meta.text_known == text_known
    assert meta.length == (len(payload["content"]) if text_known else 0)
    # Only counts leave the edge: the text is nowhere in the event.
    if len(payload["content"]) > 3:
        assert payload["content"] not in repr(event)


@given(messages())
def test_the_display_name_prefers_the_nickname(payload: dict[str, Any]) -> None:
    member = payload.get("member") or {}
    author = payload["author"]
    expected = member.get("nick") or author.get("global_name") or author["username"]
    assert display_name(payload) == expected


@given(snowflakes, snowflakes, snowflakes, st.text(min_size=1, max_size=8), places)
def test_a_reaction_and_its_removal_are_twins_and_self_reactions_count_nothing(
    message_id: int, user_id: int, author_id: int, emoji: str, place: Place
) -> None:
    payload = {
        "guild_id": "1",
        "channel_id": place.channel_id,
        "message_id": str(message_id),
        "user_id": str(user_id),
        "emoji": {"id": None, "name": emoji},
    }
    added = reaction_event(payload, place, added=True, author_id=str(author_id), at=5)
    removed = reaction_event(payload, place, added=False, author_id=str(author_id), at=6)
    if user_id == author_id:
        assert added is None
        assert removed is None
        return
    assert added is not None
    assert removed is not None
    assert added.kind is EventKind.REACTION_ADDED
    assert removed.kind is EventKind.REACTION_REMOVED
    assert added.event_id[:-1] == removed.event_id[:-1]
    assert (added.event_id[-1], removed.event_id[-1]) == ("+", "-")
    assert added.target_member_id == str(author_id)
    assert added.target_message_id == str(message_id)
    assert reaction_event(payload, place, added=True, author_id=None, at=5) is None


@given(st.integers(0, 10**9), st.integers(0, 100_000), st.booleans())
def test_voice_minutes_round_to_the_nearest_and_short_stays_pay_nothing(
    start: int, seconds: int, muted: bool
) -> None:
    place = Place("9", ChannelType.VOICE)
    event = voice_segment_event(
        "1", "2", place, started_at=start, ended_at=start + seconds, flags=VoiceFlags(muted)
    )
    if seconds < 30:
        assert event is None
        return
    assert event is not None
    assert event.voice is not None
    assert event.voice.minutes == (seconds + 30) // 60
    assert abs(event.voice.minutes * 60 - seconds) <= 30
    assert event.voice.muted == muted
    assert event.event_id == f"v:1:2:{start}"


def test_snowflake_time_is_discords_epoch_plus_the_high_bits() -> None:
    # Discord's documented example: 175928847299117063 was made at 2016-04-30 11:18:25.796 UTC
    assert snowflake_seconds(175928847299117063) == 1462015105

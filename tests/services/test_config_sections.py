"""Whole-section edits and imports: versions, conflicts, validation, no partial writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.services.factories import (
    ADMIN,
    OTHER_ADMIN,
    Plaza,
    audit_count,
    config_version,
    make_plaza,
)
from townsquare.config.document import CommunityConfigDocument, Section
from townsquare.errors import ConfigConflict, ConfigInvalid, NotFound
from townsquare.services.audit import AuditFilters, list_entries
from townsquare.services.community_config import (
    apply_edit,
    edits,
    get_config,
    get_section,
    replace_document,
    replace_section,
)
from townsquare.store.notify import NotifyChannel, pending_notifications

DEFAULT = CommunityConfigDocument()
ACHIEVEMENT = {"id": "first-post", "name": "First post", "trigger": {"type": "manual"}}
#: A changed value for every section.
CHANGES: dict[Section, Any] = {
    Section.BASE_REWARDS: {**DEFAULT.section(Section.BASE_REWARDS), "message": {"xp": 20}},
    Section.MULTIPLIERS: {**DEFAULT.section(Section.MULTIPLIERS), "role_combine": "product"},
    Section.QUALITY: {**DEFAULT.section(Section.QUALITY), "enabled": False},
    Section.ANTI_GAMING: {**DEFAULT.section(Section.ANTI_GAMING), "cooldown_seconds": 30},
    Section.LEVELS: {"curve": {"type": "table", "thresholds": [100, 250, 500]}, "max_level": 3},
    Section.ACHIEVEMENTS: [ACHIEVEMENT],
    Section.SEASONS: {"recurring": {"anchor_at": 1_767_225_600, "length_days": 30}},
    Section.GENERAL: {"day_offset_minutes": 540, "allow_negative": ["gold"]},
    Section.CATALOG: {
        "categories": [{"key": "general", "name": "General"}, {"key": "x", "name": "X"}]
    },
    Section.ANNOUNCEMENTS: {"mode": "channel", "channel_id": "100", "per_minute": 3},
}


def config_notifications(session: AsyncSession) -> list[dict[str, Any]]:
    return [
        json.loads(body)
        for channel, body in pending_notifications(session)
        if channel == NotifyChannel.CONFIG
    ]


async def assert_nothing_written(session: AsyncSession, plaza: Plaza, version: int) -> None:
    assert await config_version(session, plaza.community_id) == version
    assert await audit_count(session, plaza.community_id) == 0
    assert config_notifications(session) == []


async def test_a_new_community_has_the_default_document_at_section_version_zero(
    session: AsyncSession,
) -> None:
    plaza = await make_plaza(session)

    config = await get_config(session, plaza.community_id)

    assert config.config_version == 1
    assert set(config.section_versions.values()) == {0}
    assert config.document == DEFAULT.model_dump(mode="json")
    assert (await get_section(session, plaza.community_id, Section.LEVELS)).section_version == 0


async def test_reading_an_unknown_community_is_not_found(session: AsyncSession) -> None:
    with pytest.raises(NotFound):
        await get_config(session, 10**12)


@pytest.mark.parametrize("section", list(Section))
async def test_replacing_a_section_bumps_its_version_audits_and_notifies(
    session: AsyncSession, section: Section
) -> None:
    plaza = await make_plaza(session)

    out = await replace_section(
        session,
        ADMIN,
        plaza.community_id,
        section,
        CHANGES[section],
        expected_version=0,
        reason="tuning",
    )

    assert (out.section, out.section_version, out.config_version) == (section, 1, 2)
    assert out.value == CommunityConfigDocument.model_validate(
        DEFAULT.with_section(section, CHANGES[section])
    ).section(section)
    config = await get_config(session, plaza.community_id)
    assert config.section_versions[section] == 1
    assert sum(config.section_versions.values()) == 1
    [entry] = (await list_entries(session, plaza.community_id)).entries
    assert (entry.action, entry.target_type, entry.target_id) == (
        f"config.{section.value}.replace",
        "config_section",
        section.value,
    )
    assert (entry.before, entry.after, entry.reason) == (
        DEFAULT.section(section),
        out.value,
        "tuning",
    )
    assert config_notifications(session) == [
        {"community": plaza.community_id, "version": 2, "sections": [section.value]}
    ]


async def test_second_admin_editing_the_same_section_gets_a_conflict(
    session: AsyncSession,
) -> None:
    plaza = await make_plaza(session)
    cid = plaza.community_id
    first = await replace_section(
        session, ADMIN, cid, Section.QUALITY, CHANGES[Section.QUALITY], expected_version=0
    )

    stale = {**DEFAULT.section(Section.QUALITY), "cap": 3.0}
    with pytest.raises(ConfigConflict) as conflict:
        await replace_section(session, OTHER_ADMIN, cid, Section.QUALITY, stale, expected_version=0)

    assert conflict.value.current_version == 1
    now = await get_section(session, cid, Section.QUALITY)
    assert now.value == first.value
    assert now.config_version == 2
    assert await audit_count(session, cid) == 1


async def test_admins_editing_different_sections_both_succeed(session: AsyncSession) -> None:
    plaza = await make_plaza(session)
    cid = plaza.community_id

    await replace_section(
        session, ADMIN, cid, Section.QUALITY, CHANGES[Section.QUALITY], expected_version=0
    )
    await apply_edit(
        session, OTHER_ADMIN, cid, edits.put_role_multiplier("vip", 1.5), expected_version=0
    )

    config = await get_config(session, cid)
    assert config.config_version == 3
    assert config.section_versions[Section.QUALITY] == 1
    assert config.section_versions[Section.MULTIPLIERS] == 1
    assert config.document["rules"]["quality"]["enabled"] is False
    assert config.document["rules"]["multipliers"]["role_multipliers"] == {"vip": 1.5}


async def test_an_edit_that_changes_nothing_bumps_nothing(session: AsyncSession) -> None:
    plaza = await make_plaza(session)

    out = await replace_section(
        session,
        ADMIN,
        plaza.community_id,
        Section.QUALITY,
        DEFAULT.section(Section.QUALITY),
        expected_version=0,
    )

    assert (out.section_version, out.config_version) == (0, 1)
    await assert_nothing_written(session, plaza, 1)


@pytest.mark.parametrize(
    ("section", "value", "location"),
    [
        (
            Section.MULTIPLIERS,
            {"channel_rules": [{"target_id": "100", "multiplier": -1}]},
            ("rules", "multipliers", "channel_rules", 0, "multiplier"),
        ),
        (
            Section.LEVELS,
            {"curve": {"type": "table", "thresholds": [100, 100, 50]}},
            ("rules", "levels", "curve", "table"),
        ),
        (
            Section.MULTIPLIERS,
            {"channel_rules": [{"target_id": "999", "multiplier": 2}]},
            ("rules", "multipliers", "channel_rules", 0, "target_id"),
        ),
        (
            Section.ANTI_GAMING,
            {"afk_channel_ids": ["100", "404"]},
            ("rules", "anti_gaming", "afk_channel_ids"),
        ),
        (
            Section.QUALITY,
            {"floor": 3.0, "cap": 2.0},
            ("rules", "quality"),
        ),
        (
            Section.GENERAL,
            {"day_offset_minutes": 541, "bogus": 1},
            ("general", "bogus"),
        ),
        (
            Section.ANNOUNCEMENTS,
            {"mode": "channel", "channel_id": "404"},
            ("announcements", "channel_id"),
        ),
        (
            Section.ANNOUNCEMENTS,
            {"mode": "channel"},
            ("announcements",),
        ),
    ],
    ids=[
        "negative-multiplier",
        "level-table",
        "unknown-channel",
        "unknown-afk",
        "floor-cap",
        "unknown-setting",
        "unknown-announcement-channel",
        "channel-mode-without-channel",
    ],
)
async def test_an_invalid_section_is_rejected_with_its_location_and_nothing_written(
    session: AsyncSession, section: Section, value: dict[str, Any], location: tuple[Any, ...]
) -> None:
    plaza = await make_plaza(session)

    with pytest.raises(ConfigInvalid) as invalid:
        await replace_section(
            session, ADMIN, plaza.community_id, section, value, expected_version=0
        )

    assert location in [loc for loc, _message in invalid.value.errors]
    await assert_nothing_written(session, plaza, 1)
    assert (await get_section(session, plaza.community_id, section)).value == DEFAULT.section(
        section
    )


async def test_a_channel_already_named_by_the_stored_rules_does_not_block_other_edits(
    session: AsyncSession,
) -> None:
    plaza = await make_plaza(session)
    cid = plaza.community_id
    raw = DEFAULT.with_section(Section.ANTI_GAMING, {"afk_channel_ids": ["100"]})
    await replace_document(session, ADMIN, cid, raw, expected_version=None)
    await session.execute(
        text(
            "UPDATE community_settings SET settings = jsonb_set(settings, "
            "'{rules,anti_gaming,afk_channel_ids}', '[\"gone\"]') WHERE community_id = :c"
        ),
        {"c": cid},
    )

    out = await replace_section(
        session, ADMIN, cid, Section.QUALITY, CHANGES[Section.QUALITY], expected_version=0
    )

    assert out.section_version == 1


async def test_import_bumps_every_changed_section_with_one_audit_entry(
    session: AsyncSession,
) -> None:
    plaza = await make_plaza(session)
    cid = plaza.community_id
    raw = DEFAULT.with_section(Section.QUALITY, CHANGES[Section.QUALITY])
    raw["rules"]["levels"] = CHANGES[Section.LEVELS]

    out = await replace_document(
        session, OTHER_ADMIN, cid, raw, expected_version=1, reason="from git"
    )

    assert out.config_version == 2
    assert {s for s, v in out.section_versions.items() if v} == {Section.QUALITY, Section.LEVELS}
    [entry] = (await list_entries(session, cid, AuditFilters(action="config.import"))).entries
    assert set(entry.after) == {"quality", "levels"}
    assert entry.before["quality"] == DEFAULT.section(Section.QUALITY)
    assert await audit_count(session, cid) == 1
    assert config_notifications(session)[0]["sections"] == ["levels", "quality"]


async def test_import_of_an_invalid_document_changes_nothing(session: AsyncSession) -> None:
    plaza = await make_plaza(session)
    raw = DEFAULT.with_section(Section.QUALITY, CHANGES[Section.QUALITY])
    raw["rules"]["multipliers"]["channel_rules"] = [{"target_id": "nope", "multiplier": 2}]
    raw["rules"]["achievements"] = [{**ACHIEVEMENT, "category": "missing"}]

    with pytest.raises(ConfigInvalid) as invalid:
        await replace_document(session, ADMIN, plaza.community_id, raw, expected_version=None)

    assert {loc for loc, _ in invalid.value.errors} == {
        ("rules", "achievements", 0, "category"),
        ("rules", "multipliers", "channel_rules", 0, "target_id"),
    }
    await assert_nothing_written(session, plaza, 1)


async def test_import_based_on_an_old_version_conflicts(session: AsyncSession) -> None:
    plaza = await make_plaza(session)
    cid = plaza.community_id
    await replace_section(
        session, ADMIN, cid, Section.QUALITY, CHANGES[Section.QUALITY], expected_version=0
    )

    with pytest.raises(ConfigConflict) as conflict:
        await replace_document(session, ADMIN, cid, DEFAULT.model_dump(), expected_version=1)

    assert conflict.value.current_version == 2
    assert await audit_count(session, cid) == 1


async def test_importing_the_stored_document_again_is_a_no_op(session: AsyncSession) -> None:
    plaza = await make_plaza(session)
    exported = (await get_config(session, plaza.community_id)).document

    out = await replace_document(
        session, ADMIN, plaza.community_id, exported, expected_version=None
    )

    assert out.config_version == 1
    await assert_nothing_written(session, plaza, 1)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(multiplier=st.floats(min_value=-1000, max_value=1000, allow_nan=False))
async def test_a_channel_multiplier_is_accepted_exactly_when_it_is_in_range(
    session: AsyncSession, multiplier: float
) -> None:
    example = await session.begin_nested()
    try:
        plaza = await make_plaza(session)
        edit = edits.put_channel_rule({"target_id": "100", "multiplier": multiplier})
        if 0 <= multiplier <= 100:
            out = await apply_edit(session, ADMIN, plaza.community_id, edit, expected_version=0)
            assert out.value["channel_rules"][0]["multiplier"] == multiplier
        else:
            with pytest.raises(ConfigInvalid) as invalid:
                await apply_edit(session, ADMIN, plaza.community_id, edit, expected_version=0)
            assert [loc for loc, _ in invalid.value.errors] == [
                ("rules", "multipliers", "channel_rules", 0, "multiplier")
            ]
            await assert_nothing_written(session, plaza, 1)
    finally:
        await example.rollback()

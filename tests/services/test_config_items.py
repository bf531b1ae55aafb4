"""Item-level configuration edits: each one's happy path, its audit entry, its refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from tests.services.factories import ADMIN, Plaza, audit_count, config_version, make_plaza
from townsquare.config.document import CategoryEntry, CommunityConfigDocument, Section
from townsquare.core.achievement_config import AchievementConfig
from townsquare.core.economy_config import ChannelRule, ChannelTypeDefault, RoleCombine
from townsquare.core.kinds import ChannelType, EventKind
from townsquare.core.seasons import RecurringSeasons, SeasonWindowConfig
from townsquare.errors import ConfigInvalid, NotFound
from townsquare.services.audit import list_entries
from townsquare.services.community_config import (
    CatalogKind,
    ConfigSectionOut,
    ItemEdit,
    apply_edit,
    edits,
    get_section,
)

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
MANUAL = {"type": "manual"}


class Editor:
    """Applies edits in order, each based on the section version the previous one left."""

    def __init__(self, session: AsyncSession, plaza: Plaza) -> None:
        self.session = session
        self.plaza = plaza

    async def __call__(self, edit: ItemEdit) -> ConfigSectionOut:
        current = await get_section(self.session, self.plaza.community_id, edit.section)
        return await apply_edit(
            self.session,
            ADMIN,
            self.plaza.community_id,
            edit,
            expected_version=current.section_version,
            reason="test",
        )

    async def last_audit(self) -> tuple[str, str, str | None, Any, Any]:
        entry = (await list_entries(self.session, self.plaza.community_id, limit=1)).entries[0]
        return entry.action, entry.target_type, entry.target_id, entry.before, entry.after


@pytest.fixture
async def editor(session: AsyncSession) -> Editor:
    return Editor(session, await make_plaza(session))


async def test_channel_rules_are_put_replaced_by_key_and_deleted(editor: Editor) -> None:
    await editor(edits.put_channel_rule(ChannelRule(target_id="100", multiplier=2.0)))
    await editor(edits.put_channel_rule({"target_id": "100", "kind": "message", "multiplier": 1.5}))
    out = await editor(edits.put_channel_rule({"target_id": "100", "multiplier": 3.0}))

    assert [(r["target_id"], r["kind"], r["multiplier"]) for r in out.value["channel_rules"]] == [
        ("100", None, 3.0),
        ("100", "message", 1.5),
    ]
    action, target_type, target_id, before, after = await editor.last_audit()
    assert (action, target_type, target_id) == ("config.channel_rule.put", "channel_rule", "100/*")
    assert (before["multiplier"], after["multiplier"]) == (2.0, 3.0)

    out = await editor(edits.delete_channel_rule("100", EventKind.MESSAGE))
    assert [r["kind"] for r in out.value["channel_rules"]] == [None]
    assert (await editor.last_audit())[2:] == (
        "100/message",
        {"target_id": "100", "kind": "message", "multiplier": 1.5},
        None,
    )


async def test_channel_type_defaults_are_put_and_deleted(editor: Editor) -> None:
    default = ChannelTypeDefault(channel_type=ChannelType.VOICE, multiplier=0.5)
    out = await editor(edits.put_channel_type_default(default))
    assert out.value["channel_type_defaults"] == [default.model_dump(mode="json")]
    assert (await editor.last_audit())[:3] == (
        "config.channel_type_default.put",
        "channel_type_default",
        "voice/*",
    )

    out = await editor(edits.delete_channel_type_default(ChannelType.VOICE))
    assert out.value["channel_type_defaults"] == []


async def test_role_multipliers_and_role_combine(editor: Editor) -> None:
    await editor(edits.put_role_multiplier("vip", 1.5))
    out = await editor(edits.put_role_multiplier("mod", 2.0))
    assert out.value["role_multipliers"] == {"vip": 1.5, "mod": 2.0}

    out = await editor(edits.delete_role_multiplier("vip"))
    assert out.value["role_multipliers"] == {"mod": 2.0}
    assert (await editor.last_audit())[2:] == ("vip", 1.5, None)

    out = await editor(edits.set_role_combine(RoleCombine.PRODUCT))
    assert out.value["role_combine"] == "product"
    assert (await editor.last_audit())[3:] == ("max", "product")


async def test_no_reward_channels_and_roles_are_added_and_removed(editor: Editor) -> None:
    await editor(edits.add_no_reward_channel("200"))
    await editor(edits.add_no_reward_role("muted"))
    out = await editor(edits.add_no_reward_channel("100"))
    assert sorted(out.value["no_reward_channels"]) == ["100", "200"]
    assert (await editor.last_audit())[:5] == (
        "config.no_reward_channel.add",
        "no_reward_channel",
        "100",
        False,
        True,
    )

    out = await editor(edits.remove_no_reward_channel("200"))
    assert out.value["no_reward_channels"] == ["100"]
    out = await editor(edits.remove_no_reward_role("muted"))
    assert out.value["no_reward_roles"] == []


async def test_adding_a_listed_channel_again_changes_nothing(editor: Editor) -> None:
    first = await editor(edits.add_no_reward_channel("200"))
    again = await editor(edits.add_no_reward_channel("200"))

    assert again.section_version == first.section_version
    assert await audit_count(editor.session, editor.plaza.community_id) == 1


async def test_a_no_reward_channel_must_be_a_known_channel(editor: Editor) -> None:
    with pytest.raises(ConfigInvalid) as invalid:
        await editor(edits.add_no_reward_channel("404"))

    assert invalid.value.errors == [
        (("rules", "multipliers", "no_reward_channels"), "unknown channel '404'")
    ]


async def test_achievements_are_put_replaced_and_deleted(editor: Editor) -> None:
    achievement = AchievementConfig.model_validate({"id": "a", "name": "A", "trigger": MANUAL})
    await editor(edits.put_achievement(achievement))
    out = await editor(edits.put_achievement({"id": "a", "name": "Renamed", "trigger": MANUAL}))

    assert [a["name"] for a in out.value] == ["Renamed"]
    assert (await editor.last_audit())[:3] == ("config.achievement.put", "achievement", "a")

    out = await editor(edits.delete_achievement("a"))
    assert out.value == []


@pytest.mark.parametrize(
    ("kind", "entry"),
    [
        (CatalogKind.CATEGORIES, {"key": "events", "name": "Events"}),
        (CatalogKind.RARITIES, {"key": "mythic", "name": "Mythic", "color": "#ff00ff"}),
        (CatalogKind.SERIES, {"key": "poster", "name": "Poster"}),
    ],
)
async def test_catalog_entries_are_put_and_deleted(
    editor: Editor, kind: CatalogKind, entry: dict[str, Any]
) -> None:
    out = await editor(edits.put_catalog_entry(entry, kind))
    assert entry["key"] in [e["key"] for e in out.value[kind.value]]

    out = await editor(edits.delete_catalog_entry(kind, entry["key"]))
    assert entry["key"] not in [e["key"] for e in out.value[kind.value]]
    assert (await editor.last_audit())[2] == entry["key"]


async def test_a_catalog_model_knows_its_list(editor: Editor) -> None:
    out = await editor(edits.put_catalog_entry(CategoryEntry(key="events", name="Events")))

    assert [c["key"] for c in out.value["categories"]] == ["general", "events"]


async def test_deleting_a_category_an_achievement_uses_is_refused(editor: Editor) -> None:
    await editor(edits.put_catalog_entry(CategoryEntry(key="events", name="Events")))
    await editor(
        edits.put_achievement({"id": "a", "name": "A", "category": "events", "trigger": MANUAL})
    )
    version = await config_version(editor.session, editor.plaza.community_id)

    with pytest.raises(ConfigInvalid) as invalid:
        await editor(edits.delete_catalog_entry(CatalogKind.CATEGORIES, "events"))

    assert invalid.value.errors == [
        (("rules", "achievements", 0, "category"), "unknown category 'events'")
    ]
    assert await config_version(editor.session, editor.plaza.community_id) == version
    assert await audit_count(editor.session, editor.plaza.community_id) == 2


async def test_seasons_are_added_ended_now_and_deleted(editor: Editor) -> None:
    await editor(
        edits.add_season_window(SeasonWindowConfig(id="s1", starts_at=T0, ends_at=T0 + 1000))
    )
    await editor(
        edits.add_season_window({"id": "s2", "starts_at": T0 + 1000, "ends_at": T0 + 2000})
    )

    now = datetime.fromtimestamp(T0 + 400, tz=UTC)
    out = await editor(edits.end_current_season(now))

    assert [(w["id"], w["ends_at"]) for w in out.value["windows"]] == [
        ("s1", T0 + 400),
        ("s2", T0 + 2000),
    ]
    action, _type, target_id, before, after = await editor.last_audit()
    assert (action, target_id, before["ends_at"], after["ends_at"]) == (
        "config.season.end",
        "s1",
        T0 + 1000,
        T0 + 400,
    )
    out = await editor(edits.delete_season_window("s1"))
    assert [w["id"] for w in out.value["windows"]] == ["s2"]


async def test_ending_when_no_season_runs_is_not_found(editor: Editor) -> None:
    await editor(edits.add_season_window({"id": "s1", "starts_at": T0, "ends_at": T0 + 10}))

    with pytest.raises(NotFound):
        await editor(edits.end_current_season(T0 + 50))


async def test_overlapping_seasons_are_refused(editor: Editor) -> None:
    await editor(edits.add_season_window({"id": "s1", "starts_at": T0, "ends_at": T0 + 10}))

    with pytest.raises(ConfigInvalid) as invalid:
        await editor(edits.add_season_window({"id": "s2", "starts_at": T0 + 5, "ends_at": T0 + 20}))

    assert invalid.value.errors[0][0] == ("rules", "seasons")


async def test_the_recurring_schedule_is_set_and_cleared(editor: Editor) -> None:
    schedule = RecurringSeasons(anchor_at=T0, length_days=28, id_prefix="Q")
    out = await editor(edits.set_season_schedule(schedule))
    assert out.value["recurring"] == schedule.model_dump(mode="json")
    assert (await editor.last_audit())[0] == "config.season_schedule.set"

    with pytest.raises(ConfigInvalid):
        await editor(edits.end_current_season(T0 + 5))

    out = await editor(edits.set_season_schedule(None))
    assert out.value["recurring"] is None
    assert (await editor.last_audit())[0] == "config.season_schedule.clear"


@pytest.mark.parametrize(
    "edit",
    [
        edits.delete_channel_rule("100"),
        edits.delete_channel_type_default("text", "message"),
        edits.delete_role_multiplier("ghost"),
        edits.remove_no_reward_channel("100"),
        edits.remove_no_reward_role("ghost"),
        edits.delete_achievement("ghost"),
        edits.delete_catalog_entry(CatalogKind.SERIES, "ghost"),
        edits.delete_season_window("ghost"),
    ],
    ids=lambda edit: edit.action,
)
async def test_deleting_what_is_not_there_is_not_found(editor: Editor, edit: ItemEdit) -> None:
    with pytest.raises(NotFound):
        await editor(edit)

    assert await audit_count(editor.session, editor.plaza.community_id) == 0


rule_strategy: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "target_id": st.sampled_from(["100", "200", "300"]),
        "kind": st.sampled_from([None, "message", "voice_segment"]),
        "multiplier": st.floats(min_value=0, max_value=100, allow_nan=False),
    }
)


@given(rules=st.lists(rule_strategy, max_size=8), extra=rule_strategy)
def test_putting_then_deleting_a_rule_leaves_the_other_rules_as_they_were(
    rules: list[dict[str, Any]], extra: dict[str, Any]
) -> None:
    section = CommunityConfigDocument().section(Section.MULTIPLIERS)
    for rule in rules:
        section = edits.put_channel_rule(rule).transform(section)
    keys = [(r["target_id"], r["kind"]) for r in section["channel_rules"]]
    assert len(keys) == len(set(keys))  # one rule per key, whatever was put

    put = edits.put_channel_rule(extra)
    after = put.transform(section)
    assert put.pick(after) == extra
    assert put.transform(after) == after  # putting the same rule again changes nothing

    removed = edits.delete_channel_rule(extra["target_id"], extra["kind"]).transform(after)
    expected = [
        r for r in section["channel_rules"] if (r["target_id"], r["kind"]) != keys_of(extra)
    ]
    assert removed["channel_rules"] == expected


def keys_of(rule: dict[str, Any]) -> tuple[str, str | None]:
    return rule["target_id"], rule["kind"]

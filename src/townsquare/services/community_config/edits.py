"""Item-level configuration edits as pure functions over one section's JSON.

Each constructor returns an `ItemEdit`: which section it touches, how it is named in the
audit log, a ``transform`` from the section's current JSON to the new JSON, and a ``pick``
that finds the edited item in a section's JSON (the audit entry's before and after). The
service runs every edit through the same read → check version → transform → validate the
whole document → save → audit path, so an item edit cannot skip a cross-field rule or the
"unknown channel" check, and adding an edit means adding a constructor here, nothing more.

Items are taken as pydantic models or as plain mappings (an API body): either way the
whole document is validated afterwards, so a bad value is reported with its location in
the document (``rules.multipliers.channel_rules.3.multiplier``) and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from townsquare.config.document import CategoryEntry, RarityEntry, Section, SeriesEntry
from townsquare.core.achievement_config import AchievementConfig
from townsquare.core.economy_config import ChannelRule, ChannelTypeDefault, RoleCombine
from townsquare.core.seasons import RecurringSeasons, SeasonWindowConfig
from townsquare.errors import ConfigInvalid, NotFound

Json = Any
Item = BaseModel | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ItemEdit:
    """One change of one item of one section; run it with `service.apply_edit`."""

    section: Section
    action: str
    target_type: str
    target_id: str | None
    transform: Callable[[Json], Json]
    pick: Callable[[Json], Json]
    #: For edits whose target is only known once applied (ending "the current" season).
    resolve_target: Callable[[], str | None] | None = None

    def target(self) -> str | None:
        """The audit entry's target id (call after ``transform``)."""
        return self.resolve_target() if self.resolve_target is not None else self.target_id


class CatalogKind(StrEnum):
    """The lists of the achievement catalog, keyed by ``key``."""

    CATEGORIES = "categories"
    RARITIES = "rarities"
    SERIES = "series"


_CATALOG_TARGETS = {
    CatalogKind.CATEGORIES: "achievement_category",
    CatalogKind.RARITIES: "achievement_rarity",
    CatalogKind.SERIES: "achievement_series",
}
_CATALOG_KINDS: dict[type[BaseModel], CatalogKind] = {
    CategoryEntry: CatalogKind.CATEGORIES,
    RarityEntry: CatalogKind.RARITIES,
    SeriesEntry: CatalogKind.SERIES,
}


def _json(item: Item) -> dict[str, Any]:
    return item.model_dump(mode="json") if isinstance(item, BaseModel) else dict(item)


def _text(value: object) -> str | None:
    """An enum member or string as its plain value (None stays None)."""
    return None if value is None else str(getattr(value, "value", value))


def _put(items: list[Json], item: dict[str, Any], key: Callable[[Json], Hashable]) -> list[Json]:
    """``items`` with the entry of ``item``'s key replaced by it, or ``item`` appended."""
    wanted = key(item)
    if any(key(existing) == wanted for existing in items):
        return [item if key(existing) == wanted else existing for existing in items]
    return [*items, item]


def _delete(
    items: list[Json], wanted: Hashable, key: Callable[[Json], Hashable], what: str
) -> list[Json]:
    kept = [existing for existing in items if key(existing) != wanted]
    if len(kept) == len(items):
        raise NotFound(f"There is no {what}.")
    return kept


def _find(items: list[Json], wanted: Hashable, key: Callable[[Json], Hashable]) -> Json:
    return next((existing for existing in items if key(existing) == wanted), None)


def _items(value: Json, field: str | None) -> list[Json]:
    """The list ``field`` of a section's JSON (None: the section itself is the list)."""
    return list(value if field is None else value.get(field) or [])


def _with_items(value: Json, field: str | None, items: list[Json]) -> Json:
    return items if field is None else {**value, field: items}


def _list_edits(
    section: Section,
    field: str | None,
    key: Callable[[Json], Hashable],
    target_type: str,
    action: str | None = None,
) -> tuple[Callable[[Item], ItemEdit], Callable[[Hashable, str], ItemEdit]]:
    """Put and delete constructors for one list of a section whose entries have a key."""
    name = action or target_type

    def pick_by(wanted: Hashable) -> Callable[[Json], Json]:
        return lambda value: _find(_items(value, field), wanted, key)

    def put(item: Item) -> ItemEdit:
        entry = _json(item)
        wanted = key(entry)
        return ItemEdit(
            section,
            f"config.{name}.put",
            target_type,
            _target(wanted),
            lambda value: _with_items(value, field, _put(_items(value, field), entry, key)),
            pick_by(wanted),
        )

    def delete(wanted: Hashable, what: str) -> ItemEdit:
        return ItemEdit(
            section,
            f"config.{name}.delete",
            target_type,
            _target(wanted),
            lambda value: _with_items(
                value, field, _delete(_items(value, field), wanted, key, what)
            ),
            pick_by(wanted),
        )

    return put, delete


def _target(key: Hashable) -> str:
    if isinstance(key, tuple):
        return "/".join("*" if part is None else str(part) for part in key)
    return str(key)


def _rule_key(rule: Json) -> Hashable:
    return (_text(rule.get("target_id")), _text(rule.get("kind")))


def _type_key(rule: Json) -> Hashable:
    return (_text(rule.get("channel_type")), _text(rule.get("kind")))


def _by(field: str) -> Callable[[Json], Hashable]:
    return lambda entry: _text(entry.get(field))


_put_rule, _delete_rule = _list_edits(
    Section.MULTIPLIERS, "channel_rules", _rule_key, "channel_rule"
)
_put_type, _delete_type = _list_edits(
    Section.MULTIPLIERS, "channel_type_defaults", _type_key, "channel_type_default"
)
_put_achievement, _delete_achievement = _list_edits(
    Section.ACHIEVEMENTS, None, _by("id"), "achievement"
)
_put_window, _delete_window = _list_edits(Section.SEASONS, "windows", _by("id"), "season")


def put_channel_rule(rule: ChannelRule | Mapping[str, Any]) -> ItemEdit:
    """Set the multiplier of a channel (or thread parent or category) for a kind or all."""
    return _put_rule(rule)


def delete_channel_rule(target_id: str, kind: str | None = None) -> ItemEdit:
    """Remove the rule of ``target_id`` for ``kind`` (None: the all-kinds rule)."""
    what = f"channel rule for {target_id} / {_text(kind) or 'every kind'}"
    return _delete_rule((target_id, _text(kind)), what)


def put_channel_type_default(default: ChannelTypeDefault | Mapping[str, Any]) -> ItemEdit:
    """Set the multiplier of every channel of a type, for a kind or all kinds."""
    return _put_type(default)


def delete_channel_type_default(channel_type: str, kind: str | None = None) -> ItemEdit:
    """Remove the default of ``channel_type`` for ``kind`` (None: the all-kinds default)."""
    what = f"channel-type default for {_text(channel_type)} / {_text(kind) or 'every kind'}"
    return _delete_type((_text(channel_type), _text(kind)), what)


def put_achievement(achievement: AchievementConfig | Mapping[str, Any]) -> ItemEdit:
    """Create an achievement, or replace the one with the same id."""
    return _put_achievement(achievement)


def delete_achievement(achievement_id: str) -> ItemEdit:
    """Remove an achievement (members who earned it keep it in their history)."""
    return _delete_achievement(achievement_id, f"achievement {achievement_id!r}")


def put_catalog_entry(
    entry: CategoryEntry | RarityEntry | SeriesEntry | Mapping[str, Any],
    kind: CatalogKind | None = None,
) -> ItemEdit:
    """Create or replace a category, rarity or series (``kind`` needed for a mapping)."""
    found = kind or (_CATALOG_KINDS.get(type(entry)) if isinstance(entry, BaseModel) else None)
    if found is None:
        raise ConfigInvalid([(("catalog",), "say which catalog list the entry belongs to")])
    put, _ = _catalog(found)
    return put(entry)


def delete_catalog_entry(kind: CatalogKind, key: str) -> ItemEdit:
    """Remove a catalog entry; one an achievement still uses is refused by validation."""
    _, delete = _catalog(kind)
    return delete(key, f"achievement {_CATALOG_TARGETS[kind].split('_')[1]} {key!r}")


def _catalog(
    kind: CatalogKind,
) -> tuple[Callable[[Item], ItemEdit], Callable[[Hashable, str], ItemEdit]]:
    target = _CATALOG_TARGETS[kind]
    return _list_edits(Section.CATALOG, kind.value, _by("key"), target, f"catalog.{target}")


def _multipliers_edit(
    action: str,
    target_type: str,
    target_id: str | None,
    field: str,
    change: Callable[[Json], Json],
) -> ItemEdit:
    def transform(value: Json) -> Json:
        return {**value, field: change(value.get(field))}

    def pick(value: Json) -> Json:
        found = value.get(field)
        return sorted(found) if isinstance(found, list) else found

    return ItemEdit(
        Section.MULTIPLIERS, f"config.{action}", target_type, target_id, transform, pick
    )


def put_role_multiplier(role_id: str, multiplier: float) -> ItemEdit:
    """Set the multiplier of a role (how several roles combine is `set_role_combine`)."""

    def change(roles: Json) -> Json:
        return {**(roles or {}), role_id: multiplier}

    edit = _multipliers_edit(
        "role_multiplier.put", "role_multiplier", role_id, "role_multipliers", change
    )
    return _narrow(edit, lambda roles: (roles or {}).get(role_id))


def delete_role_multiplier(role_id: str) -> ItemEdit:
    """Remove a role's multiplier (the role then counts as 1x)."""

    def change(roles: Json) -> Json:
        if role_id not in (roles or {}):
            raise NotFound(f"There is no multiplier for role {role_id}.")
        return {key: value for key, value in roles.items() if key != role_id}

    edit = _multipliers_edit(
        "role_multiplier.delete", "role_multiplier", role_id, "role_multipliers", change
    )
    return _narrow(edit, lambda roles: (roles or {}).get(role_id))


def set_role_combine(mode: RoleCombine | str) -> ItemEdit:
    """How a member's several role multipliers combine (the highest, or their product)."""
    value = _text(mode)
    return _multipliers_edit(
        "role_combine.set", "role_combine", None, "role_combine", lambda _old: value
    )


def add_no_reward_channel(channel_id: str) -> ItemEdit:
    """Make a channel earn nothing (already listed: nothing changes)."""
    return _set_member("no_reward_channels", "no_reward_channel", channel_id, add=True)


def remove_no_reward_channel(channel_id: str) -> ItemEdit:
    """Let a no-reward channel earn again."""
    return _set_member("no_reward_channels", "no_reward_channel", channel_id, add=False)


def add_no_reward_role(role_id: str) -> ItemEdit:
    """Make members with a role earn nothing (already listed: nothing changes)."""
    return _set_member("no_reward_roles", "no_reward_role", role_id, add=True)


def remove_no_reward_role(role_id: str) -> ItemEdit:
    """Let members with a role earn again."""
    return _set_member("no_reward_roles", "no_reward_role", role_id, add=False)


def _set_member(field: str, target_type: str, member: str, *, add: bool) -> ItemEdit:
    def change(current: Json) -> Json:
        found = set(current or ())
        if add:
            return sorted(found | {member})
        if member not in found:
            raise NotFound(f"{member} is not in {field.replace('_', ' ')}.")
        return sorted(found - {member})

    verb = "add" if add else "remove"
    edit = _multipliers_edit(f"{target_type}.{verb}", target_type, member, field, change)
    return _narrow(edit, lambda listed: member in (listed or ()))


def _narrow(edit: ItemEdit, narrow: Callable[[Json], Json]) -> ItemEdit:
    """The same edit whose audit before/after show only the edited entry."""
    pick = edit.pick
    return replace(edit, pick=lambda value: narrow(pick(value)))


def add_season_window(window: SeasonWindowConfig | Mapping[str, Any]) -> ItemEdit:
    """Schedule an explicit season, or replace the one with the same id (the audit entry
    shows the old window); overlaps and a recurring schedule are refused by validation."""
    return _put_window(window)


def delete_season_window(season_id: str) -> ItemEdit:
    """Remove an explicit season window."""
    return _delete_window(season_id, f"season {season_id!r}")


def end_current_season(now: int | datetime) -> ItemEdit:
    """End the explicit season running at ``now`` (the caller's clock), effective at ``now``.

    ``now`` comes from the caller so the service has no clock: tests, imports and replays
    decide what "now" is.
    """
    at = int(now.timestamp()) if isinstance(now, datetime) else now
    current: dict[str, str] = {}

    def transform(value: Json) -> Json:
        if value.get("recurring") is not None:
            message = "seasons follow a recurring schedule; change or clear the schedule instead"
            raise ConfigInvalid([(("rules", "seasons", "recurring"), message)])
        windows = list(value.get("windows") or [])
        running = next((w for w in windows if w["starts_at"] <= at < w["ends_at"]), None)
        if running is None:
            raise NotFound("No season is running now.")
        current["id"] = running["id"]
        ended = [{**w, "ends_at": at} if w is running else w for w in windows]
        return {**value, "windows": ended}

    def pick(value: Json) -> Json:
        return _find(list(value.get("windows") or []), current.get("id"), _by("id"))

    return ItemEdit(
        Section.SEASONS,
        "config.season.end",
        "season",
        None,
        transform,
        pick,
        resolve_target=lambda: current.get("id"),
    )


def set_season_schedule(recurring: RecurringSeasons | Mapping[str, Any] | None) -> ItemEdit:
    """Set the recurring schedule, or clear it with None (explicit windows are refused)."""
    schedule = None if recurring is None else _json(recurring)
    verb = "clear" if schedule is None else "set"
    return ItemEdit(
        Section.SEASONS,
        f"config.season_schedule.{verb}",
        "season_schedule",
        None,
        lambda value: {**value, "recurring": schedule},
        lambda value: value.get("recurring"),
    )

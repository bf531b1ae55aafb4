"""A community's engagement configuration as it is stored, edited, exported and imported.

One validated document per community: the rules (`townsquare.core.CommunityConfig`, what
the engine compiles) plus the achievement catalog (categories, rarities and series with
their display names and colours, which the rules only reference by key). Keeping the whole
configuration in one document means every edit is validated as a whole, cross-field rules
included, before anything changes — the predecessor spread it over tables and a settings UI
that edited keys nothing read.

The document is divided into *sections*; each has its own version so that two admins
editing different sections do not conflict, while two editing the same one do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from townsquare.core import CommunityConfig
from townsquare.core.kinds import Rarity
from townsquare.errors import ConfigInvalid

FORMAT: Literal[1] = 1
_KEY = r"^[a-z0-9_.-]{1,50}$"


class Section(StrEnum):
    """The independently versioned parts of a community configuration."""

    BASE_REWARDS = "base_rewards"
    MULTIPLIERS = "multipliers"
    QUALITY = "quality"
    ANTI_GAMING = "anti_gaming"
    LEVELS = "levels"
    ACHIEVEMENTS = "achievements"
    SEASONS = "seasons"
    GENERAL = "general"
    CATALOG = "catalog"
    ANNOUNCEMENTS = "announcements"


#: The `CommunityConfig` fields each rules section holds (GENERAL gathers the loose ones).
RULE_FIELDS: dict[Section, tuple[str, ...]] = {
    Section.BASE_REWARDS: ("base_rewards",),
    Section.MULTIPLIERS: ("multipliers",),
    Section.QUALITY: ("quality",),
    Section.ANTI_GAMING: ("anti_gaming",),
    Section.LEVELS: ("levels",),
    Section.ACHIEVEMENTS: ("achievements",),
    Section.SEASONS: ("seasons",),
    Section.GENERAL: ("day_offset_minutes", "allow_negative"),
}


#: Sections that are top-level fields of the document rather than parts of the rules.
DOCUMENT_FIELDS: dict[Section, str] = {
    Section.CATALOG: "catalog",
    Section.ANNOUNCEMENTS: "announcements",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CategoryEntry(_Frozen):
    """An achievement category, in the order the gallery shows them."""

    key: str = Field(pattern=_KEY)
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    position: int = Field(default=0, ge=0, le=10_000)


class RarityEntry(_Frozen):
    """An achievement rarity with its display colour."""

    key: str = Field(pattern=r"^[a-z0-9_.-]{1,32}$")
    name: str = Field(min_length=1, max_length=100)
    color: str = Field(default="#808080", pattern=r"^#[0-9a-fA-F]{6}$")
    position: int = Field(default=0, ge=0, le=10_000)


class SeriesEntry(_Frozen):
    """A tiered achievement series (tier n needs tier n-1)."""

    key: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)


_DEFAULT_RARITIES = (
    RarityEntry(key=Rarity.COMMON, name="Common", color="#9e9e9e", position=0),
    RarityEntry(key=Rarity.UNCOMMON, name="Uncommon", color="#4caf50", position=1),
    RarityEntry(key=Rarity.RARE, name="Rare", color="#2196f3", position=2),
    RarityEntry(key=Rarity.EPIC, name="Epic", color="#9c27b0", position=3),
    RarityEntry(key=Rarity.LEGENDARY, name="Legendary", color="#ff9800", position=4),
)


class AchievementCatalog(_Frozen):
    """Categories, rarities and series that achievements refer to by key."""

    categories: tuple[CategoryEntry, ...] = Field(
        default=(CategoryEntry(key="general", name="General"),), max_length=200
    )
    rarities: tuple[RarityEntry, ...] = Field(default=_DEFAULT_RARITIES, max_length=50)
    series: tuple[SeriesEntry, ...] = Field(default=(), max_length=500)

    @model_validator(mode="after")
    def _unique_keys(self) -> Self:
        for name in ("categories", "rarities", "series"):
            keys = [entry.key for entry in getattr(self, name)]
            duplicates = sorted({key for key in keys if keys.count(key) > 1})
            if duplicates:
                raise ValueError(f"{name} keys must be unique; repeated: {', '.join(duplicates)}")
        return self


class AnnouncementMode(StrEnum):
    """Where level-ups and unlocks are announced on chat platforms."""

    OFF = "off"
    CHANNEL = "channel"  # in ``channel_id``
    IN_PLACE = "in_place"  # where the member was active


class AnnouncementSettings(_Frozen):
    """How the bots tell a community about level-ups and achievements.

    Throttled per community (``per_minute``); what is over the limit is dropped, not
    queued, so a burst never turns into minutes of stale messages. Members can opt out.
    """

    mode: AnnouncementMode = AnnouncementMode.IN_PLACE
    channel_id: str | None = Field(default=None, min_length=1, max_length=64)
    level_ups: bool = True
    achievements: bool = True
    per_minute: int = Field(default=10, ge=1, le=120)

    @model_validator(mode="after")
    def _channel_when_needed(self) -> Self:
        if self.mode is AnnouncementMode.CHANNEL and self.channel_id is None:
            raise ValueError("mode 'channel' needs a channel_id")
        return self


class CommunityConfigDocument(_Frozen):
    """Everything an admin configures about a community's engagement economy."""

    format: Literal[1] = FORMAT
    rules: CommunityConfig = CommunityConfig()
    catalog: AchievementCatalog = AchievementCatalog()
    announcements: AnnouncementSettings = AnnouncementSettings()

    @classmethod
    def covering(cls, rules: CommunityConfig) -> CommunityConfigDocument:
        """A document with ``rules`` and a catalog naming every category, rarity and series
        they use (the defaults plus the rest, titled from their keys)."""
        default = AchievementCatalog()
        used_categories = {a.category for a in rules.achievements}
        used_rarities = {a.rarity for a in rules.achievements}
        used_series = {a.series for a in rules.achievements if a.series is not None}
        known_categories = {entry.key for entry in default.categories}
        known_rarities = {entry.key for entry in default.rarities}
        categories = default.categories + tuple(
            CategoryEntry(key=key, name=_title(key), position=len(default.categories) + i)
            for i, key in enumerate(sorted(used_categories - known_categories))
        )
        rarities = default.rarities + tuple(
            RarityEntry(key=key, name=_title(key), position=len(default.rarities) + i)
            for i, key in enumerate(sorted(used_rarities - known_rarities))
        )
        series = tuple(SeriesEntry(key=key, name=_title(key)) for key in sorted(used_series))
        catalog = AchievementCatalog(categories=categories, rarities=rarities, series=series)
        return cls(rules=rules, catalog=catalog)

    def section(self, section: Section) -> Any:
        """The JSON value of one section, as audit entries and exports show it."""
        if section in DOCUMENT_FIELDS:
            value: BaseModel = getattr(self, DOCUMENT_FIELDS[section])
            return value.model_dump(mode="json")
        dumped = self.rules.model_dump(mode="json", include=set(RULE_FIELDS[section]))
        fields = RULE_FIELDS[section]
        return dumped[fields[0]] if len(fields) == 1 else dumped

    def with_section(self, section: Section, value: Any) -> dict[str, Any]:
        """The raw document with one section replaced by ``value`` (validate it next)."""
        raw = self.model_dump(mode="json")
        if section in DOCUMENT_FIELDS:
            raw[DOCUMENT_FIELDS[section]] = value
            return raw
        fields = RULE_FIELDS[section]
        if len(fields) == 1:
            raw["rules"][fields[0]] = value
        else:
            if not isinstance(value, Mapping):
                raise ConfigInvalid([((section.value,), "must be an object")])
            unknown = sorted(set(value) - set(fields))
            if unknown:
                raise ConfigInvalid([((section.value, unknown[0]), "unknown setting")])
            raw["rules"].update(value)
        return raw


def _title(key: str) -> str:
    return key.replace("-", " ").replace("_", " ").capitalize()


def channel_references(rules: CommunityConfig) -> Iterable[tuple[tuple[str | int, ...], str]]:
    """Every channel id the rules name, with where it is named (for "unknown channel")."""
    for index, rule in enumerate(rules.multipliers.channel_rules):
        yield ("rules", "multipliers", "channel_rules", index, "target_id"), rule.target_id
    for channel_id in sorted(rules.multipliers.no_reward_channels):
        yield ("rules", "multipliers", "no_reward_channels"), channel_id
    for channel_id in sorted(rules.anti_gaming.afk_channel_ids):
        yield ("rules", "anti_gaming", "afk_channel_ids"), channel_id


def document_channel_references(
    document: CommunityConfigDocument,
) -> Iterable[tuple[tuple[str | int, ...], str]]:
    """Every channel id the whole document names: the rules' and the announcement channel."""
    yield from channel_references(document.rules)
    if document.announcements.channel_id is not None:
        yield ("announcements", "channel_id"), document.announcements.channel_id


def parse_document(
    raw: Mapping[str, Any], known_channels: frozenset[str] | None = None
) -> CommunityConfigDocument:
    """Validate a raw document completely, or raise `ConfigInvalid` listing every problem.

    ``known_channels`` are the community's channel ids; when given, rules naming any other
    channel are rejected (a typo in a channel id would otherwise silently do nothing).
    """
    try:
        document = CommunityConfigDocument.model_validate(raw)
    except ValidationError as exc:
        raise ConfigInvalid(
            [(tuple(error["loc"]), error["msg"]) for error in exc.errors(include_url=False)]
        ) from None
    problems = reference_problems(document, known_channels)
    if problems:
        raise ConfigInvalid(problems)
    return document


def reference_problems(
    document: CommunityConfigDocument, known_channels: frozenset[str] | None
) -> list[tuple[tuple[str | int, ...], str]]:
    """Achievements naming catalog entries that do not exist, rules naming unknown channels."""
    catalog = document.catalog
    categories = {entry.key for entry in catalog.categories}
    rarities = {entry.key for entry in catalog.rarities}
    series = {entry.key for entry in catalog.series}
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for index, achievement in enumerate(document.rules.achievements):
        where = ("rules", "achievements", index)
        if achievement.category not in categories:
            problems.append(((*where, "category"), f"unknown category {achievement.category!r}"))
        if achievement.rarity not in rarities:
            problems.append(((*where, "rarity"), f"unknown rarity {achievement.rarity!r}"))
        if achievement.series is not None and achievement.series not in series:
            problems.append(((*where, "series"), f"unknown series {achievement.series!r}"))
    if known_channels is not None:
        for loc, channel_id in document_channel_references(document):
            if channel_id not in known_channels:
                problems.append((loc, f"unknown channel {channel_id!r}"))
    return problems

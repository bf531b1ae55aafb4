"""Reading and editing a community's configuration, with optimistic concurrency and audit.

Every change follows one path (`_change`): lock the community's configuration row (FOR
UPDATE, so two edits of one community are serialised), compare the version the edit was
based on with the current one (a stale edit gets `ConfigConflict`, never a silent
overwrite), build the new raw document, validate all of it (`parse_document`: ranges,
cross-field rules, catalog references, unknown channels), save it — which bumps the
versions and queues the NOTIFY — and write one audit entry. All of it on the caller's
session, flushed but not committed: the change, its audit entry and its NOTIFY commit or
roll back together. Validation happens before the first write, so a rejected change
leaves nothing behind, not even in the caller's transaction.

Optimistic concurrency is per section: two admins editing different sections both
succeed; two editing the same one conflict. An edit that changes nothing returns the
current state without bumping a version, notifying caches or writing an audit entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.config.document import (
    DOCUMENT_FIELDS,
    RULE_FIELDS,
    CommunityConfigDocument,
    Section,
    document_channel_references,
    parse_document,
)
from townsquare.errors import ConfigConflict, ConfigInvalid
from townsquare.services.audit import Actor, record
from townsquare.services.community_config.edits import ItemEdit
from townsquare.services.community_config.schemas import ConfigOut, ConfigSectionOut
from townsquare.store.config_documents import (
    StoredConfig,
    known_channels,
    read_config,
    save_document,
)

log = structlog.get_logger(__name__)


async def get_config(session: AsyncSession, community_id: int) -> ConfigOut:
    """The whole configuration with its versions (`NotFound` for an unknown community)."""
    stored = await read_config(session, community_id)
    return _config_out(stored, _document(stored))


async def get_section(
    session: AsyncSession, community_id: int, section: Section
) -> ConfigSectionOut:
    """One section and the version an edit of it must quote."""
    stored = await read_config(session, community_id)
    return _section_out(stored, _document(stored), section)


async def replace_section(
    session: AsyncSession,
    actor: Actor,
    community_id: int,
    section: Section,
    value: Any,
    *,
    expected_version: int,
    reason: str | None = None,
) -> ConfigSectionOut:
    """Replace one settings section (``value`` is its JSON, as `get_section` returns it).

    ``expected_version`` is the section version the admin's form was loaded at.
    """
    return await _change(
        session,
        actor,
        community_id,
        section,
        expected_version=expected_version,
        reason=reason,
        action=f"config.{section.value}.replace",
        target=("config_section", lambda: section.value),
        transform=lambda _current: value,
        pick=lambda current: current,
    )


async def apply_edit(
    session: AsyncSession,
    actor: Actor,
    community_id: int,
    edit: ItemEdit,
    *,
    expected_version: int,
    reason: str | None = None,
) -> ConfigSectionOut:
    """Apply one item edit built by `townsquare.services.community_config.edits`.

    ``expected_version`` is the version of the section the edit touches (``edit.section``).
    Raises `ConfigConflict`, `ConfigInvalid` (with field locations) or `NotFound` (deleting
    something that is not there); in every case nothing was written.
    """
    return await _change(
        session,
        actor,
        community_id,
        edit.section,
        expected_version=expected_version,
        reason=reason,
        action=edit.action,
        target=(edit.target_type, edit.target),
        transform=edit.transform,
        pick=edit.pick,
    )


async def replace_document(
    session: AsyncSession,
    actor: Actor,
    community_id: int,
    raw: Mapping[str, Any],
    *,
    expected_version: int | None,
    reason: str | None = None,
) -> ConfigOut:
    """Replace the whole document (``townsquare config import``), all or nothing.

    ``expected_version`` is the ``config_version`` the document was exported at, or None
    to overwrite whatever is there (importing into another instance). The new document is
    validated completely before anything changes; every section that differs gets a new
    version; one audit entry records the changed sections before and after.
    """
    stored = await read_config(session, community_id, for_update=True)
    if expected_version is not None and expected_version != stored.version:
        raise ConfigConflict(
            f"The configuration changed since version {expected_version} (it is now at "
            f"version {stored.version}); export it again and reapply your changes.",
            stored.version,
        )
    old = _document_or_none(stored)
    new = parse_document(raw, await _channels(session, community_id, old))
    changed = [section for section in Section if old is None or not _same(old, new, section)]
    if not changed:
        assert old is not None
        return _config_out(stored, old)
    saved = await save_document(session, stored, new, changed)
    await record(
        session,
        actor,
        community_id,
        "config.import",
        "config",
        None,
        None if old is None else {section.value: old.section(section) for section in changed},
        {section.value: new.section(section) for section in changed},
        reason,
    )
    log.info("config_imported", community=community_id, sections=[s.value for s in changed])
    return _config_out(saved, new)


async def _change(
    session: AsyncSession,
    actor: Actor,
    community_id: int,
    section: Section,
    *,
    expected_version: int,
    reason: str | None,
    action: str,
    target: tuple[str, Callable[[], str | None]],
    transform: Callable[[Any], Any],
    pick: Callable[[Any], Any],
) -> ConfigSectionOut:
    """Read FOR UPDATE, check the version, apply, validate, save, audit: every edit's path."""
    stored = await read_config(session, community_id, for_update=True)
    current_version = stored.section_version(section)
    if current_version != expected_version:
        raise ConfigConflict(
            f"The {section.value} settings changed since version {expected_version} (they "
            f"are now at version {current_version}); reload them and apply your change again.",
            current_version,
        )
    old = _document(stored)
    before_value = old.section(section)
    raw = old.with_section(section, transform(before_value))
    new = parse_document(raw, await _channels(session, community_id, old))
    if _same(old, new, section):
        return _section_out(stored, old, section)
    saved = await save_document(session, stored, new, [section])
    after_value = new.section(section)
    target_type, target_id = target
    await record(
        session,
        actor,
        community_id,
        action,
        target_type,
        target_id(),
        pick(before_value),
        pick(after_value),
        reason,
    )
    log.info("config_changed", community=community_id, action=action, section=section.value)
    return _section_out(saved, new, section)


async def _channels(
    session: AsyncSession, community_id: int, old: CommunityConfigDocument | None
) -> frozenset[str]:
    """Channels a rule may name: the community's, plus any the stored rules already name.

    A channel the stored configuration already names stays acceptable (it may come from an
    import, or predate the channel's first event): refusing it would block every later edit
    of unrelated settings. Only channels an edit newly introduces must be known.
    """
    known = await known_channels(session, community_id)
    if old is None:
        return known
    return known | {channel_id for _loc, channel_id in document_channel_references(old)}


def _same(old: CommunityConfigDocument, new: CommunityConfigDocument, section: Section) -> bool:
    """Whether a section is unchanged, compared as models (set order does not matter)."""
    if section in DOCUMENT_FIELDS:
        field = DOCUMENT_FIELDS[section]
        return bool(getattr(old, field) == getattr(new, field))
    fields = RULE_FIELDS[section]
    return all(getattr(old.rules, name) == getattr(new.rules, name) for name in fields)


def _document_or_none(stored: StoredConfig) -> CommunityConfigDocument | None:
    try:
        return stored.document()
    except ValidationError as exc:
        log.warning(
            "stored_config_invalid", community=stored.community_id, errors=exc.error_count()
        )
        return None


def _document(stored: StoredConfig) -> CommunityConfigDocument:
    """The stored document; a stored document that no longer validates is reported, so the
    admin knows to repair it with a whole-document import rather than item edits."""
    try:
        return stored.document()
    except ValidationError as exc:
        raise ConfigInvalid(
            [(tuple(error["loc"]), error["msg"]) for error in exc.errors(include_url=False)]
        ) from None


def _section_out(
    stored: StoredConfig, document: CommunityConfigDocument, section: Section
) -> ConfigSectionOut:
    return ConfigSectionOut(
        community_id=stored.community_id,
        config_version=stored.version,
        section=section,
        section_version=stored.section_version(section),
        value=document.section(section),
    )


def _config_out(stored: StoredConfig, document: CommunityConfigDocument) -> ConfigOut:
    return ConfigOut(
        community_id=stored.community_id,
        config_version=stored.version,
        section_versions={section: stored.section_version(section) for section in Section},
        document=document.model_dump(mode="json"),
    )

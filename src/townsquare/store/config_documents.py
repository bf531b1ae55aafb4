"""Reading and writing community configuration documents (SQL only; no rules here).

Reads take any SQLAlchemy async connection or session, so the config cache (its own small
engine) and the admin services (the caller's unit of work) read the same way. Writes go
through `save_document`, which also moves ``communities.config_version`` and queues the
NOTIFY on the caller's session: it is sent inside the same transaction, so listeners hear
of a change exactly when it commits, and never of one that rolled back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from townsquare.config.document import CommunityConfigDocument, Section
from townsquare.errors import NotFound
from townsquare.store.models import Channel, Community, CommunitySettings
from townsquare.store.notify import NotifyChannel, queue_notify


@dataclass(frozen=True, slots=True)
class StoredConfig:
    """A community's document as stored, with its versions.

    ``raw`` is the document exactly as stored; ``version`` is ``communities.config_version``
    (moves with every change); ``section_versions`` the version of each section (a section
    never edited is at version 0).
    """

    community_id: int
    version: int
    raw: dict[str, Any]
    section_versions: dict[str, int] = field(default_factory=dict)

    def section_version(self, section: Section) -> int:
        return int(self.section_versions.get(section.value, 0))

    def document(self) -> CommunityConfigDocument:
        """The validated document (raises pydantic's ValidationError if the row is bad)."""
        return CommunityConfigDocument.model_validate(self.raw)


async def read_config(
    db: AsyncConnection | AsyncSession, community_id: int, *, for_update: bool = False
) -> StoredConfig:
    """One community's configuration; ``for_update`` locks it until the transaction ends.

    A community that was never configured has the default document at version 0 of every
    section. Raises `NotFound` for a community that does not exist.
    """
    query = (
        select(
            Community.config_version, CommunitySettings.settings, CommunitySettings.section_versions
        )
        .outerjoin(CommunitySettings, CommunitySettings.community_id == Community.id)
        .where(Community.id == community_id)
    )
    if for_update:
        query = query.with_for_update(of=Community)
    row = (await db.execute(query)).one_or_none()
    if row is None:
        raise NotFound(f"Community {community_id} does not exist.")
    version, raw, sections = row
    return StoredConfig(
        community_id, int(version), dict(raw) if raw else {"format": 1}, dict(sections or {})
    )


async def read_versions(
    db: AsyncConnection | AsyncSession, community_ids: Iterable[int] | None = None
) -> dict[int, int]:
    """``config_version`` of the given communities (all when None): what polling compares."""
    query = select(Community.id, Community.config_version)
    if community_ids is not None:
        query = query.where(Community.id.in_(list(community_ids)))
    return {int(cid): int(version) for cid, version in (await db.execute(query)).all()}


async def known_channels(db: AsyncConnection | AsyncSession, community_id: int) -> frozenset[str]:
    """The platform ids of a community's channels (deleted ones included: rules may outlive
    a channel, and a channel re-created with the same id picks its rules up again)."""
    rows = await db.execute(select(Channel.external_id).where(Channel.community_id == community_id))
    return frozenset(rows.scalars())


async def save_document(
    session: AsyncSession,
    stored: StoredConfig,
    document: CommunityConfigDocument,
    sections: Iterable[Section],
) -> StoredConfig:
    """Store ``document`` as the community's configuration and announce the change.

    ``stored`` is what the caller read (with ``for_update=True``) and based the change on;
    the versions of ``sections`` move by one, ``config_version`` too. Flushes, never
    commits: the caller owns the transaction, and the NOTIFY goes out with its commit.
    """
    changed = sorted({section.value for section in sections})
    section_versions = dict(stored.section_versions)
    for name in changed:
        section_versions[name] = int(section_versions.get(name, 0)) + 1
    raw = document.model_dump(mode="json")
    await session.execute(
        insert(CommunitySettings)
        .values(community_id=stored.community_id, settings=raw, section_versions=section_versions)
        .on_conflict_do_update(
            index_elements=[CommunitySettings.community_id],
            set_={
                "settings": raw,
                "section_versions": section_versions,
                "updated_at": text("now()"),
            },
        )
    )
    version = (
        await session.execute(
            update(Community)
            .where(Community.id == stored.community_id)
            .values(config_version=Community.config_version + 1)
            .returning(Community.config_version)
        )
    ).scalar_one()
    queue_notify(
        session,
        NotifyChannel.CONFIG,
        {"community": stored.community_id, "version": int(version), "sections": changed},
    )
    await session.flush()
    return StoredConfig(stored.community_id, int(version), raw, section_versions)

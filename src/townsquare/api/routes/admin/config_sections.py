"""The community configuration as a whole and by section, and whole-document import.

Reads carry an ``ETag`` (the config or section version), so a client can send it back as
``If-Match`` with its change. Every change goes through the configuration service, which
validates the whole resulting document before writing anything (422 with field-level
``errors``) and refuses a stale version (409 with ``current_version``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from townsquare.api.deps import Session
from townsquare.api.routes.admin.common import (
    CHANGE_ERRORS,
    READ_ERRORS,
    TEXT,
    ChangeBody,
    Configurer,
    IfMatch,
    Reader,
    etag,
    example,
    expected_version,
    parse_if_match,
    storable,
)
from townsquare.config.document import Section
from townsquare.services.community_config import (
    ConfigOut,
    ConfigSectionOut,
    get_config,
    get_section,
    replace_document,
    replace_section,
)

router = APIRouter(prefix="/config", tags=["admin: configuration"])

_SECTION_EXAMPLE = {
    "community_id": 1,
    "config_version": 7,
    "section": "base_rewards",
    "section_version": 3,
    "value": {"message": {"xp": 15, "stars": 0, "gold": 1}},
}
_CONFIG_EXAMPLE = {
    "community_id": 1,
    "config_version": 7,
    "section_versions": {"base_rewards": 3, "multipliers": 2, "catalog": 0},
    "document": {"format": 1, "rules": {"base_rewards": {}}, "catalog": {}},
}


class SectionReplacement(ChangeBody):
    """A whole section's new value, as `GET` returned it (edited)."""

    value: Any = Field(description="The section's JSON value, as the GET of the section shows.")

    @field_validator("value")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return storable(value, ("value",))


class DocumentImport(BaseModel):
    """A whole configuration document (``townsquare config export`` writes one)."""

    model_config = ConfigDict(extra="forbid")

    document: dict[str, Any] = Field(description="The configuration document to install.")
    expected_version: int | None = Field(
        default=None,
        ge=0,
        description="The config_version it was exported at; omit (and no If-Match) to "
        "overwrite whatever is there, as when moving a community between instances.",
    )
    reason: str | None = Field(default=None, max_length=500, pattern=TEXT)

    @field_validator("document")
    @classmethod
    def _storable(cls, value: dict[str, Any]) -> dict[str, Any]:
        return storable(value, ("document",))  # type: ignore[no-any-return]


@router.get(
    "",
    response_model=ConfigOut,
    summary="The whole configuration document with every section's version",
    responses={**READ_ERRORS, **example(_CONFIG_EXAMPLE)},
)
async def read_config(
    community_id: int, session: Session, _caller: Reader, response: Response
) -> ConfigOut:
    config = await get_config(session, community_id)
    response.headers["ETag"] = etag(config.config_version)
    return config


@router.get(
    "/sections/{section}",
    response_model=ConfigSectionOut,
    summary="One section and the version a change of it must quote",
    responses={**READ_ERRORS, **example(_SECTION_EXAMPLE)},
)
async def read_section(
    community_id: int, section: Section, session: Session, _caller: Reader, response: Response
) -> ConfigSectionOut:
    found = await get_section(session, community_id, section)
    response.headers["ETag"] = etag(found.section_version)
    return found


@router.put(
    "/sections/{section}",
    response_model=ConfigSectionOut,
    summary="Replace one section (optimistic concurrency on the section's version)",
    responses={**CHANGE_ERRORS, **example(_SECTION_EXAMPLE)},
)
async def put_section(
    community_id: int,
    section: Section,
    body: Annotated[
        SectionReplacement,
        Body(
            openapi_examples={
                "base rewards": {
                    "value": {
                        "value": {"message": {"xp": 20, "gold": 1}},
                        "expected_version": 3,
                        "reason": "double XP week",
                    }
                }
            }
        ),
    ],
    session: Session,
    actor: Configurer,
    response: Response,
    if_match: IfMatch = None,
) -> ConfigSectionOut:
    changed = await replace_section(
        session,
        actor,
        community_id,
        section,
        body.value,
        expected_version=expected_version(body.expected_version, if_match),
        reason=body.reason,
    )
    response.headers["ETag"] = etag(changed.section_version)
    return changed


@router.post(
    "/import",
    response_model=ConfigOut,
    summary="Install a whole configuration document, all or nothing",
    description="The document is validated completely before anything changes; every "
    "section that differs gets a new version and one audit entry lists them.",
    responses={**CHANGE_ERRORS, **example(_CONFIG_EXAMPLE)},
)
async def import_document(
    community_id: int,
    body: Annotated[
        DocumentImport,
        Body(
            openapi_examples={
                "overwrite": {
                    "value": {
                        "document": {"format": 1, "rules": {}, "catalog": {}},
                        "reason": "moved from staging",
                    }
                }
            }
        ),
    ],
    session: Session,
    actor: Configurer,
    response: Response,
    if_match: IfMatch = None,
) -> ConfigOut:
    # Unlike other changes, no version is allowed here: it means "overwrite".
    quoted = body.expected_version is not None or parse_if_match(if_match) is not None
    version = expected_version(body.expected_version, if_match) if quoted else None
    imported = await replace_document(
        session, actor, community_id, body.document, expected_version=version, reason=body.reason
    )
    response.headers["ETag"] = etag(imported.config_version)
    return imported

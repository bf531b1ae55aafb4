"""What the community configuration service returns."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from townsquare.config.document import Section


class ConfigSectionOut(BaseModel):
    """One section after a read or an edit, with the versions the next edit must quote.

    ``section_version`` is what an edit of this section passes as ``expected_version``;
    ``config_version`` moves with every change of any section (caches compare it).
    """

    model_config = ConfigDict(frozen=True)

    community_id: int
    config_version: int
    section: Section
    section_version: int
    value: Any


class ConfigOut(BaseModel):
    """A community's whole configuration document with every section's version."""

    model_config = ConfigDict(frozen=True)

    community_id: int
    config_version: int
    section_versions: dict[Section, int]
    document: dict[str, Any]

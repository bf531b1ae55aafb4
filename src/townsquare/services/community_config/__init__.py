"""Admin edits of a community's configuration: versioned, validated whole, audited.

`service` runs the unit of work; `edits` builds the item-level edits it applies.
"""

from townsquare.services.community_config import edits
from townsquare.services.community_config.edits import CatalogKind, ItemEdit
from townsquare.services.community_config.schemas import ConfigOut, ConfigSectionOut
from townsquare.services.community_config.service import (
    apply_edit,
    get_config,
    get_section,
    replace_document,
    replace_section,
)

__all__ = [
    "CatalogKind",
    "ConfigOut",
    "ConfigSectionOut",
    "ItemEdit",
    "apply_edit",
    "edits",
    "get_config",
    "get_section",
    "replace_document",
    "replace_section",
]

"""The admin audit log: who changed what, from where, and what it looked like before/after."""

from townsquare.services.audit.schemas import (
    Actor,
    ActorType,
    AuditEntryOut,
    AuditFilters,
    AuditPage,
)
from townsquare.services.audit.service import MAX_PAGE, list_entries, record

__all__ = [
    "MAX_PAGE",
    "Actor",
    "ActorType",
    "AuditEntryOut",
    "AuditFilters",
    "AuditPage",
    "list_entries",
    "record",
]

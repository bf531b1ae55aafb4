"""The event lake as admins see it: browsing events, and retention, reconciliation and
backfill run on demand."""

from townsquare.services.lake.backfill import MAX_BACKFILL_BYTES, backfill, read_upload
from townsquare.services.lake.browse import MAX_PAGE, browse_events
from townsquare.services.lake.jobs import run_reconcile, run_retention
from townsquare.services.lake.schemas import (
    BackfillIncomplete,
    BackfillInvalid,
    BackfillOut,
    CommunityBusy,
    LakeEventOut,
    LakeFilters,
    LakePage,
    LakeQueryInvalid,
    ReconcileOut,
    RetentionOut,
)

__all__ = [
    "MAX_BACKFILL_BYTES",
    "MAX_PAGE",
    "BackfillIncomplete",
    "BackfillInvalid",
    "BackfillOut",
    "CommunityBusy",
    "LakeEventOut",
    "LakeFilters",
    "LakePage",
    "LakeQueryInvalid",
    "ReconcileOut",
    "RetentionOut",
    "backfill",
    "browse_events",
    "read_upload",
    "run_reconcile",
    "run_retention",
]

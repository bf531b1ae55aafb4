"""Retention and reconciliation run on demand (the admin API's triggers), audited.

These are thin use cases over `townsquare.pipeline.retention` and `.reconcile`, which do
the work; what they add is the admin's view: the audit entry, the community's lock, and
plain DTOs instead of the pipeline's dataclasses.

Units of work differ by job, and that is deliberate:

* Retention commits per partition on a connection of its own (DETACH + rollup + DROP must
  commit together, one partition at a time), so it cannot join the caller's transaction;
  its audit entry is written on the caller's session after the run.
* Reconciliation runs *in* the caller's transaction: a correction, the community lock it
  needs (transaction-scoped, released at commit) and its audit entry commit together.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from townsquare.config.settings import DatabaseSettings
from townsquare.pipeline.reconcile import DriftReport, DriftSet, reconcile, try_lock_community
from townsquare.pipeline.retention import apply_retention
from townsquare.services.audit import Actor, record
from townsquare.services.lake.community import require_community
from townsquare.services.lake.schemas import (
    CommunityBusy,
    DriftOut,
    ReconcileOut,
    RetentionOut,
)


async def run_retention(
    engine: AsyncEngine,
    session: AsyncSession,
    actor: Actor,
    community_id: int,
    *,
    keep_days: int,
    now: datetime,
    settings: DatabaseSettings,
    reason: str | None = None,
) -> RetentionOut:
    """Apply the instance's retention now; audited in ``community_id``, where it was asked.

    Retention is instance-wide (partitions hold every community's day), so ``keep_days``
    is the operator's policy, never a number a community admin chooses: running it early
    removes nothing the scheduled run would not.
    """
    await require_community(session, community_id)
    report = await apply_retention(engine, keep_days=keep_days, now=now, settings=settings)
    out = RetentionOut(
        keep_days=keep_days,
        cutoff=report.cutoff,
        partitions_dropped=[p.name for p in report.dropped],
        partitions_skipped=list(report.skipped),
        events_removed=report.events_rolled_up,
        rollup_rows=report.rollup_rows,
        bytes_freed=report.bytes_freed,
        day_counters_removed=report.day_counters_removed,
        partitions_created=list(report.partitions_created),
    )
    await record(
        session,
        actor,
        community_id,
        "lake.retention",
        "event_lake",
        None,
        None,
        out.model_dump(mode="json"),
        reason,
    )
    return out


async def run_reconcile(
    session: AsyncSession,
    actor: Actor,
    community_id: int,
    *,
    correct: bool,
    settings: DatabaseSettings,
    reason: str | None = None,
) -> ReconcileOut:
    """Report drift of derived data, and correct it if asked and the community is free.

    Correcting takes the community's lock without waiting; while a running writer owns the
    community that fails with `CommunityBusy` (409) — correcting behind its back would race
    with it. A correction that changed something is audited; a report changes nothing.
    """
    await require_community(session, community_id)
    conn = await session.connection()
    if correct and not await try_lock_community(conn, community_id):
        raise CommunityBusy(
            f"Community {community_id} is being written by a running pipeline; report without "
            "correcting, or correct once that writer has let go of the community."
        )
    report = await reconcile(conn, community_id, correct=correct, settings=settings)
    out = _reconcile_out(report)
    if out.corrected and out.total:
        await record(
            session,
            actor,
            community_id,
            "lake.reconcile.correct",
            "event_lake",
            None,
            None,
            {"drifted_rows": out.total},
            reason,
        )
    return out


def _drift(drift: DriftSet[Any]) -> DriftOut:
    return DriftOut(count=drift.count, examples=[asdict(example) for example in drift.examples])


def _reconcile_out(report: DriftReport) -> ReconcileOut:
    return ReconcileOut(
        community_id=report.community_id,
        balances=_drift(report.balances),
        counters=_drift(report.counters),
        state_balances=_drift(report.state_balances),
        state_counters=_drift(report.state_counters),
        total=report.total,
        corrected=report.corrected and report.has_drift,
    )

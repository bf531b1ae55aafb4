"""Backfill from an uploaded JSONL/CSV file: validated whole, then fed through a pipeline.

The file is read completely before anything is imported (`read_upload`), and every event
must belong to the community the admin may configure — an upload can neither create nor
touch another community. Then the events go through the ingest pipeline like live ones
(same rules, ledger and exactly-once lake), so uploading a file twice counts each event
once, and a failed upload is simply retried.

Which pipeline: the API process's own when it runs one (its writer owns the community, so
a second writer would only wait for it); otherwise a short-lived one, exactly as
``townsquare import events`` does, with its outage spool in a temporary directory. If the
database goes away mid-import the spooled rest is not kept (nobody would replay it):
the upload fails with `BackfillIncomplete` and the admin uploads the file again.
"""

from __future__ import annotations

import asyncio
import csv
import tempfile
from pathlib import Path
from typing import Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from townsquare.config.settings import Settings
from townsquare.core import Event
from townsquare.pipeline.importer import ImportFileError, read_events
from townsquare.pipeline.ingest import Pipeline
from townsquare.pipeline.reconcile import try_lock_community
from townsquare.services.audit import Actor, record
from townsquare.services.lake.community import linked_spaces, require_community
from townsquare.services.lake.schemas import (
    BackfillIncomplete,
    BackfillInvalid,
    BackfillOut,
    CommunityBusy,
)

log = structlog.get_logger(__name__)

#: Largest upload accepted (a bigger history is for ``townsquare import events``).
MAX_BACKFILL_BYTES = 16 * 1024 * 1024
#: Longest an upload's import may take before the request gives up.
BACKFILL_TIMEOUT_SECONDS = 120.0
FileFormat = Literal["jsonl", "csv"]
_SHOWN_PROBLEMS = 5


async def read_upload(body: bytes, file_format: FileFormat) -> list[Event]:
    """Every event of the file, or `BackfillInvalid` naming the first bad line.

    Parsing is CPU work on up to `MAX_BACKFILL_BYTES`, so it runs in a worker thread.
    """
    if not body.strip():
        raise BackfillInvalid("The uploaded file is empty.")
    if len(body) > MAX_BACKFILL_BYTES:
        raise BackfillInvalid(
            f"The file is larger than {MAX_BACKFILL_BYTES >> 20} MiB; split it, or import it "
            "with `townsquare import events`."
        )
    return await asyncio.to_thread(_parse, body, file_format)


def _parse(body: bytes, file_format: FileFormat) -> list[Event]:
    with tempfile.TemporaryDirectory(prefix="townsquare-backfill-") as directory:
        path = Path(directory) / f"upload.{file_format}"
        path.write_bytes(body)
        try:
            return list(read_events(path))
        except ImportFileError as exc:
            raise BackfillInvalid(exc.message.replace(f"{path}:", "line ")) from None
        except (UnicodeDecodeError, csv.Error) as exc:
            raise BackfillInvalid(
                f"The file cannot be read as UTF-8 {file_format}: {exc}"
            ) from None


async def backfill(
    session: AsyncSession,
    engine: AsyncEngine,
    actor: Actor,
    community_id: int,
    events: list[Event],
    *,
    settings: Settings,
    database_url: str,
    pipeline: Pipeline | None = None,
    within_seconds: float = BACKFILL_TIMEOUT_SECONDS,
    reason: str | None = None,
) -> BackfillOut:
    """Import ``events`` into the community (all of them checked to belong to it first)."""
    await require_community(session, community_id)
    await _check_belonging(session, community_id, events)
    if pipeline is not None:
        out = await _through(pipeline, events, within_seconds)
    else:
        out = await _through_own_pipeline(
            engine, community_id, events, settings, database_url, within_seconds
        )
    await record(
        session,
        actor,
        community_id,
        "lake.backfill",
        "event_lake",
        None,
        None,
        out.model_dump(mode="json"),
        reason,
    )
    log.info("lake_backfilled", community=community_id, events=out.events, new=out.new)
    return out


async def _check_belonging(session: AsyncSession, community_id: int, events: list[Event]) -> None:
    spaces = await linked_spaces(session, community_id)
    if not spaces:
        raise BackfillInvalid(
            f"Community {community_id} is linked to no Discord guild or LINE group yet, so no "
            "event can belong to it."
        )
    foreign = [
        f"event {number} ({event.platform.value} {event.community_id})"
        for number, event in enumerate(events, start=1)
        if (event.platform.value, event.community_id) not in spaces
    ]
    if foreign:
        shown = ", ".join(foreign[:_SHOWN_PROBLEMS])
        more = (
            f" and {len(foreign) - _SHOWN_PROBLEMS} more" if len(foreign) > _SHOWN_PROBLEMS else ""
        )
        raise BackfillInvalid(
            f"{len(foreign)} events belong to another community: {shown}{more}. Nothing was "
            "imported."
        )


async def _through(pipeline: Pipeline, events: list[Event], within_seconds: float) -> BackfillOut:
    """Through a running pipeline; its figures move with live traffic too, so the counts
    are what changed while the file went through (at least the file's own)."""
    figures = pipeline.figures
    before = (figures.committed_events, figures.duplicates, figures.failed_events)
    try:
        async with asyncio.timeout(within_seconds):
            await pipeline.ingest_many(events)
            await pipeline.flush()
    except TimeoutError:
        raise BackfillIncomplete(
            f"The import did not finish within {within_seconds:g} s; upload the file again later."
        ) from None
    return BackfillOut(
        events=len(events),
        new=figures.committed_events - before[0],
        duplicates=figures.duplicates - before[1],
        failed=figures.failed_events - before[2],
    )


async def _through_own_pipeline(
    engine: AsyncEngine,
    community_id: int,
    events: list[Event],
    settings: Settings,
    database_url: str,
    within_seconds: float,
) -> BackfillOut:
    """A short-lived pipeline, as ``townsquare import`` runs, if no writer owns the community.

    Checked up front so the admin gets a clear 409 rather than a wait: our writer would
    queue behind the owner until the timeout.
    """
    async with engine.connect() as conn, conn.begin():
        if not await try_lock_community(conn, community_id):
            raise CommunityBusy(
                f"Community {community_id} is owned by a running pipeline in another process; "
                "import the file there (`townsquare import events`) or retry when it stops."
            )
    with tempfile.TemporaryDirectory(prefix="townsquare-backfill-spool-") as spool_dir:
        pipeline_settings = settings.pipeline.model_copy(update={"spool_dir": Path(spool_dir)})
        pipeline = Pipeline(
            database_url, pipeline_settings, settings.database, cache_settings=settings.cache
        )
        await pipeline.start()
        try:
            out = await _through(pipeline, events, within_seconds)
        finally:
            await pipeline.stop(grace_seconds=5)
        figures = pipeline.figures
        if figures.spooled_batches or figures.dead_lettered:
            raise BackfillIncomplete(
                "The database became unreachable during the import, so part of the file was "
                "not imported; upload it again (events already imported are skipped)."
            )
    return out

"""Backfill: events from JSONL or CSV files, and opening balances from other bots.

Imported events go through the same pipeline as live ones, so the same rules, ledger and
exactly-once guarantees apply: importing a file twice, or again after a crash half way,
counts every event once (the event lake refuses what it already has).

Opening balances (e.g. a MEE6-style export: member id, XP, level) become manual awards
whose event id is derived from the file's name and the member, so they are idempotent too;
the level is then computed from the XP by the community's own curve (a level column that
disagrees with the curve is reported, not trusted).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from townsquare.core import Balances, Event, EventKind, ManualMeta, Platform
from townsquare.errors import TownsquareError
from townsquare.pipeline.event_codec import EventFormatError, decode_event

#: CSV columns read as integers / booleans / lists for events.
_INT_COLUMNS = {"at"}
_MESSAGE_COLUMNS = {
    "length": int,
    "links": int,
    "code_blocks": int,
    "attachments": int,
    "emoji": int,
    "fingerprint": int,
    "is_reply": bool,
    "in_thread": bool,
    "text_known": bool,
}
_VOICE_COLUMNS = {"minutes": int, "muted": bool, "deafened": bool, "alone": bool, "afk": bool}
_TRUE = {"1", "true", "yes", "y", "t"}


class ImportFileError(TownsquareError):
    """An import file cannot be read; the message names the file, line and field."""

    code = "import-file-invalid"


@dataclass(frozen=True, slots=True)
class OpeningBalance:
    member_id: str
    xp: int
    stars: int
    gold: int
    level: int | None


def read_events(path: Path) -> Iterator[Event]:
    """Events from a ``.jsonl`` (one event object per line) or ``.csv`` file, validated."""
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        yield from _jsonl(path)
    elif suffix == ".csv":
        yield from _csv(path)
    else:
        raise ImportFileError(f"{path}: use a .jsonl or .csv file (got {suffix or 'no suffix'})")


def _jsonl(path: Path) -> Iterator[Event]:
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ImportFileError(f"{path}:{number}: not JSON ({exc.msg})") from None
            try:
                yield decode_event(doc)
            except EventFormatError as exc:
                raise ImportFileError(f"{path}:{number}: {exc}") from None


def _cell(kind: type, value: str) -> Any:
    if kind is bool:
        return value.strip().lower() in _TRUE
    try:
        return int(value)
    except ValueError:
        return value  # decode_event names the field and the bad value


def _csv(path: Path) -> Iterator[Event]:
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file)
        for number, row in enumerate(reader, start=2):
            doc: dict[str, Any] = {}
            message: dict[str, Any] = {}
            voice: dict[str, Any] = {}
            for name, raw in row.items():
                if name is None or raw is None or raw == "":
                    continue
                if name in _MESSAGE_COLUMNS:
                    message[name] = _cell(_MESSAGE_COLUMNS[name], raw)
                elif name in _VOICE_COLUMNS:
                    voice[name] = _cell(_VOICE_COLUMNS[name], raw)
                elif name in ("roles", "target_roles"):
                    doc[name] = [part for part in raw.split(";") if part]
                elif name in _INT_COLUMNS:
                    doc[name] = _cell(int, raw)
                else:
                    doc[name] = raw
            if message:
                doc["message"] = message
            if voice:
                doc["voice"] = voice
            try:
                yield decode_event(doc)
            except EventFormatError as exc:
                raise ImportFileError(f"{path}:{number}: {exc}") from None


def read_opening_balances(path: Path) -> Iterator[OpeningBalance]:
    """Rows of ``member_id,xp[,stars][,gold][,level]`` (header required; aliases accepted)."""
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    aliases = {"user_id": "member_id", "id": "member_id", "experience": "xp"}
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file)
        fields = {
            aliases.get(f.strip().lower(), f.strip().lower()) for f in reader.fieldnames or ()
        }
        if not {"member_id", "xp"} <= fields:
            raise ImportFileError(f"{path}: the header needs member_id and xp columns")
        for number, raw in enumerate(reader, start=2):
            row = {
                aliases.get(k.strip().lower(), k.strip().lower()): (v or "").strip()
                for k, v in raw.items()
                if k
            }
            try:
                amounts = [int(row.get(name) or 0) for name in ("xp", "stars", "gold")]
                level = int(row["level"]) if row.get("level") else None
            except ValueError as exc:
                raise ImportFileError(f"{path}:{number}: {exc}") from None
            if not row.get("member_id"):
                raise ImportFileError(f"{path}:{number}: member_id is empty")
            if min(amounts) < 0:
                raise ImportFileError(f"{path}:{number}: opening balances cannot be negative")
            xp, stars, gold = amounts
            yield OpeningBalance(row["member_id"], xp, stars, gold, level)


def opening_balance_events(
    path: Path, rows: Iterator[OpeningBalance], platform: Platform, community: str, at: int
) -> Iterator[Event]:
    """Manual awards for opening balances, with ids stable across re-imports of the file."""
    stem = path.name[:60]
    for row in rows:
        yield Event(
            event_id=f"import:{stem}:{row.member_id}"[:128],
            kind=EventKind.MANUAL_AWARD,
            platform=platform,
            community_id=community,
            member_id=row.member_id,
            at=at,
            manual=ManualMeta(Balances(row.xp, row.stars, row.gold)),
        )

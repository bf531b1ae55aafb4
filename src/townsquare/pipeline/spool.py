"""The outage spool: where batches wait, on local disk, while PostgreSQL is unreachable.

An append-only log of records, each ``[length:u32][crc32:u32][payload]``, fsync'd per batch,
so a batch that ``append`` returned for survives a crash or power cut. Records are replayed
in the order they were written. A torn record at the tail (the process died mid-write) is
the only damage a crash can do; it was never acknowledged, so it is cut off. A checksum
mismatch anywhere else means the disk lied: the file is set aside as ``*.corrupt`` for a
human, never silently skipped.

The spool is bounded (``max_bytes``): when full, ``append`` raises ``SpoolFull`` and the
pipeline stops taking events (back-pressure) instead of filling the disk.

Replay protocol: ``replay()`` yields ``SpoolRecord``s oldest first; the caller commits them
to PostgreSQL, then calls ``acknowledge(record)``: everything up to and including that
record is forgotten (whole segments deleted, or a checkpoint offset written atomically).
Records are idempotent downstream (the event lake ignores redeliveries), so a crash between
commit and acknowledge replays them harmlessly.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog

from townsquare.errors import TownsquareError

log = structlog.get_logger(__name__)

_HEADER = struct.Struct("<II")  # payload length, crc32 of payload
_SEGMENT_SUFFIX = ".spool"


class SpoolFull(TownsquareError):
    """The spool reached its size limit; the caller must slow down or stop."""

    status = 503
    code = "spool_full"


class SpoolCorrupt(TownsquareError):
    code = "spool_corrupt"


@dataclass(frozen=True)
class SpoolRecord:
    payload: bytes
    segment: str
    end: int
    ordinal: int


@dataclass(frozen=True)
class SpoolStats:
    segments: int
    records: int
    bytes: int
    max_bytes: int


class Spool:
    """A directory of append-only segment files. Not thread-safe: one owner (the writer)."""

    def __init__(
        self, directory: Path, *, max_bytes: int = 512 * 1024**2, segment_bytes: int = 16 * 1024**2
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._recover()
        self._records = sum(1 for _ in self.replay())
        self._acked_in_replay = 0

    # ------------------------------------------------------------ writing

    def append(self, payload: bytes) -> None:
        """Durably append one record (one batch). Raises ``SpoolFull`` when over the limit."""
        record = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        if self.size_bytes() + len(record) > self.max_bytes:
            raise SpoolFull(
                f"The outage spool in {self.directory} is full ({self.max_bytes} bytes) while "
                "PostgreSQL is unreachable; ingestion is paused until the database is back."
            )
        segment = self._current_segment(len(record))
        with segment.open("ab") as fh:
            fh.write(record)
            fh.flush()
            os.fsync(fh.fileno())
        self._records += 1

    def _current_segment(self, incoming: int) -> Path:
        segments = self._segments()
        if segments and segments[-1].stat().st_size + incoming <= self.segment_bytes:
            return segments[-1]
        number = int(segments[-1].stem) + 1 if segments else 1
        path = self.directory / f"{number:012d}{_SEGMENT_SUFFIX}"
        path.touch()
        _fsync_dir(self.directory)
        return path

    # ------------------------------------------------------------ reading

    def replay(self) -> Iterator[SpoolRecord]:
        """Yield every unacknowledged record, oldest first (ordinals restart at 1 per pass)."""
        self._acked_in_replay = 0
        checkpoint = self._read_checkpoint()
        ordinal = 0
        for segment in self._segments():
            start = checkpoint[1] if checkpoint and checkpoint[0] == segment.name else 0
            for payload, end in _iter_records(segment.read_bytes(), start):
                ordinal += 1
                yield SpoolRecord(payload=payload, segment=segment.name, end=end, ordinal=ordinal)

    def acknowledge(self, record: SpoolRecord) -> None:
        """Forget ``record`` and everything before it (they are safely in PostgreSQL)."""
        segments = self._segments()
        newest = segments[-1].name if segments else None
        for segment in segments:
            if segment.name < record.segment:
                segment.unlink()
            elif segment.name == record.segment:
                if record.end >= segment.stat().st_size and segment.name != newest:
                    segment.unlink()
                    self._checkpoint_path.unlink(missing_ok=True)
                elif record.end >= segment.stat().st_size:
                    # Fully replayed newest segment: empty it, nothing left to remember.
                    with segment.open("r+b") as fh:
                        fh.truncate(0)
                        os.fsync(fh.fileno())
                    self._checkpoint_path.unlink(missing_ok=True)
                else:
                    self._write_checkpoint(segment.name, record.end)
        _fsync_dir(self.directory)
        self._records = max(0, self._records - (record.ordinal - self._acked_in_replay))
        self._acked_in_replay = record.ordinal

    @property
    def _checkpoint_path(self) -> Path:
        return self.directory / "checkpoint"

    def _read_checkpoint(self) -> tuple[str, int] | None:
        try:
            name, offset = self._checkpoint_path.read_text().split()
            return name, int(offset)
        except (OSError, ValueError):
            return None

    def _write_checkpoint(self, segment: str, offset: int) -> None:
        tmp = self.directory / "checkpoint.tmp"
        with tmp.open("w") as fh:
            fh.write(f"{segment} {offset}")
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self._checkpoint_path)

    # ------------------------------------------------------------ state

    def stats(self) -> SpoolStats:
        return SpoolStats(
            segments=len(self._segments()),
            records=self._records,
            bytes=self.size_bytes(),
            max_bytes=self.max_bytes,
        )

    def size_bytes(self) -> int:
        """Bytes on disk not yet acknowledged (what counts against ``max_bytes``)."""
        total = sum(path.stat().st_size for path in self._segments())
        checkpoint = self._read_checkpoint()
        return total - checkpoint[1] if checkpoint else total

    def __len__(self) -> int:
        return self._records

    def _segments(self) -> list[Path]:
        return sorted(self.directory.glob(f"*{_SEGMENT_SUFFIX}"))

    def _recover(self) -> None:
        """Cut a torn tail off the newest segment; set aside segments with bad checksums."""
        segments = self._segments()
        for index, segment in enumerate(segments):
            data = segment.read_bytes()
            good_end = 0
            for _payload, end in _iter_records(data):
                good_end = end
            if good_end == len(data):
                continue
            torn_tail = _is_torn_tail(data, good_end)
            if torn_tail and index == len(segments) - 1:
                log.warning(
                    "spool_torn_tail_dropped", segment=segment.name, bytes=len(data) - good_end
                )
                with segment.open("r+b") as fh:
                    fh.truncate(good_end)
                    os.fsync(fh.fileno())
            else:
                corrupt = segment.with_suffix(".corrupt")
                segment.replace(corrupt)
                log.error("spool_segment_corrupt", segment=corrupt.name, good_bytes=good_end)
        _fsync_dir(self.directory)


def _iter_records(data: bytes, offset: int = 0) -> Iterator[tuple[bytes, int]]:
    """Yield (payload, end offset) for every intact record from ``offset`` on."""
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        end = start + length
        if end > len(data):
            return
        payload = data[start:end]
        if zlib.crc32(payload) != crc:
            return
        yield payload, end
        offset = end


def _is_torn_tail(data: bytes, good_end: int) -> bool:
    """Whether the bytes after the last intact record are an incomplete record (a crash
    mid-append) rather than a complete record with a wrong checksum (corruption)."""
    rest = len(data) - good_end
    if rest < _HEADER.size:
        return True
    length: int = _HEADER.unpack_from(data, good_end)[0]
    return good_end + _HEADER.size + length > len(data)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""What the Discord adapter counts, for `/ready`, metrics and the benchmark."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class ShardStatus:
    """What `/ready` shows per shard."""

    connected: bool = False
    ready: bool = False
    resumes: int = 0
    disconnects: int = 0
    last_event_at: float | None = None


@dataclass(slots=True)
class AdapterFigures:
    """Counters for `/ready`, metrics and the benchmark."""

    events_ingested: int = 0
    skipped_malformed: int = 0
    handler_errors: int = 0
    guilds_bootstrapped: int = 0
    shards: dict[int, ShardStatus] = field(default_factory=dict)

"""Reconciliation: prove that what is derived matches its truth, and correct it if not.

Truth:

* Balances come from the append-only ledger: lifetime = sum of ``xp``, ``stars`` and
  ``gold`` per member; a season's balance = sum of ``season_xp``, ``season_stars`` and
  ``season_gold`` of the entries of that season.
* Lifetime counters come from the event lake: ``counter_rollups`` (what retention folded
  away) + the sum of the ``[member_id, counter, delta]`` triples in the ``"counters"`` of
  the events still in the lake.

Derived, and checked against that truth: ``balances`` (xp, stars, gold of the lifetime
row and of every season row; ``level`` needs the rules and is left alone), ``counters``
of period ``lifetime``, and the lifetime parts of ``member_states`` documents (``"b"`` and
the first slot of each ``"c"`` entry). A row present on one side only is drift unless its
values are all zero. Member states are checked where they exist and are of the format
this build reads (`state_codec.FORMAT`); a member without a state document is not drift
(there is no whole document to derive), and only counter names the rules know
(`townsquare.core.Counter`) are written into a document, so it always decodes.

Everything is set-based: the expected values are computed once into temporary tables
(dropped at commit), compared with full outer joins, and corrected with one upsert per
table, so a community of 100k+ members takes a handful of statements.

Units of work and locking: `reconcile` runs in the caller's transaction and never
commits. With ``correct=True`` the caller must hold the community's advisory lock
(`townsquare.store.locks.community_lock_key`) — the writer that owns the community does;
anyone else calls `try_lock_community` in the same transaction first — or it is refused:
correcting behind a live writer's back would race with it. Without the lock, a report
is only consistent inside a REPEATABLE READ transaction. The transaction must not be READ
ONLY (the temporary tables need CREATE), so reconciliation runs on the primary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from townsquare.config.settings import DatabaseSettings
from townsquare.core import Counter
from townsquare.errors import TownsquareError
from townsquare.pipeline.state_codec import FORMAT
from townsquare.store.locks import community_lock_key
from townsquare.store.partitions import translate_errors_for

__all__ = [
    "Amounts",
    "BalanceDrift",
    "CommunityNotLocked",
    "CounterDrift",
    "DriftReport",
    "DriftSet",
    "community_lock_key",
    "holds_community_lock",
    "reconcile",
    "try_lock_community",
]

DEFAULT_EXAMPLES = 10
T = TypeVar("T")
_KNOWN_COUNTERS = sorted(counter.value for counter in Counter)


class CommunityNotLocked(TownsquareError):
    """A correction was asked for without holding the community's advisory lock."""

    status = 409
    code = "community_not_locked"


@dataclass(frozen=True)
class Amounts:
    xp: int
    stars: int
    gold: int


@dataclass(frozen=True)
class BalanceDrift:
    """A balance row (``season`` '' is lifetime) or a state's ``"b"`` that is wrong."""

    member_id: int
    season: str
    expected: Amounts
    actual: Amounts


@dataclass(frozen=True)
class CounterDrift:
    """A lifetime counter (a ``counters`` row or a state's ``"c"`` slot) that is wrong."""

    member_id: int
    name: str
    expected: int
    actual: int


@dataclass(frozen=True)
class DriftSet(Generic[T]):
    """How many rows drifted, and the first few (by member id) as examples."""

    count: int
    examples: tuple[T, ...]


@dataclass(frozen=True)
class DriftReport:
    community_id: int
    balances: DriftSet[BalanceDrift]
    counters: DriftSet[CounterDrift]
    state_balances: DriftSet[BalanceDrift]
    state_counters: DriftSet[CounterDrift]
    # True when the drift listed here has been corrected in the caller's transaction.
    corrected: bool

    @property
    def total(self) -> int:
        return (
            self.balances.count
            + self.counters.count
            + self.state_balances.count
            + self.state_counters.count
        )

    @property
    def has_drift(self) -> bool:
        return self.total > 0


async def try_lock_community(conn: AsyncConnection, community_id: int) -> bool:
    """Take the community's lock for the caller's transaction, if no writer holds it.

    ``pg_try_advisory_xact_lock``: never waits, released at commit or rollback.
    """
    async with translate_errors_for(conn):
        locked = await conn.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"),
            {"key": community_lock_key(community_id)},
        )
    return bool(locked)


async def holds_community_lock(conn: AsyncConnection, community_id: int) -> bool:
    """Whether this connection holds the community's lock (session or transaction level).

    A bigint advisory key shows in ``pg_locks`` as its high half in ``classid``, its low
    half in ``objid`` and ``objsubid`` 1.
    """
    key = community_lock_key(community_id)
    async with translate_errors_for(conn):
        held = await conn.scalar(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid() AND granted AND objsubid = 1 "
                "AND classid = CAST(:high AS oid) AND objid = CAST(:low AS oid))"
            ),
            {"high": key >> 32, "low": key & 0xFFFF_FFFF},
        )
    return bool(held)


# --- What the truth says -----------------------------------------------------------------

# One pass over the community's ledger: the (member) grouping set gives lifetime balances
# from ``xp``/``stars``/``gold``, the (member, season) set gives season balances from
# ``season_xp``/``season_stars``/``season_gold``.
_EXPECTED_BALANCES = [
    """
    CREATE TEMP TABLE reconcile_expected_balances (
        member_id bigint NOT NULL, season text NOT NULL,
        xp bigint NOT NULL, stars bigint NOT NULL, gold bigint NOT NULL,
        PRIMARY KEY (member_id, season)
    ) ON COMMIT DROP
    """,
    """
    INSERT INTO reconcile_expected_balances (member_id, season, xp, stars, gold)
    SELECT member_id,
           CASE WHEN GROUPING(season) = 1 THEN '' ELSE season END,
           CASE WHEN GROUPING(season) = 1 THEN sum(xp) ELSE sum(season_xp) END,
           CASE WHEN GROUPING(season) = 1 THEN sum(stars) ELSE sum(season_stars) END,
           CASE WHEN GROUPING(season) = 1 THEN sum(gold) ELSE sum(season_gold) END
    FROM ledger_entries
    WHERE community_id = :community_id
    GROUP BY GROUPING SETS ((member_id), (member_id, season))
    HAVING GROUPING(season) = 1 OR coalesce(season, '') <> ''
    """,
]

_EXPECTED_COUNTERS = [
    """
    CREATE TEMP TABLE reconcile_expected_counters (
        member_id bigint NOT NULL, name text NOT NULL, value bigint NOT NULL,
        PRIMARY KEY (member_id, name)
    ) ON COMMIT DROP
    """,
    """
    INSERT INTO reconcile_expected_counters (member_id, name, value)
    SELECT s.member_id, s.name, sum(s.value)
    FROM (
        SELECT member_id, name, value FROM counter_rollups WHERE community_id = :community_id
        UNION ALL
        SELECT (t.item->>0)::bigint, t.item->>1, (t.item->>2)::bigint
        FROM (
            -- A set-returning function in the select list: a plain scan of the lake
            -- (as a LATERAL join the planner adds a useless per-row cache).
            SELECT jsonb_array_elements(e.outcome->'counters') AS item
            FROM events e
            WHERE e.community_id = :community_id
              AND jsonb_typeof(e.outcome->'counters') = 'array'
        ) t
    ) s
    WHERE EXISTS (
        SELECT 1 FROM members m WHERE m.community_id = :community_id AND m.id = s.member_id
    )
    GROUP BY s.member_id, s.name
    """,
]

# --- Where the derived tables disagree ---------------------------------------------------

_BALANCE_DRIFT = [
    """
    CREATE TEMP TABLE reconcile_balance_drift (
        member_id bigint NOT NULL, season text NOT NULL,
        expected_xp bigint NOT NULL, expected_stars bigint NOT NULL,
        expected_gold bigint NOT NULL, actual_xp bigint NOT NULL,
        actual_stars bigint NOT NULL, actual_gold bigint NOT NULL
    ) ON COMMIT DROP
    """,
    """
    INSERT INTO reconcile_balance_drift
    SELECT coalesce(e.member_id, b.member_id), coalesce(e.season, b.season),
           coalesce(e.xp, 0), coalesce(e.stars, 0), coalesce(e.gold, 0),
           coalesce(b.xp, 0), coalesce(b.stars, 0), coalesce(b.gold, 0)
    FROM reconcile_expected_balances e
    FULL JOIN (
        SELECT member_id, season, xp, stars, gold FROM balances
        WHERE community_id = :community_id
    ) b ON b.member_id = e.member_id AND b.season = e.season
    WHERE (coalesce(e.xp, 0), coalesce(e.stars, 0), coalesce(e.gold, 0))
        <> (coalesce(b.xp, 0), coalesce(b.stars, 0), coalesce(b.gold, 0))
    """,
]

_COUNTER_DRIFT = [
    """
    CREATE TEMP TABLE reconcile_counter_drift (
        member_id bigint NOT NULL, name text NOT NULL,
        expected bigint NOT NULL, actual bigint NOT NULL
    ) ON COMMIT DROP
    """,
    """
    INSERT INTO reconcile_counter_drift
    SELECT coalesce(e.member_id, c.member_id), coalesce(e.name, c.name),
           coalesce(e.value, 0), coalesce(c.value, 0)
    FROM reconcile_expected_counters e
    FULL JOIN (
        SELECT member_id, name, value FROM counters
        WHERE community_id = :community_id AND period = 'lifetime' AND period_key = ''
    ) c ON c.member_id = e.member_id AND c.name = e.name
    WHERE coalesce(e.value, 0) <> coalesce(c.value, 0)
    """,
]

_STATE_BALANCE_DRIFT = [
    """
    CREATE TEMP TABLE reconcile_state_balance_drift (
        member_id bigint NOT NULL,
        expected_xp bigint NOT NULL, expected_stars bigint NOT NULL,
        expected_gold bigint NOT NULL, actual_xp bigint NOT NULL,
        actual_stars bigint NOT NULL, actual_gold bigint NOT NULL
    ) ON COMMIT DROP
    """,
    """
    INSERT INTO reconcile_state_balance_drift
    SELECT s.member_id, coalesce(e.xp, 0), coalesce(e.stars, 0), coalesce(e.gold, 0),
           s.xp, s.stars, s.gold
    FROM (
        SELECT member_id,
               coalesce((state->'b'->>0)::bigint, 0) AS xp,
               coalesce((state->'b'->>1)::bigint, 0) AS stars,
               coalesce((state->'b'->>2)::bigint, 0) AS gold
        FROM member_states
        WHERE community_id = :community_id AND format = :format
    ) s
    LEFT JOIN reconcile_expected_balances e ON e.member_id = s.member_id AND e.season = ''
    WHERE (coalesce(e.xp, 0), coalesce(e.stars, 0), coalesce(e.gold, 0))
        <> (s.xp, s.stars, s.gold)
    """,
]

# The "c" entries of the states, exploded, against the expected counters of the members
# that have a state; ``entry`` keeps the stored [lifetime, season, day] for the patch.
_STATE_COUNTER_DRIFT = [
    """
    CREATE TEMP TABLE reconcile_state_counter_drift (
        member_id bigint NOT NULL, name text NOT NULL,
        expected bigint NOT NULL, actual bigint NOT NULL, entry jsonb
    ) ON COMMIT DROP
    """,
    """
    INSERT INTO reconcile_state_counter_drift
    SELECT coalesce(s.member_id, e.member_id), coalesce(s.name, e.name),
           coalesce(e.value, 0), coalesce(s.lifetime, 0), s.entry
    FROM (
        SELECT ms.member_id, c.key AS name, c.value::jsonb AS entry,
               (c.value->>0)::bigint AS lifetime
        FROM member_states ms
        CROSS JOIN LATERAL json_each(ms.state->'c') AS c
        WHERE ms.community_id = :community_id AND ms.format = :format
          AND json_typeof(ms.state->'c') = 'object'
    ) s
    FULL JOIN (
        SELECT x.member_id, x.name, x.value
        FROM reconcile_expected_counters x
        JOIN member_states ms
          ON ms.community_id = :community_id AND ms.member_id = x.member_id
         AND ms.format = :format
    ) e ON e.member_id = s.member_id AND e.name = s.name
    WHERE coalesce(s.name, e.name) = ANY(CAST(:known AS text[]))
      AND coalesce(e.value, 0) <> coalesce(s.lifetime, 0)
    """,
]

# --- Corrections -------------------------------------------------------------------------

_CORRECT_BALANCES = """
    INSERT INTO balances AS b (community_id, season, member_id, xp, stars, gold)
    SELECT :community_id, season, member_id, expected_xp, expected_stars, expected_gold
    FROM reconcile_balance_drift
    ON CONFLICT (community_id, season, member_id) DO UPDATE
    SET xp = EXCLUDED.xp, stars = EXCLUDED.stars, gold = EXCLUDED.gold, updated_at = now()
"""

_CORRECT_COUNTERS = """
    INSERT INTO counters AS c (community_id, member_id, period, period_key, name, value)
    SELECT :community_id, member_id, 'lifetime', '', name, expected
    FROM reconcile_counter_drift
    ON CONFLICT (community_id, member_id, period, period_key, name) DO UPDATE
    SET value = EXCLUDED.value
"""

# "b" is replaced; in "c" only the lifetime slot of the drifted entries changes (a missing
# entry becomes [lifetime, 0, 0]); every other key of the document is kept as it is.
_CORRECT_STATES = """
    UPDATE member_states ms
    SET state = (ms.state::jsonb
            || CASE WHEN p.b IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('b', p.b) END
            || CASE WHEN p.c IS NULL THEN '{}'::jsonb
                    ELSE jsonb_build_object(
                        'c', coalesce(ms.state::jsonb->'c', '{}'::jsonb) || p.c)
               END)::json,
        updated_at = now()
    FROM (
        SELECT coalesce(b.member_id, c.member_id) AS member_id, b.b, c.c
        FROM (
            SELECT member_id, jsonb_build_array(expected_xp, expected_stars, expected_gold) AS b
            FROM reconcile_state_balance_drift
        ) b
        FULL JOIN (
            SELECT member_id, jsonb_object_agg(
                name,
                CASE WHEN jsonb_typeof(entry) = 'array' AND jsonb_array_length(entry) > 0
                     THEN jsonb_set(entry, '{0}', to_jsonb(expected))
                     ELSE jsonb_build_array(expected, 0, 0) END
            ) AS c
            FROM reconcile_state_counter_drift
            GROUP BY member_id
        ) c ON c.member_id = b.member_id
    ) p
    WHERE ms.community_id = :community_id AND ms.member_id = p.member_id
"""

_TEMP_TABLES = (
    "reconcile_expected_balances",
    "reconcile_expected_counters",
    "reconcile_balance_drift",
    "reconcile_counter_drift",
    "reconcile_state_balance_drift",
    "reconcile_state_counter_drift",
)


async def reconcile(
    conn: AsyncConnection,
    community_id: int,
    *,
    correct: bool,
    examples: int = DEFAULT_EXAMPLES,
    settings: DatabaseSettings | None = None,
) -> DriftReport:
    """Compare a community's derived state with the ledger and the event lake.

    With ``correct=True`` every drift found is corrected in the caller's transaction (which
    must hold the community's lock: see the module docstring); the report then describes
    what was wrong. The caller commits, or rolls back to undo everything.
    """
    if examples < 0:
        raise ValueError(f"examples must not be negative (got {examples})")
    params: dict[str, Any] = {
        "community_id": community_id,
        "format": FORMAT,
        "known": _KNOWN_COUNTERS,
    }
    async with translate_errors_for(conn, settings):
        if correct and not await holds_community_lock(conn, community_id):
            raise CommunityNotLocked(
                f"Reconciliation corrects community {community_id} only while holding its "
                "lock: run it in the writer that owns the community, or call "
                "try_lock_community() in the same transaction first (it fails while a "
                "writer is active)."
            )
        for table in _TEMP_TABLES:
            await conn.execute(text(f"DROP TABLE IF EXISTS pg_temp.{table}"))
        for statement in (
            *_EXPECTED_BALANCES,
            *_EXPECTED_COUNTERS,
            "ANALYZE reconcile_expected_balances",
            "ANALYZE reconcile_expected_counters",
            *_BALANCE_DRIFT,
            *_COUNTER_DRIFT,
            *_STATE_BALANCE_DRIFT,
            *_STATE_COUNTER_DRIFT,
        ):
            await conn.execute(text(statement), params)
        report = DriftReport(
            community_id=community_id,
            balances=await _balance_drift(conn, "reconcile_balance_drift", examples),
            counters=await _counter_drift(conn, "reconcile_counter_drift", examples),
            state_balances=await _balance_drift(conn, "reconcile_state_balance_drift", examples),
            state_counters=await _counter_drift(conn, "reconcile_state_counter_drift", examples),
            corrected=correct,
        )
        if correct and report.has_drift:
            for statement in (_CORRECT_BALANCES, _CORRECT_COUNTERS, _CORRECT_STATES):
                await conn.execute(text(statement), params)
        for table in _TEMP_TABLES:
            await conn.execute(text(f"DROP TABLE pg_temp.{table}"))
    return report


async def _count(conn: AsyncConnection, table: str) -> int:
    return int(await conn.scalar(text(f"SELECT count(*) FROM pg_temp.{table}")) or 0)  # noqa: S608


async def _balance_drift(conn: AsyncConnection, table: str, limit: int) -> DriftSet[BalanceDrift]:
    season = "season" if table == "reconcile_balance_drift" else "''"
    rows = await conn.execute(
        text(
            f"SELECT member_id, {season}, expected_xp, expected_stars, expected_gold, "  # noqa: S608
            f"actual_xp, actual_stars, actual_gold FROM pg_temp.{table} "
            "ORDER BY 1, 2 LIMIT :limit"
        ),
        {"limit": limit},
    )
    found = tuple(
        BalanceDrift(
            member_id=row[0],
            season=row[1],
            expected=Amounts(row[2], row[3], row[4]),
            actual=Amounts(row[5], row[6], row[7]),
        )
        for row in rows
    )
    return DriftSet(await _count(conn, table), found)


async def _counter_drift(conn: AsyncConnection, table: str, limit: int) -> DriftSet[CounterDrift]:
    rows = await conn.execute(
        text(
            f"SELECT member_id, name, expected, actual FROM pg_temp.{table} "  # noqa: S608
            "ORDER BY member_id, name LIMIT :limit"
        ),
        {"limit": limit},
    )
    found = tuple(CounterDrift(row[0], row[1], row[2], row[3]) for row in rows)
    return DriftSet(await _count(conn, table), found)

"""The micro-batch writer: one transaction per batch, a handful of statements in all.

For a batch of events (platform ids) the writer resolves ids (`Directory`), takes
ownership of new communities (session advisory lock: one writer per community), loads the
touched members' rules state that is not cached, applies the rules in memory, then in one
transaction: inserts the events (``ON CONFLICT DO NOTHING``: a redelivery is a no-op),
COPYs the ledger rows, upserts balances, counters and member states once per member,
records level-ups and unlocks. Only after the commit do caches change and outcomes go out.

Because a community has exactly one writer, the writer's cache of member states is the
truth for it while it holds the lock, and no row locks are needed. A lost connection loses
the locks too, so every cache is dropped with it.

Redeliveries that the lake refuses are found in the RETURNING rows; the batch is then
recomputed without them (rare: adapters deliver once, imports and spool replays repeat).
A poison event (the rules raise) is recorded as ``failed`` with the error's type and the
batch goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
import structlog

from townsquare.core import (
    CommunityRules,
    Currency,
    Event,
    EventContext,
    EventKind,
    MemberState,
    Outcome,
    OutcomeStatus,
    apply,
)
from townsquare.core.outcomes import AchievementUnlock, LedgerEntry, LevelChange, SeasonRollover
from townsquare.pipeline.directory import ChannelKey, Connection, Directory, MemberKey
from townsquare.pipeline.lru import LruMap
from townsquare.pipeline.outcome_doc import (
    CounterDelta,
    counter_deltas,
    encode_breakdown,
    event_metadata,
)
from townsquare.pipeline.state_codec import FORMAT, decode_state, encode_state
from townsquare.store.locks import community_lock_key

log = structlog.get_logger(__name__)

_LIFETIME = ""
#: A currency's position in a ledger row's amounts (lifetime; season is 3 further on).
_SLOT = {Currency.XP: 0, Currency.STARS: 1, Currency.GOLD: 2}


class RulesSource(Protocol):
    """Where the writer gets each community's compiled rules (the config cache)."""

    async def rules_for(self, conn: Connection, community_id: int) -> CommunityRules: ...


@dataclass(frozen=True, slots=True)
class Published:
    """An outcome worth telling the adapters about, released after its commit.

    The rules run on internal member ids, so the outcome's member ids are those;
    ``platform_user`` turns one back into the platform account an adapter must address.
    """

    community_id: int
    event: Event
    outcome: Outcome
    member_id: int
    target_id: int | None = None

    def platform_user(self, member_id: str) -> str | None:
        """The platform user id of the acting or receiving member named in the outcome."""
        if member_id == str(self.member_id):
            return self.event.member_id
        if self.target_id is not None and member_id == str(self.target_id):
            return self.event.target_member_id
        return None


@dataclass(slots=True)
class BatchResult:
    """What one write did."""

    recorded: int = 0
    duplicates: int = 0
    failed: int = 0
    future: int = 0
    ledger_rows: int = 0
    statements: int = 0
    deferred: list[Event] = field(default_factory=list)
    published: list[Published] = field(default_factory=list)


@dataclass(slots=True)
class _Owned:
    """What the writer keeps for a community it owns."""

    states: LruMap[int, MemberState]
    earners: dict[str, int]


@dataclass(slots=True)
class Prepared:
    """A batch whose ids are resolved and whose rules are applied, not yet stored."""

    result: BatchResult
    items: list[_Item]
    computed: _Computed | None
    start_statements: int
    duplicates: set[tuple[int, str, str, int]] = field(default_factory=set)


class Redo(Exception):
    """The lake already held some events of the batch: recompute without them."""

    def __init__(self, duplicates: set[tuple[int, str, str, int]]) -> None:
        super().__init__(f"{len(duplicates)} redelivered events")
        self.duplicates = duplicates


@dataclass(slots=True)
class _Item:
    """One event on its way through a batch."""

    index: int
    community_id: int
    event: Event
    member_id: int
    target_id: int | None
    channel_id: int | None
    status: str = "blocked"
    #: The ``events.outcome`` document as JSON text, encoded as soon as it is known: a
    #: string holds no references, while the dicts and lists it is made of would stay
    #: alive until the commit and be traversed by every garbage collection meanwhile.
    outcome: str = "{}"


@dataclass(slots=True)
class _Effects:
    """What the commit needs of one event's outcome.

    Not the `Outcome` itself (kept only when it is published): its reward breakdowns and
    the member's intermediate states of the batch would otherwise stay alive until the
    commit, and every garbage collection meanwhile would traverse them.
    """

    item: _Item
    ledger: tuple[LedgerEntry, ...]
    level_changes: tuple[LevelChange, ...]
    unlocks: tuple[AchievementUnlock, ...]
    season_rollovers: tuple[SeasonRollover, ...]
    #: The member's season after the event (awards are recorded in it).
    season_id: str | None
    #: The member's achievements after a manual revoke (None for other events).
    achievements: frozenset[str] | None
    #: The outcome, when it has level changes, unlocks or role changes to publish.
    published: Outcome | None


@dataclass(slots=True)
class _Computed:
    """The rules' results for a batch, ready to be written."""

    items: list[_Item]
    before: dict[tuple[int, int], MemberState]
    after: dict[tuple[int, int], MemberState]
    effects: list[_Effects]
    earners: dict[int, dict[str, int]]
    failed: int = 0
    future: int = 0


def _key(item: _Item) -> tuple[int, str, str, int]:
    """The event's identity in the lake: (community, platform, platform event id, time).

    Built when needed rather than kept on the item: one more tuple per event alive until
    the commit is one more object for every garbage collection meanwhile to traverse.
    """
    event = item.event
    return (item.community_id, event.platform.value, event.event_id, event.at)


def _compact_json(value: Any) -> str:
    """Compact JSON text (orjson: ~15x faster than the standard library on these shapes)."""
    return orjson.dumps(value).decode()


#: Session-local staging tables: rows arrive by COPY (fast, no per-value escaping in
#: Python), then one INSERT ... SELECT ... ON CONFLICT per table moves them.
_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS stage_events (i bigint, c bigint, a bigint, p text, "
    "e text, k text, ch bigint, m bigint, t bigint, md jsonb, s text, o jsonb) "
    "ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS stage_balances (c bigint, season text, m bigint, "
    "xp bigint, stars bigint, gold bigint, level bigint) ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS stage_counters (c bigint, m bigint, period text, "
    "period_key text, name text, value bigint) ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS stage_states (c bigint, m bigint, state json) "
    "ON COMMIT DELETE ROWS",
)


class BatchWriter:
    """Writes batches for the communities it owns, on one dedicated connection."""

    def __init__(
        self,
        conn: Connection,
        rules: RulesSource,
        *,
        reader: Connection | None = None,
        state_cache: int = 100_000,
        max_future_seconds: int = 300,
        now: Any = None,
    ) -> None:
        self.conn = conn
        # Resolution, ownership locks, state loads and rules go through ``reader``, so the
        # next batch can be prepared while ``conn`` commits the previous one.
        self.reader = reader or conn
        # States and achievement earner counts of prepared batches not yet committed.
        self._pending: dict[tuple[int, int], MemberState] = {}
        self._pending_earners: dict[int, dict[str, int]] = {}
        self.rules = rules
        self.directory = Directory()
        self.state_cache = state_cache
        self.max_future_seconds = max_future_seconds
        self._now = now or (lambda: datetime.now(UTC).timestamp())
        self.owned: dict[int, _Owned] = {}
        self.statements = 0
        self._staged = False

    async def release(self) -> None:
        """Give up every community (a clean stop, so another writer takes over at once)."""
        if self.owned and not self.reader.closed:
            await self.reader.execute("SELECT pg_advisory_unlock_all()")
        self.owned.clear()

    def _statement_total(self) -> int:
        return self.statements + self.directory.statements + getattr(self.rules, "statements", 0)

    async def write(self, events: Sequence[Event]) -> BatchResult:
        """Prepare and commit one batch; events owned elsewhere come back ``deferred``."""
        prepared = await self.prepare(events)
        for _attempt in range(3):
            try:
                return await self.commit(prepared)
            except Redo as redo:
                self.discard_pending()
                await self.recompute(prepared, redo.duplicates)
        raise RuntimeError("the event lake kept refusing a batch")  # pragma: no cover

    async def prepare(self, events: Sequence[Event]) -> Prepared:
        """Resolve ids, take ownership, load states and apply the rules (no writes yet).

        The states it produces are kept as pending, so the next batch can be prepared on
        top of them while this one commits; `commit` settles them, `discard_pending`
        forgets them (after a failed commit, before recomputing).
        """
        start = self._statement_total()
        result = BatchResult()
        keys = [(e.platform.value, e.community_id) for e in events]
        communities = await self.directory.resolve_communities(self.reader, set(keys))
        await self._own(set(communities.values()))
        mine: list[tuple[int, Event]] = []
        for event, key in zip(events, keys, strict=True):
            community_id = communities[key]
            if community_id in self.owned:
                mine.append((community_id, event))
            else:
                result.deferred.append(event)
        prepared = Prepared(result, [], None, start)
        if mine:
            items = await self._resolve(mine)
            prepared.items = self._drop_batch_duplicates(items, result)
            await self._load_states(prepared.items)
            await self.recompute(prepared, set())
        return prepared

    async def recompute(
        self, prepared: Prepared, duplicates: set[tuple[int, str, str, int]]
    ) -> None:
        """Apply the rules again (without ``duplicates``), on top of what is committed."""
        prepared.duplicates |= duplicates
        live = prepared.items
        if prepared.duplicates:
            live = [item for item in live if _key(item) not in prepared.duplicates]
        prepared.computed = await self._compute(live)
        self._pending.update(prepared.computed.after)
        self._pending_earners.update(prepared.computed.earners)

    def discard_pending(self) -> None:
        """Forget uncommitted states: what a failed commit's successors were computed on."""
        self._pending.clear()
        self._pending_earners.clear()

    async def commit(self, prepared: Prepared) -> BatchResult:
        """Store a prepared batch in one transaction; `Redo` if the lake had some events."""
        result = prepared.result
        computed = prepared.computed
        if computed is not None:
            await self._store(computed, result)
            result.duplicates += len(prepared.duplicates)
            result.failed += computed.failed
            result.future += computed.future
            self._remember(computed)
            result.published = [
                Published(
                    effects.item.community_id,
                    effects.item.event,
                    effects.published,
                    effects.item.member_id,
                    effects.item.target_id,
                )
                for effects in computed.effects
                if effects.published is not None
            ]
        result.statements = self._statement_total() - prepared.start_statements
        return result

    # --- ownership -------------------------------------------------------------------------

    async def _own(self, community_ids: set[int]) -> None:
        wanted = sorted(community_ids - self.owned.keys())
        if not wanted:
            return
        self.statements += 1
        cursor = await self.reader.execute(
            "SELECT c, pg_try_advisory_lock(k) FROM unnest(%s::bigint[], %s::bigint[]) AS u(c, k)",
            (wanted, [community_lock_key(c) for c in wanted]),
        )
        for community_id, got in await cursor.fetchall():
            if got:
                self.owned[community_id] = _Owned(
                    LruMap(self.state_cache), await self._earners(community_id)
                )
                log.info("community owned", community=community_id)

    async def _earners(self, community_id: int) -> dict[str, int]:
        self.statements += 1
        cursor = await self.reader.execute(
            "SELECT achievement_key, count(*) FROM achievement_awards "
            "WHERE community_id = %s GROUP BY achievement_key",
            (community_id,),
        )
        return {key: int(count) for key, count in await cursor.fetchall()}

    # --- ids and states --------------------------------------------------------------------

    async def _resolve(self, mine: list[tuple[int, Event]]) -> list[_Item]:
        member_keys: list[MemberKey] = []
        channels: dict[ChannelKey, Any] = {}
        for community_id, event in mine:
            platform = event.platform.value
            member_keys.append((community_id, platform, event.member_id))
            if event.target_member_id is not None:
                member_keys.append((community_id, platform, event.target_member_id))
            if event.channel_id is not None:
                channels[(community_id, platform, event.channel_id)] = event.channel_type
        members = await self.directory.resolve_members(self.reader, member_keys)
        channel_ids = await self.directory.resolve_channels(self.reader, channels)
        items = []
        for index, (community_id, event) in enumerate(mine):
            platform = event.platform.value
            target = event.target_member_id
            channel = event.channel_id
            items.append(
                _Item(
                    index,
                    community_id,
                    event,
                    members[(community_id, platform, event.member_id)],
                    None if target is None else members[(community_id, platform, target)],
                    None if channel is None else channel_ids[(community_id, platform, channel)],
                )
            )
        return items

    @staticmethod
    def _drop_batch_duplicates(items: list[_Item], result: BatchResult) -> list[_Item]:
        seen: set[tuple[int, str, str, int]] = set()
        unique = []
        for item in items:
            key = _key(item)
            if key in seen:
                result.duplicates += 1
            else:
                seen.add(key)
                unique.append(item)
        return unique

    async def _load_states(self, items: list[_Item]) -> None:
        wanted: set[tuple[int, int]] = set()
        for item in items:
            states = self.owned[item.community_id].states
            for member_id in (item.member_id, item.target_id):
                if member_id is None or (item.community_id, member_id) in self._pending:
                    continue
                if states.get(member_id) is None:
                    wanted.add((item.community_id, member_id))
        if not wanted:
            return
        keys = sorted(wanted)
        self.statements += 1
        cursor = await self.reader.execute(
            "SELECT s.community_id, s.member_id, s.state, s.format FROM member_states s "
            "JOIN unnest(%s::bigint[], %s::bigint[]) AS k(c, m) "
            "ON s.community_id = k.c AND s.member_id = k.m",
            ([k[0] for k in keys], [k[1] for k in keys]),
        )
        found = set()
        for community_id, member_id, doc, fmt in await cursor.fetchall():
            state = decode_state(str(member_id), doc, fmt)
            self.owned[community_id].states.put(member_id, state)
            found.add((community_id, member_id))
        for community_id, member_id in wanted - found:
            self.owned[community_id].states.put(member_id, MemberState(str(member_id)))

    # --- rules -----------------------------------------------------------------------------

    async def _compute(self, items: list[_Item]) -> _Computed:
        rules: dict[int, CommunityRules] = {}
        for community_id in {item.community_id for item in items}:
            rules[community_id] = await self.rules.rules_for(self.reader, community_id)
        before: dict[tuple[int, int], MemberState] = {}
        after: dict[tuple[int, int], MemberState] = {}
        earners = {c: dict(self._pending_earners.get(c) or self.owned[c].earners) for c in rules}
        computed = _Computed(items, before, after, [], earners)
        horizon = self._now() + self.max_future_seconds
        pending = self._pending
        effects = computed.effects
        dumps = _compact_json
        # Most events have no receiver: their context is the same for the whole community
        # (the earner counts are updated in place), so it is built once per batch.
        contexts = {c: EventContext(earner_counts=counts) for c, counts in earners.items()}

        def state_of(community_id: int, member_id: int) -> MemberState:
            key = (community_id, member_id)
            state = after.get(key)
            if state is None:
                state = pending.get(key) or self.owned[community_id].states.get(member_id)
                if state is None:  # evicted mid-batch by a tiny cache
                    state = MemberState(str(member_id))
                before[key] = state
            return state

        for position, item in enumerate(items):
            if position % 128 == 127:
                # Let the previous batch's commit (another task) send its next statement.
                await asyncio.sleep(0)
            event = item.event
            community_id = item.community_id
            if event.at > horizon:
                item.status = "blocked"
                item.outcome = dumps({"counters": [], "blocked_by": "future_timestamp"})
                computed.future += 1
                continue
            member_id = item.member_id
            actor = state_of(community_id, member_id)
            target = item.target_id
            receiver = None
            if target is not None and target != member_id:
                receiver = state_of(community_id, target)
            # The rules see internal member ids (one member may speak on two platforms).
            core_event = Event(
                event.event_id,
                event.kind,
                event.platform,
                event.community_id,
                str(member_id),
                event.at,
                event.channel_id,
                event.channel_type,
                event.parent_channel_id,
                event.category_id,
                event.roles,
                event.message,
                None if target is None else str(target),
                event.target_message_id,
                event.target_roles,
                event.voice,
                event.manual,
            )
            community_earners = earners[community_id]
            context = contexts[community_id]
            if receiver is not None:
                context = EventContext(receiver=receiver, earner_counts=community_earners)
            try:
                outcome = apply(actor, rules[community_id], core_event, context)
            except Exception as exc:  # noqa: BLE001 - a poison event must not sink the batch
                log.warning(
                    "event rejected by the rules",
                    community=community_id,
                    event_id=event.event_id,
                    error=type(exc).__name__,
                )
                item.status = "failed"
                item.outcome = dumps(
                    {"counters": [], "error": f"{type(exc).__name__}: {exc}"[:500]}
                )
                computed.failed += 1
                continue
            state = outcome.state
            after[(community_id, member_id)] = state
            deltas: list[CounterDelta] = counter_deltas(member_id, actor, state)
            if receiver is not None and outcome.receiver_state is not None and target is not None:
                after[(community_id, target)] = outcome.receiver_state
                deltas += counter_deltas(target, receiver, outcome.receiver_state)
            for unlock in outcome.unlocks:
                key = unlock.achievement_id
                community_earners[key] = community_earners.get(key, 0) + 1
            if outcome.status is OutcomeStatus.APPLIED:
                item.status = "rewarded" if outcome.ledger else "zero"
            else:
                item.status = "blocked"
            item.outcome = dumps(
                {"counters": deltas, "why": [encode_breakdown(b) for b in outcome.breakdowns]}
            )
            revoke = event.kind is EventKind.MANUAL_REVOKE
            published = outcome.level_changes or outcome.unlocks or outcome.role_changes
            if outcome.ledger or published or outcome.season_rollovers or revoke:
                effects.append(
                    _Effects(
                        item,
                        outcome.ledger,
                        outcome.level_changes,
                        outcome.unlocks,
                        outcome.season_rollovers,
                        state.season.season_id,
                        state.achievements if revoke else None,
                        outcome if published else None,
                    )
                )
        return computed

    # --- the transaction -------------------------------------------------------------------

    async def _store(self, computed: _Computed, result: BatchResult) -> None:
        items = computed.items
        conn = self.conn
        if not self._staged:
            for statement in _STAGING:
                await conn.execute(statement)
            self._staged = True
        async with conn.transaction():
            event_ids = await self._insert_events(items)
            ledger = self._ledger_rows(computed, event_ids)
            if ledger:
                self.statements += 1
                async with conn.cursor().copy(
                    "COPY ledger_entries (community_id, member_id, xp, stars, gold, season_xp, "
                    "season_stars, season_gold, season, reason, event_id, occurred_at) FROM STDIN"
                ) as copy:
                    for row in ledger:
                        await copy.write_row(row)
            await self._upsert_derived(computed)
            await self._record_progress(computed, event_ids)
        result.recorded += len(items)
        result.ledger_rows += len(ledger)

    async def _copy(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        self.statements += 1
        async with self.conn.cursor().copy(statement) as copy:
            for row in rows:
                await copy.write_row(row)

    async def _upsert_staged(
        self, stage: str, rows: list[tuple[Any, ...]], upsert: str, params: tuple[Any, ...] = ()
    ) -> None:
        """COPY ``rows`` into the staging table ``stage``, then move them with ``upsert``."""
        await self._copy(f"COPY {stage} FROM STDIN", rows)
        self.statements += 1
        await self.conn.execute(upsert, params)

    async def _insert_events(self, items: list[_Item]) -> dict[int, int]:
        if not items:
            return {}
        dumps = _compact_json
        rows = []
        for item in items:
            event = item.event
            # Enums go as they are: psycopg writes a StrEnum as its value.
            rows.append(
                (
                    item.index,
                    item.community_id,
                    event.at,
                    event.platform,
                    event.event_id,
                    event.kind,
                    item.channel_id,
                    item.member_id,
                    item.target_id,
                    dumps(event_metadata(event)),
                    item.status,
                    item.outcome,
                )
            )
        await self._copy("COPY stage_events FROM STDIN", rows)
        self.statements += 1
        cursor = await self.conn.execute(
            "WITH inserted AS (INSERT INTO events (community_id, occurred_at, platform, "
            "platform_event_id, kind, channel_id, member_id, target_member_id, metadata, status, "
            "outcome) SELECT c, to_timestamp(a), p, e, k, ch, m, t, md, s, o FROM stage_events "
            "ON CONFLICT (community_id, platform, platform_event_id, occurred_at) DO NOTHING "
            "RETURNING community_id, platform, platform_event_id, occurred_at, id) "
            "SELECT s.i, n.id FROM stage_events s JOIN inserted n ON n.community_id = s.c "
            "AND n.platform = s.p AND n.platform_event_id = s.e "
            "AND n.occurred_at = to_timestamp(s.a)"
        )
        inserted: dict[int, int] = dict(await cursor.fetchall())
        if len(inserted) < len(items):
            raise Redo({_key(item) for item in items if item.index not in inserted})
        return inserted

    def _ledger_rows(self, computed: _Computed, event_ids: dict[int, int]) -> list[tuple[Any, ...]]:
        """One row per member, reason and season of each event, the currencies side by side.

        The rules give one entry per currency; a rewarded message moves XP and Gold of one
        member for one reason, so this saves a row for each (a quarter of the rows of the
        simulated mix, where many events move one currency or none).
        """
        rows: list[tuple[Any, ...]] = []
        times: dict[int, datetime] = {}
        for effects in computed.effects:
            if not effects.ledger:
                continue
            item = effects.item
            at = item.event.at
            occurred = times.get(at)
            if occurred is None:
                occurred = times[at] = datetime.fromtimestamp(at, UTC)
            # (member, reason, season) -> [xp, stars, gold, season xp, season stars, season gold]
            merged: dict[tuple[str, str, str | None], list[int]] = {}
            for entry in effects.ledger:
                key = (entry.member_id, entry.reason, entry.season_id)
                amounts = merged.get(key)
                if amounts is None:
                    amounts = merged[key] = [0, 0, 0, 0, 0, 0]
                slot = _SLOT[entry.currency]
                amounts[slot] += entry.delta
                amounts[slot + 3] += entry.season_delta
            event_id = event_ids[item.index]
            community_id = item.community_id
            rows += [
                (community_id, int(member_id), *amounts, season, reason, event_id, occurred)
                for (member_id, reason, season), amounts in merged.items()
                if any(amounts)
            ]
        return rows

    async def _upsert_derived(self, computed: _Computed) -> None:
        balances: list[tuple[Any, ...]] = []
        counters: list[tuple[Any, ...]] = []
        states: list[tuple[Any, ...]] = []
        for (community_id, member_id), state in computed.after.items():
            old = computed.before[(community_id, member_id)]
            if state is old:
                continue
            life = state.lifetime
            season = state.season
            if life is not old.lifetime or state.level != old.level or season is not old.season:
                balances.append(
                    (
                        community_id,
                        _LIFETIME,
                        member_id,
                        life.xp,
                        life.stars,
                        life.gold,
                        state.level,
                    )
                )
                if season.season_id is not None:
                    b = season.balances
                    balances.append(
                        (
                            community_id,
                            season.season_id,
                            member_id,
                            b.xp,
                            b.stars,
                            b.gold,
                            state.level,
                        )
                    )
            if state.counters is not old.counters:
                # Lifetime and season windows; daily activity is read from the event lake
                # (a row per member per counter per day would outgrow everything else).
                changed = [
                    (counter, state.counters.get(counter, (0, 0, 0)))
                    for counter in state.counters.keys() | old.counters.keys()
                ]
                for counter, (life_n, season_n, _day_n) in changed:
                    # A counter back at zero leaves the state's map; its row must follow.
                    if old.counters.get(counter, (0, 0, 0))[0] == life_n:
                        continue
                    counters.append((community_id, member_id, "lifetime", "", counter, life_n))
                    if season.season_id is not None:
                        counters.append(
                            (community_id, member_id, "season", season.season_id, counter, season_n)
                        )
            states.append((community_id, member_id, _compact_json(encode_state(state))))
        for effects in computed.effects:
            for rollover in effects.season_rollovers:
                if rollover.from_season is None:
                    continue
                member_id = int(rollover.member_id)
                community_id = effects.item.community_id
                closed = rollover.closed
                balances.append(
                    (
                        community_id,
                        rollover.from_season,
                        member_id,
                        closed.xp,
                        closed.stars,
                        closed.gold,
                        computed.after[(community_id, member_id)].level,
                    )
                )
        if balances:
            # One row per key: a rollover row and a later state row of the same season.
            unique = {(r[0], r[1], r[2]): r for r in balances}
            rows = list(unique.values())
            await self._upsert_staged(
                "stage_balances",
                rows,
                "INSERT INTO balances (community_id, season, member_id, xp, stars, gold, level) "
                "SELECT * FROM stage_balances "
                "ON CONFLICT (community_id, season, member_id) DO UPDATE SET xp = excluded.xp, "
                "stars = excluded.stars, gold = excluded.gold, level = excluded.level, "
                "updated_at = now()",
            )
        if counters:
            await self._upsert_staged(
                "stage_counters",
                counters,
                "INSERT INTO counters (community_id, member_id, period, period_key, name, value) "
                "SELECT * FROM stage_counters "
                "ON CONFLICT (community_id, member_id, period, period_key, name) "
                "DO UPDATE SET value = excluded.value",
            )
        if states:
            await self._upsert_staged(
                "stage_states",
                states,
                "INSERT INTO member_states (community_id, member_id, state, format) "
                "SELECT c, m, state, %s FROM stage_states "
                "ON CONFLICT (community_id, member_id) DO UPDATE "
                "SET state = excluded.state, format = excluded.format, updated_at = now()",
                (FORMAT,),
            )

    async def _record_progress(self, computed: _Computed, event_ids: dict[int, int]) -> None:
        levels: list[tuple[Any, ...]] = []
        awards: list[tuple[Any, ...]] = []
        revoked: list[tuple[Any, ...]] = []
        for effects in computed.effects:
            item = effects.item
            event_id = event_ids[item.index]
            for change in effects.level_changes:
                levels.append(
                    (
                        item.community_id,
                        int(change.member_id),
                        change.old_level,
                        change.new_level,
                        event_id,
                        item.event.at,
                    )
                )
            for unlock in effects.unlocks:
                source = "manual" if item.event.kind is EventKind.MANUAL_AWARD else "rule"
                awards.append(
                    (
                        item.community_id,
                        int(unlock.member_id),
                        unlock.achievement_id,
                        effects.season_id,
                        source,
                        event_id,
                    )
                )
            if effects.achievements is not None:
                before = computed.before.get((item.community_id, item.member_id))
                lost = (before.achievements if before else frozenset()) - effects.achievements
                revoked += [(item.community_id, item.member_id, key) for key in lost]
        if levels:
            self.statements += 1
            await self.conn.execute(
                "INSERT INTO level_ups (community_id, member_id, old_level, new_level, event_id, "
                "occurred_at) SELECT c, m, o, n, e, to_timestamp(a) FROM unnest(%s::bigint[], "
                "%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[]) "
                "AS u(c, m, o, n, e, a)",
                [list(column) for column in zip(*levels, strict=True)],
            )
        if awards:
            self.statements += 1
            await self.conn.execute(
                "INSERT INTO achievement_awards (community_id, member_id, achievement_key, "
                "season, source, event_id) SELECT * FROM unnest(%s::bigint[], %s::bigint[], "
                "%s::text[], %s::text[], %s::text[], %s::bigint[]) "
                "ON CONFLICT (community_id, member_id, achievement_key) DO NOTHING",
                [list(column) for column in zip(*awards, strict=True)],
            )
        if revoked:
            self.statements += 1
            await self.conn.execute(
                "DELETE FROM achievement_awards a USING unnest(%s::bigint[], %s::bigint[], "
                "%s::text[]) AS r(c, m, k) WHERE a.community_id = r.c AND a.member_id = r.m "
                "AND a.achievement_key = r.k",
                [list(column) for column in zip(*revoked, strict=True)],
            )

    def _remember(self, computed: _Computed) -> None:
        pending = self._pending
        for key, state in computed.after.items():
            community_id, member_id = key
            self.owned[community_id].states.put(member_id, state)
            if pending.get(key) is state:  # not superseded by a batch prepared since
                del pending[key]
        for community_id, earners in computed.earners.items():
            self.owned[community_id].earners = earners
            if self._pending_earners.get(community_id) is earners:
                del self._pending_earners[community_id]

"""The community simulator: realistic, deterministic, bounded; and its reference model."""

from __future__ import annotations

import tracemalloc
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from townsquare.core.balances import Balances
from townsquare.core.community_rules import CommunityConfig
from townsquare.core.events import Event, MessageMeta
from townsquare.core.kinds import ChannelType, Currency, EventKind, Platform
from townsquare.core.outcomes import OutcomeStatus
from townsquare.pipeline.simulator import (
    MAX_SCHEDULED,
    RECENT_MESSAGES,
    RECENT_THREADS,
    Mix,
    SimulationSpec,
    Simulator,
    _MemberIds,
    channel_layout,
    expected_outcome,
    simulated_config,
)

REACTIONS = (EventKind.REACTION_ADDED, EventKind.REACTION_REMOVED)
JOINS = (EventKind.MEMBER_JOINED, EventKind.FOLLOW)


def _drained(sim: Simulator, n: int) -> list[Event]:
    """The next ``n`` events plus whatever the simulator had already generated for later."""
    events = sim.take(n)
    return events + sim.take(sim.window_sizes()["buffered"])


def _messages_by_id(events: Sequence[Event]) -> dict[str, Event]:
    return {e.event_id: e for e in events if e.kind is EventKind.MESSAGE}


def _ring_reactions(sim: Simulator, events: Sequence[Event]) -> int:
    rings = [set(ring) for ring in sim.farming_rings("guild-1")]
    return sum(
        1
        for e in events
        if e.kind is EventKind.REACTION_ADDED
        and any(e.member_id in ring and e.target_member_id in ring for ring in rings)
    )


def _spam_runs(events: Sequence[Event], min_size: int = 8) -> int:
    """Runs of >= min_size messages by one member, <= 3 s apart, within 1 bit of the first."""
    runs = 0
    open_runs: dict[tuple[str, str], tuple[int, int, int]] = {}  # first fp, last at, size
    for e in events:
        if e.kind is not EventKind.MESSAGE or e.message is None:
            continue
        key = (e.community_id, e.member_id)
        fingerprint = e.message.fingerprint
        current = open_runs.get(key)
        if (
            current is not None
            and e.at - current[1] <= 3
            and (fingerprint ^ current[0]).bit_count() <= 2
        ):
            open_runs[key] = (current[0], e.at, current[2] + 1)
            continue
        if current is not None and current[2] >= min_size:
            runs += 1
        open_runs[key] = (fingerprint, e.at, 1)
    return runs + sum(1 for _, _, size in open_runs.values() if size >= min_size)


# --------------------------------------------------------------------------- determinism


def test_a_seed_gives_the_same_stream_however_it_is_taken() -> None:
    spec = SimulationSpec(communities=2, line_communities=1, seed=7, members=80)
    whole = Simulator(spec).take(6000)
    pieces = Simulator(spec)
    parts = pieces.take(1) + pieces.take(2500) + list(pieces.events(3499))
    assert parts == whole
    assert list(Simulator(spec).events(6000)) == whole


def test_different_seeds_give_different_streams() -> None:
    first = Simulator(SimulationSpec(seed=1)).take(2000)
    second = Simulator(SimulationSpec(seed=2)).take(2000)
    assert [e.member_id for e in first] != [e.member_id for e in second]
    assert {e.message.fingerprint for e in first if e.message} != {
        e.message.fingerprint for e in second if e.message
    }


def test_event_ids_are_unique_across_communities_and_platforms() -> None:
    sim = Simulator(SimulationSpec(communities=3, line_communities=2, members=50))
    events = sim.take(40_000)
    assert len({(e.platform, e.event_id) for e in events}) == len(events)
    assert len({e.event_id for e in events}) == len(events)


def test_the_id_prefix_separates_runs() -> None:
    a = Simulator(SimulationSpec(id_prefix="run-a.")).take(100)
    b = Simulator(SimulationSpec(id_prefix="run-b.")).take(100)
    assert {e.event_id for e in a}.isdisjoint(e.event_id for e in b)
    assert all(e.event_id.startswith("run-a.") for e in a)


# --------------------------------------------------------------------------- realism


def test_member_activity_is_zipf_skewed() -> None:
    events = Simulator(SimulationSpec(members=200).without_abuse()).take(30_000)
    per_member = Counter(e.member_id for e in events if e.kind is EventKind.MESSAGE)
    counts = sorted(per_member.values(), reverse=True)
    total = sum(counts)
    assert sum(counts[:20]) / total > 0.5  # the top 10% write most messages
    assert sum(counts[100:]) / total < 0.2  # the bottom half little
    assert len(per_member) > 150  # but the long tail does speak


def test_channel_popularity_is_skewed_and_types_are_used() -> None:
    sim = Simulator(SimulationSpec(members=100).without_abuse())
    events = sim.take(20_000)
    per_channel = Counter(
        e.channel_id
        for e in events
        if e.kind is EventKind.MESSAGE and e.channel_type is not ChannelType.THREAD
    )
    ranked = per_channel.most_common()
    assert ranked[0][0] == "guild-1-c0"
    assert ranked[0][1] > 5 * ranked[-1][1]
    types = {e.channel_type for e in events}
    assert {ChannelType.TEXT, ChannelType.THREAD, ChannelType.VOICE} <= types
    assert ChannelType.ANNOUNCEMENT in types
    layout = {c.id: c for c in sim.channels("guild-1")}
    parents = {e.parent_channel_id for e in events if e.parent_channel_id is not None}
    assert any(layout[p].type is ChannelType.FORUM for p in parents)
    for e in events:
        if e.channel_type is ChannelType.THREAD:
            assert e.parent_channel_id in layout
            assert e.category_id == layout[e.parent_channel_id].category_id
            if e.message is not None:
                assert e.message.in_thread
        elif e.kind is EventKind.MESSAGE:
            assert e.message is not None
            assert not e.message.in_thread
            assert e.parent_channel_id is None


def test_threads_are_created_before_they_receive_messages() -> None:
    events = Simulator(SimulationSpec(members=60)).take(20_000)
    created: set[str] = set()
    thread_messages = 0
    for e in events:
        if e.kind is EventKind.THREAD_CREATED:
            assert e.channel_id is not None
            created.add(e.channel_id)
        elif e.kind is EventKind.MESSAGE and e.channel_type is ChannelType.THREAD:
            assert e.channel_id in created
            thread_messages += 1
    assert thread_messages > 500


def test_activity_follows_the_hour_of_day() -> None:
    spec = SimulationSpec(members=100, events_per_day=2000).without_abuse()
    events = Simulator(spec).take(40_000)  # about 18 days
    per_hour = Counter((e.at // 3600) % 24 for e in events)
    evening = sum(per_hour[h] for h in (18, 19, 20, 21)) / 4
    night = sum(per_hour[h] for h in (3, 4, 5)) / 3
    assert evening > 5 * night
    days = (events[-1].at - events[0].at) / 86_400
    assert 15 < days < 22  # events_per_day is honoured (ordinary steps, plus joins etc.)


def test_time_never_goes_backwards() -> None:
    spec = SimulationSpec(
        communities=2, line_communities=1, members=40, spam_burst_rate=0.01, farming_rate=0.01
    )
    events = Simulator(spec).take(30_000)
    assert all(a.at <= b.at for a, b in pairwise(events))
    assert events[0].at >= spec.start


def test_message_metadata_is_varied_and_plausible() -> None:
    events = Simulator(SimulationSpec().without_abuse()).take(20_000)
    metas = [e.message for e in events if e.message is not None]
    n = len(metas)
    lengths = sorted(m.length for m in metas)
    assert 15 <= lengths[n // 2] <= 80  # a typical chat message
    assert lengths[-1] > 500
    assert 0.03 < sum(m.links > 0 for m in metas) / n < 0.2
    assert 0.005 < sum(m.code_blocks > 0 for m in metas) / n < 0.08
    assert 0.03 < sum(m.attachments > 0 for m in metas) / n < 0.15
    assert 0.1 < sum(m.is_reply for m in metas) / n < 0.4
    assert 0.005 < sum(m.emoji >= 10 for m in metas) / n < 0.05
    assert 0.01 < sum(m.fingerprint == 0 for m in metas) / n < 0.06
    repeated = Counter(m.fingerprint for m in metas if m.fingerprint)
    duplicates = sum(count for count in repeated.values() if count > 1)
    assert 0.02 < duplicates / n < 0.15  # common phrases repeat across members


def test_voice_segments_carry_flags_and_the_afk_channel() -> None:
    sim = Simulator(SimulationSpec(members=50).without_abuse())
    events = sim.take(30_000)
    voice = [e for e in events if e.kind is EventKind.VOICE_SEGMENT]
    assert len(voice) > 500
    metas = [e.voice for e in voice if e.voice is not None]
    assert len(metas) == len(voice)
    assert all(m.minutes >= 1 for m in metas)
    assert any(m.muted for m in metas)
    assert any(m.deafened for m in metas)
    assert any(m.alone for m in metas)
    afk_ids = {c.id for c in sim.channels("guild-1") if c.afk}
    assert afk_ids
    for e in voice:
        assert e.voice is not None
        assert e.voice.afk == (e.channel_id in afk_ids)
    assert any(e.channel_id in afk_ids for e in voice)


def test_first_appearance_is_usually_preceded_by_a_join() -> None:
    spec = SimulationSpec(members=300, pre_joined_share=0.1, mix=Mix(leave=0.01))
    events = Simulator(spec).take(40_000)
    first: dict[str, Event] = {}
    present: dict[str, bool] = {}
    for e in events:
        first.setdefault(e.member_id, e)
        if e.kind is EventKind.MEMBER_LEFT:
            assert present.get(e.member_id, True)
            present[e.member_id] = False
        elif e.kind in JOINS:
            assert not present.get(e.member_id, False)
            present[e.member_id] = True
        else:
            # Someone who left comes back through a join before acting again.
            assert present.get(e.member_id, True), e
            present.setdefault(e.member_id, True)
    joined_first = sum(1 for e in first.values() if e.kind is EventKind.MEMBER_JOINED)
    assert 0.8 < joined_first / len(first) < 0.97
    assert any(e.kind is EventKind.MEMBER_LEFT for e in events)


def test_members_overlap_between_guilds_but_not_with_line() -> None:
    spec = SimulationSpec(communities=2, line_communities=1, members=100, member_overlap=0.2)
    events = Simulator(spec).take(30_000)
    members: dict[str, set[str]] = {}
    for e in events:
        members.setdefault(e.community_id, set()).add(e.member_id)
    assert members["guild-1"] & members["guild-2"]
    assert not members["line-1"] & (members["guild-1"] | members["guild-2"])


def test_a_line_community_speaks_line() -> None:
    spec = SimulationSpec(communities=1, line_communities=1, members=60)
    events = Simulator(spec).take(20_000)
    line = [e for e in events if e.community_id == "line-1"]
    assert line
    assert all(e.platform is Platform.LINE for e in line)
    assert all(e.platform is Platform.DISCORD for e in events if e.community_id == "guild-1")
    kinds = Counter(e.kind for e in line)
    assert kinds[EventKind.POSTBACK] > 100
    assert kinds[EventKind.FOLLOW] > 10
    assert kinds[EventKind.MEMBER_JOINED] == 0
    assert not {EventKind.REACTION_ADDED, EventKind.VOICE_SEGMENT, EventKind.THREAD_CREATED} & set(
        kinds
    )
    assert {e.channel_type for e in line} <= {ChannelType.LINE_GROUP, ChannelType.LINE_USER}
    assert all(e.roles == () for e in line)
    first: dict[str, Event] = {}
    for e in line:
        first.setdefault(e.member_id, e)
    assert sum(e.kind is EventKind.FOLLOW for e in first.values()) > 0.8 * len(first)


# --------------------------------------------------------------------------- reactions and abuse


def test_reactions_target_earlier_messages_by_their_real_author() -> None:
    spec = SimulationSpec(members=60, farming_rate=0.005, self_reaction_rate=0.05)
    events = Simulator(spec).take(30_000)
    messages: dict[str, Event] = {}
    live: Counter[tuple[str, str]] = Counter()
    removed = 0
    for e in events:
        if e.kind is EventKind.MESSAGE:
            messages[e.event_id] = e
        elif e.kind in REACTIONS:
            assert e.target_message_id is not None
            target = messages[e.target_message_id]  # emitted earlier
            assert e.target_member_id == target.member_id
            assert e.target_roles == target.roles
            assert (e.channel_id, e.parent_channel_id, e.category_id) == (
                target.channel_id,
                target.parent_channel_id,
                target.category_id,
            )
            assert target.at <= e.at
            key = (e.member_id, e.target_message_id)
            if e.kind is EventKind.REACTION_ADDED:
                live[key] += 1
            else:
                assert live[key] > 0  # only what was added is removed
                live[key] -= 1
                removed += 1
    added = sum(1 for e in events if e.kind is EventKind.REACTION_ADDED)
    assert added > 3000
    assert 0.02 < removed / added < 0.08


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.2])
def test_self_reactions_appear_at_the_configured_rate(rate: float) -> None:
    spec = replace(SimulationSpec(members=80).without_abuse(), self_reaction_rate=rate)
    sim = Simulator(spec)
    events = _drained(sim, 25_000)
    added = [e for e in events if e.kind is EventKind.REACTION_ADDED]
    own = sum(1 for e in added if e.member_id == e.target_member_id)
    assert own == sim.stats.self_reactions
    if rate == 0.0:
        assert own == 0
    else:
        assert abs(own / len(added) - rate) < 0.25 * rate


def test_reaction_farming_appears_at_the_configured_rate_and_not_when_disabled() -> None:
    enabled = replace(SimulationSpec(members=200).without_abuse(), farming_rate=0.003)
    sim = Simulator(enabled)
    events = _drained(sim, 40_000)
    stats = sim.stats
    expected = enabled.farming_rate * stats.steps
    assert abs(stats.farming_episodes - expected) < 0.35 * expected
    ring_reactions = _ring_reactions(sim, events)
    not_yet = sim.window_sizes()["scheduled"]
    assert ring_reactions >= stats.farming_reactions - not_yet
    added = sum(1 for e in events if e.kind is EventKind.REACTION_ADDED)
    assert ring_reactions > 0.1 * added
    # The pattern: the same giver -> receiver pair many times a day, in both directions.
    pairs = Counter(
        (e.member_id, e.target_member_id, e.at // 86_400)
        for e in events
        if e.kind is EventKind.REACTION_ADDED
    )
    heavy = {(giver, receiver) for (giver, receiver, _), n in pairs.items() if n >= 6}
    assert any((receiver, giver) in heavy for giver, receiver in heavy)

    disabled = Simulator(SimulationSpec(members=200).without_abuse())
    quiet = disabled.take(40_000)
    assert disabled.stats.farming_episodes == disabled.stats.farming_reactions == 0
    quiet_added = sum(1 for e in quiet if e.kind is EventKind.REACTION_ADDED)
    assert _ring_reactions(disabled, quiet) < 0.02 * quiet_added


def test_spam_bursts_are_near_identical_floods_and_absent_when_disabled() -> None:
    spec = replace(SimulationSpec(members=100).without_abuse(), spam_burst_rate=0.002)
    sim = Simulator(spec)
    events = _drained(sim, 30_000)
    bursts = sim.stats.spam_bursts
    assert bursts > 20
    assert abs(bursts - spec.spam_burst_rate * sim.stats.steps) < 0.4 * bursts
    assert bursts - 1 <= _spam_runs(events) <= bursts  # the last may still be scheduled
    quiet = Simulator(SimulationSpec(members=100).without_abuse()).take(30_000)
    assert _spam_runs(quiet) == 0


def test_abuse_is_blocked_by_the_rules_as_the_reference_model_shows() -> None:
    spec = replace(
        SimulationSpec(members=60, events_per_day=5000).without_abuse(),
        spam_burst_rate=0.01,
        farming_rate=0.01,
        self_reaction_rate=0.1,
    )
    sim = Simulator(spec)
    events = sim.take(6000)
    totals = expected_outcome(events, sim.configs())
    assert totals.statuses[OutcomeStatus.BLOCKED] > 0.15 * len(events)
    assert totals.statuses[OutcomeStatus.APPLIED] > 0.4 * len(events)


# --------------------------------------------------------------------------- memory


def test_internal_windows_stay_bounded() -> None:
    spec = SimulationSpec(
        communities=2,
        members=500,
        events_per_day=5_000_000,  # removals pile up faster than they come due
        reaction_removal_rate=1.0,
        spam_burst_rate=0.01,
        farming_rate=0.01,
        mix=Mix(message=0.4, reaction=0.6),
    )
    sim = Simulator(spec)
    sizes = []
    for _ in range(4):
        for _ in sim.events(50_000):
            pass
        sizes.append(sim.window_sizes())
    for size in sizes:
        assert size["recent_messages"] <= RECENT_MESSAGES
        assert size["recent_threads"] <= RECENT_THREADS
        assert size["scheduled"] <= MAX_SCHEDULED + 64  # the cap plus one farming episode
        assert size["buffered"] <= 1000
    assert sizes[-1]["scheduled"] > MAX_SCHEDULED // 2  # the cap was what held it
    assert sim.stats.episodes_dropped > 0


# --------------------------------------------------------------------------- the reference model


def _event(
    event_id: str,
    kind: EventKind,
    member: str,
    at: int,
    *,
    community: str = "guild-1",
    message: MessageMeta | None = None,
    target: Event | None = None,
) -> Event:
    return Event(
        event_id,
        kind,
        Platform.DISCORD,
        community,
        member,
        at,
        "general" if kind is not EventKind.MEMBER_JOINED else None,
        message=message,
        target_member_id=target.member_id if target else None,
        target_message_id=target.event_id if target else None,
    )


def test_expected_outcome_matches_a_hand_computed_stream() -> None:
    config = CommunityConfig.model_validate(
        {
            "quality": {"enabled": False},
            "anti_gaming": {
                "cooldown_seconds": 0,
                "daily_caps": {"xp": None, "stars": None, "gold": None},
            },
            "levels": {"curve": {"type": "linear", "xp_per_level": 20}, "gold_per_level_up": 3},
        }
    )
    t = 1_767_225_600
    hello = _event("m1", EventKind.MESSAGE, "alice", t + 1, message=MessageMeta(length=40))
    again = _event("m2", EventKind.MESSAGE, "alice", t + 2, message=MessageMeta(length=40))
    stream = [
        _event("j1", EventKind.MEMBER_JOINED, "alice", t),  # alice +10 gold
        hello,  # alice +15 xp +1 gold
        again,  # alice +15 xp +1 gold; 30 xp -> level 1: +3 gold
        _event("j2", EventKind.MEMBER_JOINED, "bob", t + 3),  # bob +10 gold
        _event("r1", EventKind.REACTION_ADDED, "bob", t + 4, target=hello),  # alice +1 star
        _event("r2", EventKind.REACTION_ADDED, "bob", t + 5, target=again),  # bob +1 xp each
        _event("r3", EventKind.REACTION_REMOVED, "bob", t + 6, target=again),  # reversed
        _event("r4", EventKind.REACTION_ADDED, "alice", t + 7, target=hello),  # self: blocked
        _event("j3", EventKind.MEMBER_JOINED, "alice", t + 8, community="guild-2"),  # +10 gold
        _event("r1", EventKind.REACTION_ADDED, "bob", t + 9, target=hello),  # redelivery
    ]
    totals = expected_outcome(stream, config)
    assert totals.balances("guild-1", "alice") == Balances(xp=30, stars=1, gold=15)
    assert totals.level("guild-1", "alice") == 1
    assert totals.balances("guild-1", "bob") == Balances(xp=1, stars=0, gold=10)
    assert totals.level("guild-1", "bob") == 0
    assert totals.balances("guild-2", "alice") == Balances(gold=10)
    assert totals.balances("guild-2", "bob") == Balances()
    assert totals.ledger_sums["guild-1"] == {Currency.XP: 31, Currency.STARS: 1, Currency.GOLD: 25}
    assert totals.ledger_sums["guild-2"] == {Currency.XP: 0, Currency.STARS: 0, Currency.GOLD: 10}
    # rows: j1 1, m1 2, m2 3 (xp, gold, level gold), j2 1, r1 2, r2 2, r3 2, j3 1
    assert totals.ledger_rows == {"guild-1": 13, "guild-2": 1}
    assert totals.statuses == {OutcomeStatus.APPLIED: 8, OutcomeStatus.BLOCKED: 1}
    assert totals.redeliveries == 1


def test_expected_outcome_ledger_sums_equal_member_balances() -> None:
    spec = SimulationSpec(communities=2, line_communities=1, members=40, events_per_day=300)
    sim = Simulator(spec)
    events = sim.take(12_000)  # several days: a season rolls over
    totals = expected_outcome(events, sim.configs())
    assert set(totals.ledger_sums) == set(sim.community_ids)
    for community in sim.community_ids:
        held = Balances()
        for (where, _), member in totals.members.items():
            if where == community:
                held = held.plus(member.lifetime)
        sums = totals.ledger_sums[community]
        assert (held.xp, held.stars, held.gold) == (
            sums[Currency.XP],
            sums[Currency.STARS],
            sums[Currency.GOLD],
        )
        assert held.xp > 0
    assert totals.ledger_sums["guild-1"][Currency.STARS] > 0
    rolled = [m for m in totals.members.values() if m.season_id == "S2"]
    assert any(m.season.xp < m.lifetime.xp for m in rolled)  # S1's earnings stayed behind
    assert any(m.level >= 2 for m in totals.members.values())
    assert any(m.achievements for m in totals.members.values())


def test_a_single_config_serves_every_community() -> None:
    events = Simulator(SimulationSpec(communities=2, members=30)).take(2000)
    totals = expected_outcome(events, simulated_config())
    assert {community for community, _ in totals.members} == {"guild-1", "guild-2"}
    with pytest.raises(ValueError, match="no configuration"):
        expected_outcome(events, {"guild-1": simulated_config()})


def test_simulated_config_matches_the_channel_layout() -> None:
    layout = channel_layout("guild-9", 24, Platform.DISCORD)
    config = simulated_config("guild-9", 24)
    ids = {c.id for c in layout} | {c.category_id for c in layout if c.category_id}
    assert {rule.target_id for rule in config.multipliers.channel_rules} <= ids
    assert config.anti_gaming.afk_channel_ids == {c.id for c in layout if c.afk}
    assert config.multipliers.no_reward_channels == {c.id for c in layout if c.no_reward}
    assert len(config.achievements) >= 20
    assert any(a.series for a in config.achievements)
    assert config.seasons.recurring is not None


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "change",
    [
        {"members": 1},
        {"communities": 0},
        {"channels": 0},
        {"events_per_day": 0},
        {"self_reaction_rate": 1.5},
        {"spam_burst_rate": 0.4, "farming_rate": 0.4},
        {"mix": Mix(message=0)},
        {"start": -1},
    ],
)
def test_specs_out_of_bounds_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SimulationSpec(**change)  # type: ignore[arg-type]


@st.composite
def specs(draw: st.DrawFn) -> SimulationSpec:
    """Any specification within the documented bounds (kept small for speed)."""
    discord, line = draw(st.sampled_from([(1, 0), (2, 0), (0, 1), (1, 1)]))
    unit = st.floats(0.0, 1.0)
    return SimulationSpec(
        communities=discord,
        line_communities=line,
        members=draw(st.integers(2, 60)),
        channels=draw(st.integers(1, 30)),
        seed=draw(st.integers(0, 2**32)),
        start=draw(st.integers(0, 2_000_000_000)),
        events_per_day=draw(st.sampled_from([1, 50, 5000, 10_000_000])),
        mix=Mix(
            message=draw(st.floats(0.01, 1.0)),
            reaction=draw(unit),
            thread=draw(st.floats(0.0, 0.3)),
            voice=draw(st.floats(0.0, 0.3)),
            leave=draw(st.floats(0.0, 0.2)),
            postback=draw(st.floats(0.0, 0.5)),
        ),
        member_zipf=draw(st.floats(0.0, 3.0)),
        channel_zipf=draw(st.floats(0.0, 3.0)),
        member_overlap=draw(unit),
        pre_joined_share=draw(unit),
        reaction_removal_rate=draw(unit),
        self_reaction_rate=draw(unit),
        spam_burst_rate=draw(st.floats(0.0, 0.2)),
        farming_rate=draw(st.floats(0.0, 0.2)),
    )


@settings(max_examples=30, deadline=None)
@given(spec=specs())
def test_any_spec_in_bounds_yields_events_the_engine_accepts(spec: SimulationSpec) -> None:
    sim = Simulator(spec)
    events = sim.take(400)
    assert len(events) == 400
    seen: set[str] = set()
    messages = _messages_by_id(events)
    last_at: dict[str, int] = {}
    for e in events:
        assert e.event_id not in seen
        seen.add(e.event_id)
        assert e.community_id in sim.community_ids
        assert e.at >= last_at.get(e.community_id, spec.start)
        last_at[e.community_id] = e.at
        if e.kind in REACTIONS:
            assert e.target_message_id in messages
            assert messages[e.target_message_id].member_id == e.target_member_id
        if e.kind is EventKind.VOICE_SEGMENT:
            assert e.voice is not None
        if e.kind is EventKind.MESSAGE:
            assert e.message is not None
    expected_outcome(events, sim.configs())  # raises EngineInputError on a malformed event


def test_member_ids_are_made_from_the_index_and_read_back() -> None:
    discord = _MemberIds("u", 5, offset=40)
    line = _MemberIds("U0001", 3, hex_digits=True)
    assert list(discord) == ["u40", "u41", "u42", "u43", "u44"]
    assert list(line) == ["U000100000000", "U000100000001", "U000100000002"]
    assert [discord.index_of(m) for m in discord] == [0, 1, 2, 3, 4]
    assert [line.index_of(m) for m in line] == [0, 1, 2]
    assert discord[-1] == "u44"
    for outside in ("u45", "u39", "x41"):
        with pytest.raises(KeyError):
            discord.index_of(outside)
    with pytest.raises(IndexError):
        discord[5]


def test_a_simulated_member_takes_a_few_bytes() -> None:
    tracemalloc.start()
    try:
        simulator = Simulator(SimulationSpec(communities=4, members=100_000, seed=3))
        simulator.take(1_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 400,000 members: ~5 MB (a list of ids, a dict back to the index, a list of floats
    # and a tuple of roles per member took ~80 MB).
    assert peak < 16_000_000

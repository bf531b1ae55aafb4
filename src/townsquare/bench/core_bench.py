"""Throughput of the pure rules engine on message events (``townsquare bench core``).

Builds a realistic community (10 channel rules, channel-type defaults, role multipliers,
20 achievements, a few hundred members whose activity follows a Zipf-like distribution so
busy members hit the cooldown), pre-builds the events, then times only the
``apply`` loop on one core. Not part of ``townsquare.core``: it may use the clock and a
seeded random generator.
"""

from __future__ import annotations

import random
import time
from typing import Any

from townsquare.core.community_rules import CommunityConfig, compile_rules
from townsquare.core.engine import apply
from townsquare.core.events import Event, MessageMeta
from townsquare.core.kinds import ChannelType, EventKind, Platform
from townsquare.core.outcomes import OutcomeStatus
from townsquare.core.state import MemberState

_START = 1_767_225_600  # 2026-01-01T00:00:00Z
_MEMBERS = 400
_CHANNELS = 24
_SPAN_SECONDS = 14 * 86_400


def bench_config() -> CommunityConfig:
    """A community configured the way a busy server is: rules, roles, achievements."""
    channel_rules: list[dict[str, Any]] = [
        {"target_id": f"ch{i}", "kind": "message", "multiplier": 1.0 + i / 10} for i in range(6)
    ]
    channel_rules += [
        {"target_id": "ch6", "multiplier": 0.5},
        {"target_id": "ch7", "kind": "reaction_added", "multiplier": 2.0},
        {"target_id": "cat1", "multiplier": 1.25},
        {"target_id": "cat2", "kind": "message", "multiplier": 0.75},
    ]
    achievements: list[dict[str, Any]] = []
    for tier, threshold in enumerate((1, 10, 100, 1000, 10_000), start=1):
        achievements.append(
            {
                "id": f"chatter-{tier}",
                "name": f"Chatter {tier}",
                "series": "chatter",
                "tier": tier,
                "trigger": {"type": "counter", "counter": "messages", "threshold": threshold},
                "reward": {"xp": 10 * tier, "gold": 5 * tier},
            }
        )
    for tier, threshold in enumerate((1000, 10_000, 100_000), start=1):
        achievements.append(
            {
                "id": f"xp-{tier}",
                "name": f"Experienced {tier}",
                "series": "xp",
                "tier": tier,
                "trigger": {"type": "balance", "currency": "xp", "threshold": threshold},
            }
        )
    for level in (5, 10, 20, 30):
        achievements.append(
            {
                "id": f"level-{level}",
                "name": f"Level {level}",
                "trigger": {"type": "level", "level": level},
                "reward": {"gold": level * 10, "role_id": f"role-level-{level}"},
            }
        )
    achievements += [
        {"id": "decade", "name": "Decade", "trigger": {"type": "level_interval", "every": 10}},
        {
            "id": "daily-50",
            "name": "Busy day",
            "trigger": {"type": "counter", "counter": "messages", "window": "day", "threshold": 50},
        },
        {
            "id": "season-200",
            "name": "Season regular",
            "trigger": {
                "type": "counter",
                "counter": "messages",
                "window": "season",
                "threshold": 200,
            },
        },
        {"id": "streak-3", "name": "Three days", "trigger": {"type": "streak", "days": 3}},
        {"id": "streak-7", "name": "A week", "trigger": {"type": "streak", "days": 7}},
        {"id": "veteran", "name": "Veteran", "trigger": {"type": "tenure", "days": 365}},
        {
            "id": "gold-500",
            "name": "Saver",
            "trigger": {"type": "balance", "currency": "gold", "threshold": 500},
        },
        {
            "id": "first-post",
            "name": "Hello",
            "max_earners": 100,
            "trigger": {"type": "first_event", "kind": "message"},
        },
    ]
    return CommunityConfig.model_validate(
        {
            "multipliers": {
                "channel_rules": channel_rules,
                "channel_type_defaults": [
                    {"channel_type": "thread", "multiplier": 0.9},
                    {"channel_type": "announcement", "kind": "message", "multiplier": 0.0},
                ],
                "role_multipliers": {"booster": 1.5, "mod": 1.2, "newbie": 0.8},
                "no_reward_channels": ["bot-commands"],
                "no_reward_roles": ["muted"],
            },
            "achievements": achievements,
            "seasons": {"recurring": {"anchor_at": _START, "length_days": 7}},
        }
    )


def _zipf_weights(n: int, exponent: float = 1.1) -> list[float]:
    return [1.0 / (rank**exponent) for rank in range(1, n + 1)]


def build_events(count: int, seed: int) -> list[Event]:
    """Message events in time order from Zipf-distributed members across channels."""
    rng = random.Random(seed)  # noqa: S311 - a seeded workload, not a secret
    members = [f"m{i}" for i in range(_MEMBERS)]
    member_roles = {
        member: tuple(
            role
            for role, share in (("booster", 0.1), ("mod", 0.03), ("newbie", 0.3), ("muted", 0.01))
            if rng.random() < share
        )
        for member in members
    }
    chosen = rng.choices(members, weights=_zipf_weights(_MEMBERS), k=count)
    channel_picks = rng.choices(range(_CHANNELS), weights=_zipf_weights(_CHANNELS, 0.8), k=count)
    events = []
    step = _SPAN_SECONDS / count
    for index, (member, channel) in enumerate(zip(chosen, channel_picks, strict=True)):
        in_thread = channel >= 20
        fingerprint = rng.getrandbits(64) if rng.random() > 0.03 else 0xDEADBEEF
        events.append(
            Event(
                event_id=f"e{index}",
                kind=EventKind.MESSAGE,
                platform=Platform.DISCORD,
                community_id="bench",
                member_id=member,
                at=_START + int(index * step),
                channel_id=f"ch{channel}",
                channel_type=ChannelType.THREAD if in_thread else ChannelType.TEXT,
                parent_channel_id="ch1" if in_thread else None,
                category_id="cat1" if channel % 3 == 0 else "cat2",
                roles=member_roles[member],
                message=MessageMeta(
                    length=int(rng.paretovariate(1.2) * 15),
                    links=int(rng.random() < 0.1),
                    code_blocks=int(rng.random() < 0.05),
                    attachments=int(rng.random() < 0.08),
                    emoji=rng.choice((0, 0, 0, 1, 2, 12)),
                    is_reply=rng.random() < 0.3,
                    in_thread=in_thread,
                    fingerprint=fingerprint,
                ),
            )
        )
    return events


def run_core_bench(events: int = 200_000, seed: int = 1) -> dict[str, float]:
    """Apply ``events`` message events; return events/s and what happened to them."""
    rules = compile_rules(bench_config())
    prepared = build_events(events, seed)
    states: dict[str, MemberState] = {}
    blocked = 0
    unlocks = 0
    level_ups = 0
    started = time.perf_counter()
    for event in prepared:
        member = event.member_id
        state = states.get(member)
        if state is None:
            state = MemberState(member)
        outcome = apply(state, rules, event)
        states[member] = outcome.state
        if outcome.status is not OutcomeStatus.APPLIED:
            blocked += 1
        unlocks += len(outcome.unlocks)
        level_ups += len(outcome.level_changes)
    seconds = time.perf_counter() - started
    return {
        "events_per_s": events / seconds if seconds > 0 else float("inf"),
        "events": float(events),
        "seconds": seconds,
        "members": float(len(states)),
        "blocked_share": blocked / events if events else 0.0,
        "unlocks": float(unlocks),
        "level_changes": float(level_ups),
    }


if __name__ == "__main__":  # pragma: no cover - manual runs; the CLI wires the real command
    print(run_core_bench())

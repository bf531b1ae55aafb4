"""The engine's memos (on compiled rules) are invisible: outcomes are the same without them."""

from __future__ import annotations

import pytest

from tests.core.builders import World
from townsquare.bench.core_bench import bench_config, build_events
from townsquare.core import achievements, engine, multipliers
from townsquare.core.community_rules import compile_rules
from townsquare.core.outcomes import Outcome


def _run() -> list[Outcome]:
    world = World(compile_rules(bench_config()))
    return [world.apply(event) for event in build_events(20_000, seed=5)]


def test_outcomes_do_not_depend_on_the_memos(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _run()
    for module, limit in (
        (engine, "REWARD_MEMO_LIMIT"),
        (multipliers, "CHANNEL_MEMO_LIMIT"),
        (achievements, "OPEN_MEMO_LIMIT"),
    ):
        monkeypatch.setattr(module, limit, 1)
    assert _run() == expected

from hypothesis import example, given
from hypothesis import strategies as st

from tests.core.builders import rules
from townsquare.core.balances import Balances
from townsquare.core.draft import Effects, MemberDraft
from townsquare.core.progression import _update_level
from townsquare.core.state import MemberState

LEVEL_RULES = {
    allow_down: rules(levels={"max_level": 20, "allow_level_down": allow_down})
    for allow_down in (False, True)
}
THRESHOLDS = LEVEL_RULES[False].curve.thresholds


@given(
    level=st.integers(-3, 23),
    band=st.integers(-1, 2),
    offset=st.integers(-1, 1),
    anywhere=st.none() | st.integers(-10, 2 * THRESHOLDS[-1]),
    allow_down=st.booleans(),
)
@example(level=20, band=0, offset=0, anywhere=None, allow_down=False)  # at the top level
@example(level=23, band=0, offset=0, anywhere=None, allow_down=True)  # above it (config shrank)
@example(level=0, band=0, offset=0, anywhere=None, allow_down=False)
@example(level=-2, band=0, offset=0, anywhere=THRESHOLDS[-2], allow_down=True)  # a corrupt level
def test_level_follows_the_curve_up_and_only_down_when_allowed(
    level: int, band: int, offset: int, anywhere: int | None, allow_down: bool
) -> None:
    # XP at or beside the edges of the member's current level band, or anywhere at all.
    index = min(max(level + band, 0), len(THRESHOLDS) - 1)
    xp = THRESHOLDS[index] + offset if anywhere is None else anywhere
    config = LEVEL_RULES[allow_down]
    draft = MemberDraft(MemberState("alice", level=level, lifetime=Balances(xp=xp)))
    target = config.curve.level_for(xp)
    expected = target if target > level or (target < level and allow_down) else level
    moved = _update_level(draft, config, "e1", Effects())
    assert (moved, draft.level) == (expected != level, expected)

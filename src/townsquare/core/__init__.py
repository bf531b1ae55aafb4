"""Townsquare's pure engagement rules: (member state, community rules, event) -> outcome.

No I/O, no clock, no framework: time comes in on the event, configuration is validated
once and compiled, and every result is reproducible from its inputs. Start at
`townsquare.core.engine.apply`; `docs/economy.md` describes the rules for admins.
"""

from townsquare.core.balances import Balances
from townsquare.core.community_rules import CommunityConfig, CommunityRules, compile_rules
from townsquare.core.context import NO_CONTEXT, EventContext
from townsquare.core.engine import apply
from townsquare.core.errors import EngineInputError
from townsquare.core.events import Event, ManualMeta, MessageMeta, VoiceMeta
from townsquare.core.explain import BlockReason, RewardBreakdown, render_breakdown
from townsquare.core.kinds import (
    ChannelType,
    Counter,
    Currency,
    EventKind,
    Platform,
    Rarity,
    RewardKind,
    Window,
)
from townsquare.core.outcomes import LedgerEntry, LedgerReason, Outcome, OutcomeStatus
from townsquare.core.state import MemberState

__all__ = [
    "NO_CONTEXT",
    "Balances",
    "BlockReason",
    "ChannelType",
    "CommunityConfig",
    "CommunityRules",
    "Counter",
    "Currency",
    "EngineInputError",
    "Event",
    "EventContext",
    "EventKind",
    "LedgerEntry",
    "LedgerReason",
    "ManualMeta",
    "MemberState",
    "MessageMeta",
    "Outcome",
    "OutcomeStatus",
    "Platform",
    "Rarity",
    "RewardBreakdown",
    "RewardKind",
    "VoiceMeta",
    "Window",
    "apply",
    "compile_rules",
    "render_breakdown",
]

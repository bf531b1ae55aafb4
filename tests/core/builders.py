"""Plain builders for core tests: events, configs and a tiny event-sequence runner."""

from __future__ import annotations

from typing import Any

from townsquare.core.balances import Balances
from townsquare.core.community_rules import CommunityConfig, CommunityRules, compile_rules
from townsquare.core.context import EventContext
from townsquare.core.engine import apply
from townsquare.core.events import Event, ManualMeta, MessageMeta, VoiceMeta
from townsquare.core.kinds import ChannelType, EventKind, Platform
from townsquare.core.outcomes import Outcome
from townsquare.core.state import MemberState

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, a day boundary in UTC
DAY = 86_400


def rules(**config: Any) -> CommunityRules:
    """Compile a config given as plain data (validated like an admin's JSON)."""
    return compile_rules(CommunityConfig.model_validate(config))


def quiet_rules(**config: Any) -> CommunityRules:
    """Rules with quality, cooldown, caps and level bonuses off unless given: base x factors."""
    defaults: dict[str, Any] = {
        "quality": {"enabled": False},
        "anti_gaming": {
            "cooldown_seconds": 0,
            "daily_caps": {"xp": None, "stars": None, "gold": None},
        },
        "levels": {"gold_per_level_up": 0},
    }
    for key, value in config.items():
        if isinstance(value, dict) and isinstance(defaults.get(key), dict):
            defaults[key] = {**defaults[key], **value}
        else:
            defaults[key] = value
    return rules(**defaults)


def message(
    event_id: str = "e1",
    *,
    member: str = "alice",
    at: int = T0,
    channel: str | None = "general",
    channel_type: ChannelType = ChannelType.TEXT,
    parent: str | None = None,
    category: str | None = None,
    roles: tuple[str, ...] = (),
    length: int = 50,
    fingerprint: int = 0,
    **meta: Any,
) -> Event:
    """A message event with metadata."""
    return Event(
        event_id,
        EventKind.MESSAGE,
        Platform.DISCORD,
        "guild",
        member,
        at,
        channel_id=channel,
        channel_type=channel_type,
        parent_channel_id=parent,
        category_id=category,
        roles=roles,
        message=MessageMeta(length=length, fingerprint=fingerprint, **meta),
    )


def reaction(
    event_id: str,
    *,
    giver: str = "bob",
    receiver: str = "alice",
    message_id: str = "m1",
    at: int = T0,
    removed: bool = False,
    channel: str = "general",
    roles: tuple[str, ...] = (),
    target_roles: tuple[str, ...] = (),
) -> Event:
    """A reaction added (or removed) by ``giver`` on ``receiver``'s message."""
    return Event(
        event_id,
        EventKind.REACTION_REMOVED if removed else EventKind.REACTION_ADDED,
        Platform.DISCORD,
        "guild",
        giver,
        at,
        channel_id=channel,
        roles=roles,
        target_member_id=receiver,
        target_message_id=message_id,
        target_roles=target_roles,
    )


def voice(
    event_id: str, minutes: int, *, member: str = "alice", at: int = T0, **flags: bool
) -> Event:
    """A closed voice segment."""
    return Event(
        event_id,
        EventKind.VOICE_SEGMENT,
        Platform.DISCORD,
        "guild",
        member,
        at,
        channel_id="lounge",
        channel_type=ChannelType.VOICE,
        voice=VoiceMeta(minutes, **flags),
    )


def manual(
    event_id: str,
    *,
    member: str = "alice",
    at: int = T0,
    revoke: bool = False,
    xp: int = 0,
    stars: int = 0,
    gold: int = 0,
    achievement: str | None = None,
) -> Event:
    """An admin's award or revoke."""
    return Event(
        event_id,
        EventKind.MANUAL_REVOKE if revoke else EventKind.MANUAL_AWARD,
        Platform.DISCORD,
        "guild",
        member,
        at,
        manual=ManualMeta(Balances(xp, stars, gold), achievement),
    )


def simple(event_id: str, kind: EventKind, *, member: str = "alice", at: int = T0) -> Event:
    """An event with no metadata (join, leave, follow, thread, postback)."""
    platform = Platform.LINE if kind in (EventKind.FOLLOW, EventKind.POSTBACK) else Platform.DISCORD
    return Event(event_id, kind, platform, "guild", member, at, channel_id="general")


class World:
    """Threads member states through a sequence of events, as the pipeline would."""

    def __init__(self, rules: CommunityRules) -> None:
        self.rules = rules
        self.states: dict[str, MemberState] = {}
        self.earners: dict[str, int] = {}

    def state(self, member: str) -> MemberState:
        """A member's current state (fresh if never seen)."""
        return self.states.get(member) or MemberState(member)

    def apply(self, event: Event) -> Outcome:
        """Apply one event and store the resulting states."""
        receiver = None
        target = event.target_member_id
        if target is not None and target != event.member_id:
            receiver = self.state(target)
        context = EventContext(receiver=receiver, earner_counts=dict(self.earners))
        outcome = apply(self.state(event.member_id), self.rules, event, context)
        self.states[event.member_id] = outcome.state
        if outcome.receiver_state is not None:
            self.states[outcome.receiver_state.member_id] = outcome.receiver_state
        for unlock in outcome.unlocks:
            self.earners[unlock.achievement_id] = self.earners.get(unlock.achievement_id, 0) + 1
        return outcome

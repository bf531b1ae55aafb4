"""The rules engine: ``apply(state, rules, event) -> Outcome``.

One handler per event kind, chosen from a routing table. Each handler either returns a
blocked outcome (nothing changed; the breakdown says why) or edits a `MemberDraft`, then
settles levels and achievements and freezes the result. Pure and deterministic: the same
(state, rules, event, context) always gives the same outcome, on any machine.

Replays: the event lake deduplicates on (platform, event id) before the engine, and the
engine also recognises a replay of any of the member's last ``replay_window`` applied
events (their ids are kept in the state), so applying an event twice changes nothing.
Blocked events change no state, so replaying them is trivially a no-op as well.
"""

from __future__ import annotations

from collections.abc import Callable

from townsquare.core.anti_gaming import (
    apply_daily_caps,
    is_duplicate,
    on_cooldown,
    scaled,
    voice_block,
)
from townsquare.core.balances import Balances
from townsquare.core.community_rules import CommunityRules
from townsquare.core.context import NO_CONTEXT, EventContext
from townsquare.core.draft import Effects, MemberDraft, blocked_outcome
from townsquare.core.errors import EngineInputError
from townsquare.core.events import Event, MessageMeta
from townsquare.core.explain import BlockReason, QualityBreakdown, RewardBreakdown
from townsquare.core.fast_init import direct_constructor
from townsquare.core.fixed_point import ONE
from townsquare.core.kinds import Counter, Currency, EventKind, RewardKind
from townsquare.core.multipliers import channel_factor, no_reward_block, role_factor
from townsquare.core.outcomes import LedgerReason, Outcome, RoleChange
from townsquare.core.progression import credited_currencies, settle, unlock
from townsquare.core.quality import message_quality
from townsquare.core.reactions import on_reaction_added, on_reaction_removed
from townsquare.core.state import MemberState

#: One per event, rewarded or blocked: see `fast_init.direct_constructor`.
_RewardBreakdown = direct_constructor(RewardBreakdown)

Handler = Callable[[MemberState, CommunityRules, Event, EventContext], Outcome]

_NO_MESSAGE = MessageMeta()
_MESSAGE_KIND = RewardKind.MESSAGE
_ACTIVITY = LedgerReason.ACTIVITY
_MESSAGES_COUNTER = Counter.MESSAGES
_MESSAGES = (Counter.MESSAGES,)
_VOICE = (Counter.VOICE_SEGMENTS, Counter.VOICE_MINUTES)


def apply(
    state: MemberState,
    rules: CommunityRules,
    event: Event,
    context: EventContext = NO_CONTEXT,
) -> Outcome:
    """Apply one event to the acting member's state (and the receiver's, for reactions)."""
    if event.event_id in state.recent_event_ids:
        breakdown = RewardBreakdown(state.member_id, None, blocked_by=BlockReason.REPLAY)
        return blocked_outcome(state, event.event_id, breakdown, context.receiver)
    if state.member_id != event.member_id:
        raise EngineInputError("the state passed is not the acting member's")
    return _HANDLERS[event.kind](state, rules, event, context)


def _blocked(
    state: MemberState, rules: CommunityRules, event: Event, kind: RewardKind, reason: BlockReason
) -> Outcome:
    breakdown = _RewardBreakdown(state.member_id, kind, rules.base[kind], blocked_by=reason)
    return blocked_outcome(state, event.event_id, breakdown)


#: Most (kind, units, factors) combinations whose reward `_computed` remembers.
REWARD_MEMO_LIMIT = 4096


def _computed(
    rules: CommunityRules,
    kind: RewardKind,
    base: Balances,
    units: int,
    factors: tuple[int, ...],
) -> Balances:
    """``scaled(base, units, factors)``, remembered on the compiled rules.

    Channels, roles and quality tiers take few values, so the same few rewards are computed
    over and over; Balances are immutable, so one object can serve every event that earns
    it. Bounded: started afresh after `REWARD_MEMO_LIMIT` combinations.
    """
    key = (kind, units, factors)
    memo = rules.reward_memo
    found = memo.get(key)
    if found is None:
        if len(memo) >= REWARD_MEMO_LIMIT:
            memo.clear()
        found = memo[key] = scaled(base, units, factors)
    return found


def _activity_reward(
    draft: MemberDraft,
    rules: CommunityRules,
    event: Event,
    kind: RewardKind,
    effects: Effects,
    *,
    units: int = 1,
    quality: int = ONE,
    quality_breakdown: QualityBreakdown | None = None,
) -> Balances:
    """base x units x channel x role (x quality), floored once, then daily caps; credited."""
    base = rules.base[kind]
    channel = channel_factor(rules, event)
    role = role_factor(rules, event.roles)
    if quality_breakdown is None:
        factors: tuple[int, ...] = (channel.value, role.value)
    else:
        factors = (channel.value, role.value, quality)
    computed = _computed(rules, kind, base, units, factors)
    granted, caps = apply_daily_caps(rules, draft.day_earned, computed)
    draft.credit(granted, _ACTIVITY, event.event_id, effects, daily=True)
    effects.breakdowns.append(
        _RewardBreakdown(
            draft.member_id,
            kind,
            base,
            units,
            channel,
            role,
            quality_breakdown,
            None,
            computed,
            caps,
            granted,
        )
    )
    return granted


def _finish(
    draft: MemberDraft,
    rules: CommunityRules,
    event: Event,
    context: EventContext,
    effects: Effects,
    counters: tuple[Counter, ...] = (),
    currencies: tuple[Currency, ...] = (),
    streak: bool = False,
) -> Outcome:
    draft.remember_event(event.event_id, rules.replay_window)
    settle(
        draft,
        rules,
        event.event_id,
        event.at,
        context.earner_counts,
        effects,
        counters,
        currencies,
        streak,
    )
    return effects.outcome(event.event_id, draft)


def _on_message(
    state: MemberState, rules: CommunityRules, event: Event, context: EventContext
) -> Outcome:
    meta = event.message or _NO_MESSAGE
    block = no_reward_block(rules, event, event.roles)
    if block is None:
        if on_cooldown(rules, state.last_rewarded_at, event):
            return _blocked(state, rules, event, _MESSAGE_KIND, BlockReason.COOLDOWN)
        if rules.duplicate_window and is_duplicate(
            rules, state.recent_fingerprints, meta.fingerprint
        ):
            return _blocked(state, rules, event, _MESSAGE_KIND, BlockReason.DUPLICATE)
    effects = Effects()
    draft = MemberDraft(state)
    day = rules.day_of(event.at)
    draft.roll(day, rules.seasons.season_at(event.at), effects)
    granted: Balances | None = None
    if block is None:
        quality, quality_breakdown = message_quality(rules.quality, meta)
        granted = _activity_reward(
            draft,
            rules,
            event,
            _MESSAGE_KIND,
            effects,
            quality=quality,
            quality_breakdown=quality_breakdown,
        )
        if event.kind in rules.cooldown_kinds:
            draft.last_rewarded_at = event.at
    else:
        effects.breakdowns.append(
            RewardBreakdown(
                state.member_id,
                _MESSAGE_KIND,
                rules.base[_MESSAGE_KIND],
                blocked_by=block,
            )
        )
    draft.remember_fingerprint(meta.fingerprint, rules.duplicate_window)
    draft.count(_MESSAGES_COUNTER)
    streak = draft.mark_active(day)
    currencies = credited_currencies(granted) if granted else ()
    return _finish(draft, rules, event, context, effects, _MESSAGES, currencies, streak)


def _simple_activity(kind: RewardKind, counter: Counter) -> Handler:
    """Handler for events rewarded by base x channel x role: threads and postbacks."""

    def handle(
        state: MemberState, rules: CommunityRules, event: Event, context: EventContext
    ) -> Outcome:
        block = no_reward_block(rules, event, event.roles)
        if block is None and on_cooldown(rules, state.last_rewarded_at, event):
            block = BlockReason.COOLDOWN
        if block is not None:
            return _blocked(state, rules, event, kind, block)
        effects = Effects()
        draft = MemberDraft(state)
        day = rules.day_of(event.at)
        draft.roll(day, rules.seasons.season_at(event.at), effects)
        granted = _activity_reward(draft, rules, event, kind, effects)
        if event.kind in rules.cooldown_kinds:
            draft.last_rewarded_at = event.at
        draft.count(counter)
        streak = draft.mark_active(day)
        currencies = credited_currencies(granted)
        return _finish(draft, rules, event, context, effects, (counter,), currencies, streak)

    return handle


def _on_voice(
    state: MemberState, rules: CommunityRules, event: Event, context: EventContext
) -> Outcome:
    voice = event.voice
    if voice is None:
        raise EngineInputError("voice events need VoiceMeta")
    kind = RewardKind.VOICE_MINUTE
    block = no_reward_block(rules, event, event.roles) or voice_block(rules, event, voice)
    if block is not None:
        return _blocked(state, rules, event, kind, block)
    day = rules.day_of(event.at)
    minutes = max(0, voice.minutes)
    cap = rules.voice_daily_cap_minutes
    if cap is not None:
        used = state.today.voice_minutes if state.today.day >= day else 0
        minutes = min(minutes, max(0, cap - used))
    if minutes == 0:
        return _blocked(state, rules, event, kind, BlockReason.VOICE_DAILY_CAP)
    effects = Effects()
    draft = MemberDraft(state)
    draft.roll(day, rules.seasons.season_at(event.at), effects)
    granted = _activity_reward(draft, rules, event, kind, effects, units=minutes)
    draft.voice_minutes += minutes
    draft.count(Counter.VOICE_SEGMENTS)
    draft.count(Counter.VOICE_MINUTES, minutes)
    streak = draft.mark_active(day)
    currencies = credited_currencies(granted)
    return _finish(draft, rules, event, context, effects, _VOICE, currencies, streak)


def _welcome(kind: RewardKind, counter: Counter) -> Handler:
    """Handler for joining / following: the welcome reward is paid on the first one only.

    No multipliers apply (there is no channel), and a leave-and-rejoin earns nothing again.
    """

    def handle(
        state: MemberState, rules: CommunityRules, event: Event, context: EventContext
    ) -> Outcome:
        effects = Effects()
        draft = MemberDraft(state)
        draft.roll(rules.day_of(event.at), rules.seasons.season_at(event.at), effects)
        if draft.joined_at is None:
            draft.joined_at = event.at
        base = rules.base[kind]
        granted = Balances()
        if state.counter(counter) == 0:
            granted = base
            draft.credit(base, LedgerReason.ACTIVITY, event.event_id, effects, daily=False)
            effects.breakdowns.append(
                RewardBreakdown(state.member_id, kind, base, computed=base, granted=base)
            )
        else:
            effects.breakdowns.append(
                RewardBreakdown(state.member_id, kind, base, blocked_by=BlockReason.ALREADY_JOINED)
            )
        draft.count(counter)
        currencies = credited_currencies(granted)
        return _finish(draft, rules, event, context, effects, (counter,), currencies)

    return handle


def _on_member_left(
    state: MemberState, rules: CommunityRules, event: Event, context: EventContext
) -> Outcome:
    breakdown = RewardBreakdown(state.member_id, None, blocked_by=BlockReason.NOT_REWARDED_KIND)
    return blocked_outcome(state, event.event_id, breakdown)


def _on_manual(
    state: MemberState, rules: CommunityRules, event: Event, context: EventContext
) -> Outcome:
    manual = event.manual
    if manual is None:
        raise EngineInputError("manual award/revoke events need ManualMeta")
    amounts = manual.amounts
    if amounts.xp < 0 or amounts.stars < 0 or amounts.gold < 0:
        raise EngineInputError("manual amounts are non-negative; the event kind gives the sign")
    effects = Effects()
    draft = MemberDraft(state)
    draft.roll(rules.day_of(event.at), rules.seasons.season_at(event.at), effects)
    before = draft.lifetime
    notes: list[str] = []
    achievement_id = manual.achievement_id
    item = rules.achievements.by_id.get(achievement_id) if achievement_id else None
    if achievement_id is not None and item is None:
        notes.append(f"{BlockReason.UNKNOWN_ACHIEVEMENT.value}: {achievement_id}")
    if event.kind is EventKind.MANUAL_AWARD:
        draft.credit(amounts, LedgerReason.MANUAL_AWARD, event.event_id, effects, daily=False)
        if item is not None and item.id not in draft.achievements:
            limit = item.config.max_earners
            if limit is not None and context.earner_counts.get(item.id, 0) >= limit:
                notes.append(f"{BlockReason.MAX_EARNERS_REACHED.value}: {item.id}")
            else:
                draft.achievements = draft.achievements | {item.id}
                unlock(draft, item, item.id, event.event_id, effects)
    else:
        notes += draft.debit(
            amounts,
            LedgerReason.MANUAL_REVOKE,
            event.event_id,
            effects,
            allow_negative=rules.allow_negative,
        )
        if item is not None and item.id in draft.achievements:
            draft.achievements = draft.achievements - {item.id}
            role_id = item.config.reward.role_id
            if role_id is not None:
                effects.role_changes += (
                    RoleChange(state.member_id, role_id, False, f"achievement:{item.id}"),
                )
    changed = draft.lifetime.minus(before)
    effects.breakdowns.insert(
        0,
        RewardBreakdown(
            state.member_id, None, amounts, computed=amounts, granted=changed, notes=tuple(notes)
        ),
    )
    return _finish(draft, rules, event, context, effects, (), credited_currencies(changed))


_HANDLERS: dict[EventKind, Handler] = {
    EventKind.MESSAGE: _on_message,
    EventKind.REACTION_ADDED: on_reaction_added,
    EventKind.REACTION_REMOVED: on_reaction_removed,
    EventKind.THREAD_CREATED: _simple_activity(RewardKind.THREAD_CREATED, Counter.THREADS_CREATED),
    EventKind.POSTBACK: _simple_activity(RewardKind.POSTBACK, Counter.POSTBACKS),
    EventKind.VOICE_SEGMENT: _on_voice,
    EventKind.MEMBER_JOINED: _welcome(RewardKind.MEMBER_JOINED, Counter.JOINS),
    EventKind.FOLLOW: _welcome(RewardKind.FOLLOW, Counter.FOLLOWS),
    EventKind.MEMBER_LEFT: _on_member_left,
    EventKind.MANUAL_AWARD: _on_manual,
    EventKind.MANUAL_REVOKE: _on_manual,
}

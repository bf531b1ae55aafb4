"""Reaction rules: the receiver earns Stars, the giver a little XP, removal reverses both.

A reaction touches two members, so the pipeline passes the receiver's state in the
`EventContext` and the outcome carries both new states. What a reaction gave is stored on
the receiver's state (message -> giver -> grant) so removing it reverses exactly that,
whatever the configuration or multipliers are by then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from townsquare.core.anti_gaming import apply_daily_caps, reaction_share, scaled
from townsquare.core.balances import ZERO, Balances
from townsquare.core.community_rules import CommunityRules
from townsquare.core.context import EventContext
from townsquare.core.draft import Effects, MemberDraft, blocked_outcome
from townsquare.core.errors import EngineInputError
from townsquare.core.events import Event
from townsquare.core.explain import BlockReason, RewardBreakdown
from townsquare.core.kinds import Counter, RewardKind
from townsquare.core.multipliers import channel_factor, no_reward_block, role_factor
from townsquare.core.outcomes import LedgerReason, Outcome
from townsquare.core.progression import credited_currencies, settle
from townsquare.core.state import MemberState, ReactionGrant

_GIVEN = RewardKind.REACTION_GIVEN
_RECEIVED = RewardKind.REACTION_RECEIVED
_NO_PAIRS: Mapping[str, int] = {}


def _targets(event: Event) -> tuple[str, str]:
    if event.target_member_id is None or event.target_message_id is None:
        raise EngineInputError("reaction events need target_member_id and target_message_id")
    return event.target_member_id, event.target_message_id


def _receiver_state(context: EventContext, receiver_id: str) -> MemberState:
    receiver = context.receiver
    if receiver is None or receiver.member_id != receiver_id:
        raise EngineInputError("reaction events need the receiver's state in the context")
    return receiver


def _blocked(
    state: MemberState,
    rules: CommunityRules,
    event: Event,
    reason: BlockReason,
    receiver: MemberState | None,
) -> Outcome:
    breakdown = RewardBreakdown(state.member_id, _GIVEN, rules.base[_GIVEN], blocked_by=reason)
    return blocked_outcome(state, event.event_id, breakdown, receiver)


def _only_count_live(
    state: MemberState,
    receiver: MemberState,
    rules: CommunityRules,
    event: Event,
    message_id: str,
    grant: ReactionGrant,
    reason: BlockReason,
) -> Outcome:
    """Another emoji from the same giver (or removal of one of several): track, pay nothing."""
    effects = Effects()
    giver = MemberDraft(state)
    receiver_draft = MemberDraft(receiver)
    receiver_draft.set_grant(message_id, state.member_id, grant, rules.tracked_reaction_messages)
    giver.remember_event(event.event_id, rules.replay_window)
    effects.breakdowns.append(RewardBreakdown(state.member_id, _GIVEN, blocked_by=reason))
    return effects.outcome(event.event_id, giver, receiver_draft)


def on_reaction_added(
    state: MemberState, rules: CommunityRules, event: Event, context: EventContext
) -> Outcome:
    """Reward a reaction: Stars to the author (diminishing per message), XP to the giver."""
    receiver_id, message_id = _targets(event)
    giver_id = state.member_id
    if receiver_id == giver_id:
        return _blocked(state, rules, event, BlockReason.SELF_REACTION, context.receiver)
    receiver = _receiver_state(context, receiver_id)
    block = no_reward_block(rules, event, event.roles)
    if block is not None:
        return _blocked(state, rules, event, block, receiver)
    givers = receiver.message_reactions.get(message_id)
    existing = givers.get(giver_id) if givers else None
    if existing is not None:
        grant = replace(existing, live=existing.live + 1)
        return _only_count_live(
            state, receiver, rules, event, message_id, grant, BlockReason.ALREADY_REACTED
        )
    day = rules.day_of(event.at)
    pairs = state.today.reactions_given_to if state.today.day >= day else _NO_PAIRS
    given = pairs.get(receiver_id, 0)
    if given >= rules.reaction_pair_daily_cap:
        return _blocked(state, rules, event, BlockReason.PAIR_CAP, receiver)
    if given == 0 and len(pairs) >= rules.reaction_partners_per_day:
        return _blocked(state, rules, event, BlockReason.PARTNER_LIMIT, receiver)
    position = (len(givers) if givers else 0) + 1
    if position >= len(rules.reaction_shares):
        return _blocked(state, rules, event, BlockReason.REACTOR_LIMIT, receiver)

    effects = Effects()
    season_id = rules.seasons.season_at(event.at)
    giver = MemberDraft(state)
    receiver_draft = MemberDraft(receiver)
    giver.roll(day, season_id, effects)
    receiver_draft.roll(day, season_id, effects)
    channel = channel_factor(rules, event)

    receiver_role = role_factor(rules, event.target_roles)
    base_received = rules.base[_RECEIVED]
    notes: tuple[str, ...] = ()
    if rules.no_reward_roles and not rules.no_reward_roles.isdisjoint(event.target_roles):
        computed_received = ZERO
        notes = (BlockReason.NO_REWARD_ROLE.value,)
    else:
        computed_received = reaction_share(
            base_received, position, rules.reaction_shares, (channel.value, receiver_role.value)
        )
    received, received_caps = apply_daily_caps(rules, receiver_draft.day_earned, computed_received)
    receiver_draft.credit(
        received, LedgerReason.REACTION_RECEIVED, event.event_id, effects, daily=True
    )

    giver_role = role_factor(rules, event.roles)
    base_given = rules.base[_GIVEN]
    computed_given = scaled(base_given, 1, (channel.value, giver_role.value))
    given_amounts, given_caps = apply_daily_caps(rules, giver.day_earned, computed_given)
    giver.credit(given_amounts, LedgerReason.ACTIVITY, event.event_id, effects, daily=True)

    grant = ReactionGrant(received, given_amounts, receiver_draft.day, receiver_draft.season_id)
    receiver_draft.set_grant(message_id, giver_id, grant, rules.tracked_reaction_messages)
    giver.reactions_given_to = {**giver.reactions_given_to, receiver_id: given + 1}
    giver.count(Counter.REACTIONS_GIVEN)
    receiver_draft.count(Counter.REACTIONS_RECEIVED)
    streak = giver.mark_active(day)
    giver.remember_event(event.event_id, rules.replay_window)
    effects.breakdowns.append(
        RewardBreakdown(
            giver_id,
            _GIVEN,
            base_given,
            1,
            channel,
            giver_role,
            computed=computed_given,
            caps=given_caps,
            granted=given_amounts,
        )
    )
    effects.breakdowns.append(
        RewardBreakdown(
            receiver_id,
            _RECEIVED,
            base_received,
            1,
            channel,
            receiver_role,
            diminishing_position=position,
            computed=computed_received,
            caps=received_caps,
            granted=received,
            notes=notes,
        )
    )
    earners = context.earner_counts
    settle(
        giver,
        rules,
        event.event_id,
        event.at,
        earners,
        effects,
        (Counter.REACTIONS_GIVEN,),
        credited_currencies(given_amounts),
        streak,
    )
    settle(
        receiver_draft,
        rules,
        event.event_id,
        event.at,
        earners,
        effects,
        (Counter.REACTIONS_RECEIVED,),
        credited_currencies(received),
    )
    return effects.outcome(event.event_id, giver, receiver_draft)


def on_reaction_removed(
    state: MemberState, rules: CommunityRules, event: Event, context: EventContext
) -> Outcome:
    """Reverse exactly what the giver's reaction gave, once their last reaction is gone."""
    receiver_id, message_id = _targets(event)
    giver_id = state.member_id
    if receiver_id == giver_id:
        return _blocked(state, rules, event, BlockReason.SELF_REACTION, context.receiver)
    receiver = _receiver_state(context, receiver_id)
    givers = receiver.message_reactions.get(message_id)
    grant = givers.get(giver_id) if givers else None
    if grant is None:
        return _blocked(state, rules, event, BlockReason.NOTHING_TO_REVERSE, receiver)
    if grant.live > 1:
        fewer = replace(grant, live=grant.live - 1)
        return _only_count_live(
            state, receiver, rules, event, message_id, fewer, BlockReason.STILL_REACTED
        )

    effects = Effects()
    day = rules.day_of(event.at)
    season_id = rules.seasons.season_at(event.at)
    giver = MemberDraft(state)
    receiver_draft = MemberDraft(receiver)
    giver.roll(day, season_id, effects)
    receiver_draft.roll(day, season_id, effects)
    reversed_amounts: list[tuple[MemberDraft, Balances, Counter, RewardKind]] = [
        (giver, grant.giver, Counter.REACTIONS_GIVEN, _GIVEN),
        (receiver_draft, grant.receiver, Counter.REACTIONS_RECEIVED, _RECEIVED),
    ]
    for draft, amounts, counter, kind in reversed_amounts:
        same_day = draft.day == grant.day
        same_season = draft.season_id == grant.season_id
        before = draft.lifetime
        notes = draft.debit(
            amounts,
            LedgerReason.REACTION_REVERSED,
            event.event_id,
            effects,
            allow_negative=rules.allow_negative,
            season=same_season,
            daily=same_day,
        )
        draft.count(counter, -1, season=same_season, day=same_day)
        effects.breakdowns.append(
            RewardBreakdown(
                draft.member_id,
                kind,
                amounts,
                computed=ZERO.minus(amounts),
                granted=draft.lifetime.minus(before),
                notes=("reverses the reaction's grant", *notes),
            )
        )
    if giver.day == grant.day:
        pairs = dict(giver.reactions_given_to)
        remaining = pairs.get(receiver_id, 0) - 1
        if remaining > 0:
            pairs[receiver_id] = remaining
        else:
            pairs.pop(receiver_id, None)
        giver.reactions_given_to = pairs
    receiver_draft.set_grant(message_id, giver_id, None, rules.tracked_reaction_messages)
    giver.remember_event(event.event_id, rules.replay_window)
    earners = context.earner_counts
    settle(giver, rules, event.event_id, event.at, earners, effects)
    settle(receiver_draft, rules, event.event_id, event.at, earners, effects)
    return effects.outcome(event.event_id, giver, receiver_draft)

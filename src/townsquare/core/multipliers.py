"""Channel and role multipliers, and the channels and roles that earn nothing.

Channel precedence, first match wins: a rule for the channel and this event kind, a rule
for the channel and any kind, the same two for a thread's parent channel, then for the
channel's category, then the channel-type default for the kind, for any kind, and 1.0.
Every candidate was built at compile time, so resolving is a few dict lookups.
"""

from __future__ import annotations

from townsquare.core.community_rules import ChannelKey, CommunityRules
from townsquare.core.events import Event
from townsquare.core.explain import NEUTRAL, AppliedFactor, BlockReason
from townsquare.core.fixed_point import ONE, SCALE

#: Most channel placements whose factor `channel_factor` remembers per compiled rules.
CHANNEL_MEMO_LIMIT = 4096


def channel_factor(rules: CommunityRules, event: Event) -> AppliedFactor:
    """The channel multiplier for this event, with the rule it came from.

    The answer depends only on where the event happened and its kind, and a community has
    few such places, so it is memoised on the compiled rules (bounded: started afresh
    after `CHANNEL_MEMO_LIMIT` places) instead of walking the rule tables every time.
    """
    key: ChannelKey = (
        event.channel_id,
        event.parent_channel_id,
        event.category_id,
        event.channel_type,
        event.kind,
    )
    memo = rules.channel_memo
    found = memo.get(key)
    if found is None:
        if len(memo) >= CHANNEL_MEMO_LIMIT:
            memo.clear()
        found = memo[key] = _resolve_channel_factor(rules, event)
    return found


def _resolve_channel_factor(rules: CommunityRules, event: Event) -> AppliedFactor:
    kind = event.kind
    if rules.channel_level:
        for table, target in (
            (rules.channel_level, event.channel_id),
            (rules.parent_level, event.parent_channel_id),
            (rules.category_level, event.category_id),
        ):
            if target is not None:
                found = table.get((target, kind)) or table.get((target, None))
                if found is not None:
                    return found
    if rules.type_level:
        channel_type = event.channel_type
        found = rules.type_level.get((channel_type, kind)) or rules.type_level.get(
            (channel_type, None)
        )
        if found is not None:
            return found
    return NEUTRAL


def role_factor(rules: CommunityRules, roles: tuple[str, ...]) -> AppliedFactor:
    """The member's role multiplier: the largest, or the product, of their roles' factors."""
    factors = rules.role_factors
    if not factors or not roles:
        return NEUTRAL
    if len(roles) == 1:  # the usual case, without building a list (~2,400 instructions)
        return factors.get(roles[0], NEUTRAL)
    matched = [factors[role] for role in roles if role in factors]
    if not matched:
        return NEUTRAL
    if len(matched) == 1:
        return matched[0]
    if not rules.role_product:
        return max(matched, key=lambda factor: factor.value)
    value = ONE
    for factor in matched:
        value = value * factor.value // SCALE
    return AppliedFactor(value, " x ".join(factor.source for factor in matched))


def no_reward_block(
    rules: CommunityRules, event: Event, roles: tuple[str, ...]
) -> BlockReason | None:
    """Whether the place (channel, thread parent, category) or a role earns nothing."""
    places = rules.no_reward_channels
    if places and (
        event.channel_id in places
        or event.parent_channel_id in places
        or event.category_id in places
    ):
        return BlockReason.NO_REWARD_CHANNEL
    if roles and rules.no_reward_roles and not rules.no_reward_roles.isdisjoint(roles):
        return BlockReason.NO_REWARD_ROLE
    return None

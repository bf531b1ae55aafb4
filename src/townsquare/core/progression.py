"""After balances change: levels, level rewards and achievements, until nothing moves.

Achievement rewards can grant XP, which can level the member up, which can pay Gold and
unlock level achievements, so settling loops to a fixed point (bounded: every iteration
unlocks at least one achievement, and each unlocks at most once).
"""

from __future__ import annotations

from collections.abc import Mapping

from townsquare.core.achievements import CompiledAchievement, find_unlocks
from townsquare.core.balances import Balances
from townsquare.core.community_rules import CommunityRules
from townsquare.core.draft import Effects, MemberDraft
from townsquare.core.kinds import Counter, Currency
from townsquare.core.levels import level_roles_held, level_up_gold
from townsquare.core.outcomes import (
    AchievementUnlock,
    Announcement,
    AnnouncementKind,
    LedgerReason,
    LevelChange,
    RoleChange,
)

_REWARD_CURRENCIES = (Currency.XP, Currency.GOLD)


#: The currencies changed, by (xp changed, stars changed, gold changed); built once so
#: every event does not assemble the same small tuples again.
_CHANGED: dict[tuple[bool, bool, bool], tuple[Currency, ...]] = {
    (xp, stars, gold): tuple(
        currency
        for currency, changed in ((Currency.XP, xp), (Currency.STARS, stars), (Currency.GOLD, gold))
        if changed
    )
    for xp in (False, True)
    for stars in (False, True)
    for gold in (False, True)
}


def credited_currencies(amounts: Balances) -> tuple[Currency, ...]:
    """The currencies an amount changes (what balance achievements need re-checking)."""
    return _CHANGED[(amounts.xp != 0, amounts.stars != 0, amounts.gold != 0)]


def unlock(
    draft: MemberDraft,
    item: CompiledAchievement,
    achievement_id: str,
    event_id: str,
    effects: Effects,
) -> None:
    """Record an unlock (already added to the draft's set) and pay its rewards."""
    config = item.config
    member_id = draft.member_id
    effects.unlocks += (
        AchievementUnlock(
            member_id, achievement_id, config.name, config.category, config.rarity, config.hidden
        ),
    )
    effects.announcements += (
        Announcement(
            AnnouncementKind.ACHIEVEMENT_UNLOCKED, member_id, achievement_id=achievement_id
        ),
    )
    reward = config.reward
    draft.credit(
        Balances(xp=reward.xp, gold=reward.gold),
        LedgerReason.ACHIEVEMENT_REWARD,
        event_id,
        effects,
        daily=False,
    )
    if reward.role_id is not None:
        effects.role_changes += (
            RoleChange(member_id, reward.role_id, True, f"achievement:{achievement_id}"),
        )


def _update_level(
    draft: MemberDraft, rules: CommunityRules, event_id: str, effects: Effects
) -> bool:
    xp = draft.lifetime.xp
    old = draft.level
    thresholds = rules.curve.thresholds
    # Most events leave the XP within the current level's band: no search, no call.
    if 0 <= old < len(thresholds) - 1 and thresholds[old] <= xp < thresholds[old + 1]:
        return False
    target = rules.curve.level_for(xp)
    if target == old or (target < old and not rules.levels.allow_level_down):
        return False
    draft.level = target
    bonus = level_up_gold(rules.levels, old, target)
    if bonus:
        draft.credit(
            Balances(gold=bonus), LedgerReason.LEVEL_UP_BONUS, event_id, effects, daily=False
        )
    if target > old:
        effects.announcements += (
            Announcement(AnnouncementKind.LEVEL_UP, draft.member_id, level=target),
        )
    return True


def settle(
    draft: MemberDraft,
    rules: CommunityRules,
    event_id: str,
    at: int,
    earner_counts: Mapping[str, int],
    effects: Effects,
    counters: tuple[Counter, ...] = (),
    currencies: tuple[Currency, ...] = (),
    streak: bool = False,
) -> None:
    """Bring level and achievements up to date with the draft's balances and counters.

    ``counters``, ``currencies`` and ``streak`` say what the event changed, so only the
    achievements watching those are checked.
    """
    start_level = draft.level
    has_achievements = bool(rules.achievements.by_id)
    while True:
        level_moved = _update_level(draft, rules, event_id, effects)
        if not has_achievements:
            break
        if level_moved:
            currencies = (*currencies, Currency.GOLD)
        key = (counters, currencies, level_moved, streak)
        unlocks = find_unlocks(rules.achievements, draft, key, at, earner_counts)
        if not unlocks:
            break
        paid = False
        for item, achievement_id in unlocks:
            unlock(draft, item, achievement_id, event_id, effects)
            reward = item.config.reward
            paid = paid or bool(reward.xp or reward.gold)
        if not paid:
            break
        counters, currencies, streak = (), _REWARD_CURRENCIES, False
    if draft.level != start_level:
        effects.level_changes += (LevelChange(draft.member_id, start_level, draft.level),)
        if rules.levels.level_roles:
            before = level_roles_held(rules.levels, start_level)
            after = level_roles_held(rules.levels, draft.level)
            effects.role_changes += tuple(
                RoleChange(draft.member_id, role, True, "level") for role in sorted(after - before)
            )
            effects.role_changes += tuple(
                RoleChange(draft.member_id, role, False, "level") for role in sorted(before - after)
            )

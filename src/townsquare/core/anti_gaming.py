"""Rules that keep rewards for genuine activity.

Cooldowns are per member per community, not per channel (per-channel cooldowns let a
spammer multiply rewards across channels). Daily caps bound what activity can earn.
Duplicate detection compares SimHash fingerprints, so a lightly edited copy-paste is
caught too. Reaction rewards shrink with every extra reactor on a message.
"""

from __future__ import annotations

from townsquare.core.balances import Balances
from townsquare.core.community_rules import CommunityRules
from townsquare.core.events import Event, VoiceMeta
from townsquare.core.explain import BlockReason, CapHit
from townsquare.core.fixed_point import scale_power
from townsquare.core.kinds import Currency


def on_cooldown(rules: CommunityRules, last_rewarded_at: int | None, event: Event) -> bool:
    """Whether a cooldown-limited event comes too soon after the last rewarded one."""
    return (
        last_rewarded_at is not None
        and event.kind in rules.cooldown_kinds
        and event.at - last_rewarded_at < rules.cooldown_seconds
    )


def is_duplicate(rules: CommunityRules, recent: tuple[int, ...], fingerprint: int) -> bool:
    """Whether the fingerprint is within ``near_duplicate_bits`` of a recent message's.

    An exact copy is at distance 0, so one scan finds copies and near copies alike (an
    exact ``in`` scan before it cost ~1,300 instructions per message and decided nothing).
    """
    if not fingerprint:
        return False
    bits = rules.near_duplicate_bits
    if not bits:
        return fingerprint in recent
    for previous in recent:  # noqa: SIM110 - any() over a generator costs more per item
        if (fingerprint ^ previous).bit_count() <= bits:
            return True
    return False


def voice_block(rules: CommunityRules, event: Event, voice: VoiceMeta) -> BlockReason | None:
    """Voice time earns nothing alone, muted and deafened, or in an AFK channel."""
    if voice.afk or event.channel_id in rules.afk_channel_ids:
        return BlockReason.VOICE_AFK
    if voice.alone:
        return BlockReason.VOICE_ALONE
    if voice.muted and voice.deafened:
        return BlockReason.VOICE_MUTED_DEAFENED
    return None


def apply_daily_caps(
    rules: CommunityRules, earned_today: Balances, computed: Balances
) -> tuple[Balances, tuple[CapHit, ...]]:
    """Cut ``computed`` so today's totals never pass the daily caps."""
    xp_cap, stars_cap, gold_cap = rules.daily_caps
    xp, stars, gold = computed.xp, computed.stars, computed.gold
    hits: list[CapHit] = []
    if xp_cap is not None and earned_today.xp + xp > xp_cap:
        granted = max(0, xp_cap - earned_today.xp)
        hits.append(CapHit(Currency.XP, xp, granted))
        xp = granted
    if stars_cap is not None and earned_today.stars + stars > stars_cap:
        granted = max(0, stars_cap - earned_today.stars)
        hits.append(CapHit(Currency.STARS, stars, granted))
        stars = granted
    if gold_cap is not None and earned_today.gold + gold > gold_cap:
        granted = max(0, gold_cap - earned_today.gold)
        hits.append(CapHit(Currency.GOLD, gold, granted))
        gold = granted
    if not hits:
        return computed, ()
    return Balances(xp, stars, gold), tuple(hits)


def scaled(base: Balances, units: int, factors: tuple[int, ...]) -> Balances:
    """``floor(base * units * product(factors))`` per currency, factors in 1/10,000ths."""
    product = units
    for factor in factors:
        product *= factor
    divisor = scale_power(len(factors))
    # Most base amounts leave a currency at 0; skip its (big-integer) arithmetic.
    xp, stars, gold = base.xp, base.stars, base.gold
    return Balances(
        xp * product // divisor if xp else 0,
        stars * product // divisor if stars else 0,
        gold * product // divisor if gold else 0,
    )


def reaction_share(
    base: Balances, position: int, shares: tuple[int, ...], factors: tuple[int, ...]
) -> Balances:
    """What the ``position``-th reactor on a message gives its author.

    The first n reactors together give ``floor(base * factors * shares[n])``; each reactor
    gives the difference, so the total grows ever more slowly and is exactly the sum.
    """
    if position >= len(shares):
        return Balances()
    before = scaled(base, 1, (shares[position - 1], *factors))
    after = scaled(base, 1, (shares[position], *factors))
    return after.minus(before)

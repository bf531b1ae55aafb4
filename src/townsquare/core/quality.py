"""Message quality: longer, more substantial messages earn more; emoji spam earns less.

Factors multiply (each product quantised down to 1/10,000), then the result is clamped to
[floor, cap] so no combination of bonuses or penalties runs away.
"""

from __future__ import annotations

from bisect import bisect_right

from townsquare.core.community_rules import CompiledQuality, QualityKey
from townsquare.core.events import MessageMeta
from townsquare.core.explain import QualityBreakdown
from townsquare.core.fixed_point import ONE, SCALE


def is_emoji_spam(quality: CompiledQuality, meta: MessageMeta) -> bool:
    """Too many emoji, or (three or more and) emoji making up most of the message."""
    emoji = meta.emoji
    if emoji >= quality.emoji_spam_count:
        return True
    return emoji >= 3 and emoji * SCALE >= quality.emoji_spam_ratio * max(meta.length, 1)


def message_quality(
    quality: CompiledQuality, meta: MessageMeta
) -> tuple[int, QualityBreakdown | None]:
    """The quality factor (scaled) for a message and how it was reached.

    The result depends only on the length tier and five yes/no features, so it is
    memoised per (tier, features) on the compiled rules: at most tiers x 32 entries.
    """
    if not quality.enabled:
        return ONE, None
    # Unknown text: no length tier (tier -1 has no factor) and no emoji-spam judgement.
    tier = bisect_right(quality.tier_lengths, meta.length) - 1 if meta.text_known else -1
    key = (
        tier,
        meta.code_blocks > 0,
        meta.links > 0,
        meta.attachments > 0,
        meta.is_reply,
        meta.text_known and meta.emoji > 0 and is_emoji_spam(quality, meta),
    )
    found = quality.memo.get(key)
    if found is None:
        found = _compute(quality, key)
        quality.memo[key] = found
    return found.applied, found


def _compute(quality: CompiledQuality, key: QualityKey) -> QualityBreakdown:
    tier, code, link, attachment, reply, spam = key
    factors: list[tuple[str, int]] = []
    if tier >= 0:
        factors.append((quality.tier_labels[tier], quality.tier_factors[tier]))
    for present, name, factor in (
        (code, "code_block", quality.code_block),
        (link, "link", quality.link),
        (attachment, "attachment", quality.attachment),
        (reply, "reply", quality.reply),
        (spam, "emoji_spam", quality.emoji_spam),
    ):
        if present:
            factors.append((name, factor))
    raw = ONE
    for _, factor in factors:
        raw = raw * factor // SCALE
    return QualityBreakdown(
        length_tier=quality.tier_lengths[tier] if tier >= 0 else 0,
        factors=tuple(factors),
        raw=raw,
        applied=min(max(raw, quality.floor), quality.cap),
    )

"""A seeded generator of realistic community activity, and the reference model to check it.

Used by ``townsquare demo`` (a live stream) and ``townsquare bench pipeline`` (batches as
fast as the pipeline can take them). Everything is driven by one ``random.Random(seed)``:
the same `SimulationSpec` always yields the same events, on any machine.

What the stream looks like:

* Members are Zipf-distributed (a few very active, a long tail) and so are channels.
  Channels have types (text, announcement, forum, voice, an AFK channel, a no-reward
  ``bot-commands``), most sit in categories; threads are created under text and forum
  channels and then carry messages (``parent_channel_id``, ``in_thread``).
* Density follows the hour of day (quiet at night, busy in the evening, UTC), and
  timestamps never decrease, across the whole stream and so within every community.
* Messages carry realistic `MessageMeta` (length, links, code, attachments, emoji,
  replies); common short phrases ("gm", "lol") repeat fingerprints across members.
  Reactions name the author and id of a recent message; some are removed later. Voice
  segments sometimes carry the muted/deafened/alone/afk flags. A member's first event is
  preceded by a join (or a LINE follow) unless they were already members when the
  simulation started; members occasionally leave and re-join.
* Abuse at configurable rates: spam bursts (one member, many near-identical messages
  seconds apart), reaction farming (a ring of members reacting to each other's messages,
  round after round) and self-reactions.

Memory is bounded: only a window of recent messages and threads per community and a
bounded schedule of future events are kept, however long the stream runs.

`expected_outcome` is the reference model: it applies `townsquare.core.apply` to a stream
in memory, exactly as the pipeline should, and returns the totals the pipeline's ledger
must add up to, keyed by (community external id, member external id).
"""

from __future__ import annotations

import math
import random
from array import array
from bisect import bisect
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from heapq import heappop, heappush
from itertools import accumulate
from typing import Any, Final, overload

from townsquare.core.balances import Balances
from townsquare.core.community_rules import CommunityConfig, CommunityRules, compile_rules
from townsquare.core.context import EventContext
from townsquare.core.engine import apply
from townsquare.core.events import Event, MessageMeta, VoiceMeta
from townsquare.core.kinds import ChannelType, Currency, EventKind, Platform
from townsquare.core.outcomes import OutcomeStatus
from townsquare.core.state import MemberState

DEFAULT_START: Final = 1_767_225_600  # 2026-01-01T00:00:00Z
DEFAULT_CHANNELS: Final = 16

#: Bounds of the generator's memory, per community (recent messages reactions and replies
#: may target, threads that may receive messages) and for the whole simulator (events
#: scheduled for later: reaction removals, spam bursts, farming rounds).
RECENT_MESSAGES: Final = 256
RECENT_THREADS: Final = 64
MAX_SCHEDULED: Final = 4096

#: Relative activity per UTC hour: quiet before dawn, busiest in the evening.
HOURLY_WEIGHTS: Final[tuple[float, ...]] = (
    0.45, 0.30, 0.20, 0.14, 0.10, 0.10, 0.15, 0.25, 0.40, 0.55, 0.65, 0.72,
    0.80, 0.80, 0.78, 0.80, 0.88, 1.00, 1.15, 1.30, 1.40, 1.35, 1.10, 0.75,
)  # fmt: skip

#: Roles and the share of members holding each (a member may hold several or none).
ROLE_SHARES: Final[tuple[tuple[str, float], ...]] = (
    ("booster", 0.08),
    ("mod", 0.03),
    ("regular", 0.30),
    ("newbie", 0.25),
    ("muted", 0.01),
)

_TABLE_BITS = 12
_TABLE = 1 << _TABLE_BITS
_PHRASES = 32
_BATCH_STEPS = 64  # ordinary steps per call of the generation loop
_DAY = 86_400
_HOUR = 3600
_MASK64 = (1 << 64) - 1

# Main-step actions, indexes into a community's cumulative action weights.
_MESSAGE, _REACTION, _THREAD, _VOICE, _LEAVE, _POSTBACK, _SPAM, _FARM = range(8)


# --------------------------------------------------------------------------- specification


@dataclass(frozen=True, slots=True)
class Mix:
    """Relative weights of the ordinary activities (normalised per platform).

    Discord communities use message/reaction/thread/voice/leave; LINE communities use
    message/postback/leave (LINE delivers no reactions, threads or voice).
    """

    message: float = 0.72
    reaction: float = 0.20
    thread: float = 0.012
    voice: float = 0.05
    leave: float = 0.002
    postback: float = 0.15


@dataclass(frozen=True, slots=True)
class SimulationSpec:
    """What to simulate. Rates are probabilities per ordinary step (see each field).

    ``events_per_day`` is the rate of ordinary steps per community, averaged over the day;
    joins, scheduled removals and abuse episodes come on top. ``member_overlap`` is the
    share of a Discord community's members who are also members of the next one (same
    user id, as on Discord). ``pre_joined_share`` of members were members before the
    simulation began, so their first event has no join before it. ``id_prefix`` (default
    ``s<seed>.``) starts every event id; ids are unique within one simulator.
    """

    communities: int = 1
    members: int = 200
    channels: int = DEFAULT_CHANNELS
    line_communities: int = 0
    seed: int = 0
    start: int = DEFAULT_START
    events_per_day: int = 20_000
    mix: Mix = Mix()
    member_zipf: float = 1.1
    channel_zipf: float = 0.9
    member_overlap: float = 0.2
    pre_joined_share: float = 0.1
    reaction_removal_rate: float = 0.05
    self_reaction_rate: float = 0.01
    spam_burst_rate: float = 0.0005
    farming_rate: float = 0.0003
    id_prefix: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.communities <= 1000 or not 0 <= self.line_communities <= 1000:
            raise ValueError("communities and line_communities must be within 0..1000")
        if self.communities + self.line_communities < 1:
            raise ValueError("simulate at least one community")
        if not 2 <= self.members <= 1_000_000:
            raise ValueError("members must be within 2..1,000,000")
        if not 1 <= self.channels <= 500:
            raise ValueError("channels must be within 1..500")
        if not 1 <= self.events_per_day <= 1_000_000_000:
            raise ValueError("events_per_day must be within 1..1e9")
        if self.start < 0:
            raise ValueError("start must be a Unix time (>= 0)")
        for name in (
            "member_overlap",
            "pre_joined_share",
            "reaction_removal_rate",
            "self_reaction_rate",
            "spam_burst_rate",
            "farming_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.spam_burst_rate + self.farming_rate > 0.5:
            raise ValueError("abuse episodes may start on at most half of the steps")
        weights = (self.mix.message, self.mix.reaction, self.mix.thread, self.mix.voice)
        if min((*weights, self.mix.leave, self.mix.postback)) < 0:
            raise ValueError("mix weights must be non-negative")
        if self.mix.message <= 0:
            raise ValueError("the mix needs a positive message weight")
        if not 0.0 <= self.member_zipf <= 5.0 or not 0.0 <= self.channel_zipf <= 5.0:
            raise ValueError("Zipf exponents must be within [0, 5]")

    def without_abuse(self) -> SimulationSpec:
        """The same community with no spam bursts, reaction farming or self-reactions."""
        return replace(self, spam_burst_rate=0.0, farming_rate=0.0, self_reaction_rate=0.0)

    def community_ids(self) -> tuple[str, ...]:
        """External ids of the simulated communities: Discord guilds, then LINE groups."""
        discord = tuple(f"guild-{i + 1}" for i in range(self.communities))
        return discord + tuple(f"line-{i + 1}" for i in range(self.line_communities))


@dataclass(slots=True)
class SimulationStats:
    """Ground truth about the stream, for tests and the demo.

    Everything generated so far counts, including events still buffered for the next
    `Simulator.take` (``window_sizes()["buffered"]``). ``by_kind`` counts generated
    events; the abuse counters also count events scheduled for later (an episode is
    generated whole when it starts, ``window_sizes()["scheduled"]`` are still to come).
    ``episodes_dropped`` counts removals and abuse episodes skipped because the schedule
    was full (only with extreme rates).
    """

    steps: int = 0
    by_kind: dict[EventKind, int] = field(default_factory=dict)
    spam_bursts: int = 0
    spam_messages: int = 0
    farming_episodes: int = 0
    farming_reactions: int = 0
    self_reactions: int = 0
    episodes_dropped: int = 0

    @property
    def events(self) -> int:
        """Events emitted so far."""
        return sum(self.by_kind.values())


# --------------------------------------------------------------------------- channels


@dataclass(frozen=True, slots=True)
class Channel:
    """One channel of a simulated community."""

    id: str
    type: ChannelType
    category_id: str | None
    afk: bool = False
    no_reward: bool = False


def channel_layout(community_id: str, channels: int, platform: Platform) -> tuple[Channel, ...]:
    """The channels of a community: deterministic in the id and count, most popular first.

    Discord: channel 0 is ``general``; every 7th (from 3) is voice, every 11th (from 5) a
    forum, channel 1 an announcement channel and channel 2 ``bot-commands`` (no reward) when
    there are enough channels; the last voice channel is the AFK channel when there are
    two or more. Categories hold five channels each, and every fourth channel has none.
    LINE: group chats (``channels`` of them, at least one).
    """
    if platform is Platform.LINE:
        return tuple(
            Channel(f"{community_id}-g{i}", ChannelType.LINE_GROUP, None) for i in range(channels)
        )
    layout: list[Channel] = []
    for i in range(channels):
        channel_id = f"{community_id}-c{i}"
        category = None if i % 4 == 3 else f"{community_id}-cat{i // 5}"
        if i == 0:
            kind = ChannelType.TEXT
        elif i % 7 == 3:
            kind = ChannelType.VOICE
        elif i % 11 == 5:
            kind = ChannelType.FORUM
        elif i == 1 and channels >= 4:
            kind = ChannelType.ANNOUNCEMENT
        else:
            kind = ChannelType.TEXT
        layout.append(Channel(channel_id, kind, category, no_reward=i == 2 and channels >= 6))
    voice = [i for i, channel in enumerate(layout) if channel.type is ChannelType.VOICE]
    if len(voice) >= 2:
        layout[voice[-1]] = replace(layout[voice[-1]], afk=True)
    return tuple(layout)


# --------------------------------------------------------------------------- configuration


def simulated_config(
    community_id: str = "guild-1",
    channels: int = DEFAULT_CHANNELS,
    *,
    season_anchor: int = DEFAULT_START,
    platform: Platform = Platform.DISCORD,
) -> CommunityConfig:
    """A busy community's configuration, matching `channel_layout` for this community.

    Channel, category and channel-type multipliers, role multipliers, a no-reward channel
    and role, the AFK channel, 21 achievements (series, levels, streaks, a capped first
    post), a quadratic level curve with level roles, and weekly recurring seasons from
    ``season_anchor`` so long runs roll seasons over.
    """
    layout = channel_layout(community_id, channels, platform)
    rules: list[dict[str, Any]] = []
    text = [c for c in layout if c.type is ChannelType.TEXT and not c.no_reward]
    for rank, channel in enumerate(text[1:5], start=1):
        rules.append({"target_id": channel.id, "kind": "message", "multiplier": 1.0 + rank / 10})
    if len(text) > 5:
        rules.append({"target_id": text[5].id, "multiplier": 0.5})
    forums = [c for c in layout if c.type is ChannelType.FORUM]
    if forums:
        rules.append({"target_id": forums[0].id, "kind": "thread_created", "multiplier": 2.0})
    categories = sorted({c.category_id for c in layout if c.category_id is not None})
    if categories:
        rules.append({"target_id": categories[0], "kind": "reaction_added", "multiplier": 1.25})
    if len(categories) > 1:
        rules.append({"target_id": categories[1], "kind": "message", "multiplier": 0.75})
    achievements: list[dict[str, Any]] = []
    for tier, threshold in enumerate((1, 10, 100, 1000, 10_000), start=1):
        achievements.append(
            {
                "id": f"chatter-{tier}",
                "name": f"Chatter {tier}",
                "category": "messages",
                "series": "chatter",
                "tier": tier,
                "trigger": {"type": "counter", "counter": "messages", "threshold": threshold},
                "reward": {"xp": 10 * tier, "gold": 5 * tier},
            }
        )
    for tier, threshold in enumerate((5, 50, 500), start=1):
        achievements.append(
            {
                "id": f"liked-{tier}",
                "name": f"Liked {tier}",
                "category": "reactions",
                "series": "liked",
                "tier": tier,
                "trigger": {
                    "type": "counter",
                    "counter": "reactions_received",
                    "threshold": threshold,
                },
                "reward": {"gold": 10 * tier},
            }
        )
    for tier, threshold in enumerate((1000, 10_000, 100_000), start=1):
        achievements.append(
            {
                "id": f"xp-{tier}",
                "name": f"Experienced {tier}",
                "series": "xp",
                "tier": tier,
                "rarity": ("common", "rare", "epic")[tier - 1],
                "trigger": {"type": "balance", "currency": "xp", "threshold": threshold},
            }
        )
    for level in (5, 10, 20):
        achievements.append(
            {
                "id": f"level-{level}",
                "name": f"Level {level}",
                "trigger": {"type": "level", "level": level},
                "reward": {"gold": level * 10},
            }
        )
    achievements += [
        {"id": "decade", "name": "Decade", "trigger": {"type": "level_interval", "every": 10}},
        {
            "id": "busy-day",
            "name": "Busy day",
            "trigger": {"type": "counter", "counter": "messages", "window": "day", "threshold": 50},
        },
        {
            "id": "season-regular",
            "name": "Season regular",
            "trigger": {
                "type": "counter",
                "counter": "messages",
                "window": "season",
                "threshold": 200,
            },
        },
        {"id": "streak-3", "name": "Three days", "trigger": {"type": "streak", "days": 3}},
        {"id": "streak-7", "name": "A week", "trigger": {"type": "streak", "days": 7}},
        {
            "id": "talker",
            "name": "Talker",
            "category": "voice",
            "trigger": {"type": "counter", "counter": "voice_minutes", "threshold": 600},
        },
        {
            "id": "first-post",
            "name": "Hello",
            "max_earners": 50,
            "trigger": {"type": "first_event", "kind": "message"},
            "reward": {"xp": 20},
        },
        {
            "id": "threadsmith",
            "name": "Threadsmith",
            "hidden": True,
            "trigger": {"type": "counter", "counter": "threads_created", "threshold": 10},
        },
    ]
    afk = [c.id for c in layout if c.afk]
    no_reward = [c.id for c in layout if c.no_reward]
    return CommunityConfig.model_validate(
        {
            "multipliers": {
                "channel_rules": rules,
                "channel_type_defaults": [
                    {"channel_type": "thread", "multiplier": 0.9},
                    {"channel_type": "announcement", "kind": "message", "multiplier": 0.0},
                    {"channel_type": "line_user", "kind": "postback", "multiplier": 1.5},
                ],
                "role_multipliers": {"booster": 1.5, "mod": 1.2, "regular": 1.1, "newbie": 0.8},
                "no_reward_channels": no_reward,
                "no_reward_roles": ["muted"],
            },
            "anti_gaming": {"afk_channel_ids": afk},
            "levels": {
                "curve": {"type": "quadratic", "a": 5, "b": 50, "c": 100},
                "max_level": 100,
                "level_roles": {5: "role-level-5", 10: "role-level-10", 20: "role-level-20"},
            },
            "achievements": achievements,
            "seasons": {"recurring": {"anchor_at": season_anchor, "length_days": 7}},
        }
    )


# --------------------------------------------------------------------------- the generator


def _cumulative(weights: Iterable[float]) -> list[float]:
    """Cumulative weights normalised to 1.0, for ``bisect(cum, random())``.

    From the last positive weight on, entries are exactly 1.0, so rounding can never pick
    a trailing zero-weight entry (a zero weight in the middle repeats its predecessor's
    value exactly, which ``bisect`` skips).
    """
    listed = list(weights)
    cum = list(accumulate(listed))
    total = cum[-1]
    out = [value / total for value in cum]
    last = max(i for i, weight in enumerate(listed) if weight > 0)
    out[last:] = [1.0] * (len(out) - last)
    return out


def _zipf(n: int, exponent: float) -> array[float]:
    """`_cumulative` of Zipf weights, as a flat array of doubles (8 bytes a member rather
    than a list's 32: a million members are a million entries)."""
    cum = array("d", accumulate(1.0 / (rank**exponent) for rank in range(1, n + 1)))
    total = cum[-1]
    for i in range(n):
        cum[i] /= total
    cum[-1] = 1.0  # every Zipf weight is positive: only the last entry is pinned
    return cum


class _MemberIds(Sequence[str]):
    """A community's member ids, made from the member's index when asked for.

    ``prefix`` + (``offset`` + index) in decimal, or + index in 8 hex digits: a list of a
    million strings and the dict back to their index would take ~150 MB.
    """

    __slots__ = ("_hex", "_offset", "_prefix", "_size")

    def __init__(self, prefix: str, size: int, *, offset: int = 0, hex_digits: bool = False):
        self._prefix = prefix
        self._size = size
        self._offset = offset
        self._hex = hex_digits

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._size))]
        if not 0 <= index < self._size:
            if -self._size <= index < 0:
                index += self._size
            else:
                raise IndexError(index)
        if self._hex:
            return f"{self._prefix}{index:08x}"
        return f"{self._prefix}{self._offset + index}"

    def index_of(self, member_id: str) -> int:
        """The index of ``member_id`` (one of these ids)."""
        digits = member_id[len(self._prefix) :]
        index = int(digits, 16) if self._hex else int(digits) - self._offset
        if not member_id.startswith(self._prefix) or not 0 <= index < self._size:
            raise KeyError(member_id)
        return index


#: Every combination of `ROLE_SHARES` roles, in a member's draw order; members keep the
#: index of theirs (one byte) instead of a tuple of their own.
_ROLE_SETS: Final[tuple[tuple[str, ...], ...]] = tuple(
    tuple(role for bit, (role, _) in enumerate(ROLE_SHARES) if mask >> bit & 1)
    for mask in range(1 << len(ROLE_SHARES))
)


class _Roles(Sequence[tuple[str, ...]]):
    """Each member's roles as one byte (an index into `_ROLE_SETS`)."""

    __slots__ = ("_masks",)

    def __init__(self, masks: bytearray) -> None:
        self._masks = masks

    def __len__(self) -> int:
        return len(self._masks)

    @overload
    def __getitem__(self, index: int) -> tuple[str, ...]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[str, ...]]: ...

    def __getitem__(self, index: int | slice) -> tuple[str, ...] | list[tuple[str, ...]]:
        if isinstance(index, slice):
            return [_ROLE_SETS[mask] for mask in self._masks[index]]
        return _ROLE_SETS[self._masks[index]]


def _draw_roles(rng: random.Random, n: int) -> _Roles:
    """Each member holds each role with its share's probability (one draw per role)."""
    masks = bytearray(n)
    random_ = rng.random
    shares = [share for _, share in ROLE_SHARES]
    for member in range(n):
        mask = 0
        for bit, share in enumerate(shares):
            if random_() < share:
                mask |= 1 << bit
        masks[member] = mask
    return _Roles(masks)


# A message shape: length, links, code blocks, attachments, emoji, is_reply, fingerprint
# mode (0 own text, 1 a common phrase, 2 no text).
_Shape = tuple[int, int, int, int, int, bool, int]
_Scheduled = tuple[int, int, "_Community", int, Event]  # at, sequence, where, who, what


def _shapes(rng: random.Random) -> list[_Shape]:
    """A table of message shapes sampled from the joint distribution, indexed at random."""
    shapes: list[_Shape] = []
    for _ in range(_TABLE):
        r = rng.random()
        if r < 0.06:  # a common short phrase: "gm", "lol", "thanks!"
            shapes.append((rng.randint(2, 12), 0, 0, 0, int(rng.random() < 0.3), False, 1))
            continue
        if r < 0.09:  # an attachment with no text
            shapes.append((0, 0, 0, rng.randint(1, 3), 0, rng.random() < 0.2, 2))
            continue
        length = max(1, min(4000, int(rng.lognormvariate(3.4, 1.0))))
        links = 1 if rng.random() < 0.08 else 2 if rng.random() < 0.01 else 0
        code = 1 if rng.random() < 0.03 else 0
        if code:
            length += rng.randint(40, 600)
        attachments = 1 if rng.random() < 0.05 else 0
        e = rng.random()
        emoji = 0 if e < 0.62 else 1 if e < 0.85 else rng.randint(2, 4) if e < 0.98 else 12
        shapes.append((length, links, code, attachments, emoji, rng.random() < 0.25, 0))
    return shapes


class _Community:
    """Per-community generator state: members, channels, bounded recent windows."""

    __slots__ = (
        "actions",
        "channels",
        "id",
        "id_prefix",
        "joined",
        "line",
        "member_cum",
        "member_ids",
        "message_channels",
        "message_cum",
        "parent_channels",
        "parent_cum",
        "phrases",
        "platform",
        "recent",
        "rings",
        "roles",
        "threads",
        "voice_channels",
        "voice_cum",
    )

    def __init__(
        self,
        spec: SimulationSpec,
        rng: random.Random,
        community_id: str,
        platform: Platform,
        member_ids: _MemberIds,
        id_prefix: str,
    ) -> None:
        self.id = community_id
        self.platform = platform
        self.line = platform is Platform.LINE
        self.id_prefix = id_prefix
        self.member_ids = member_ids
        n = len(member_ids)
        self.member_cum = _zipf(n, spec.member_zipf)
        self.roles = (
            _draw_roles(rng, n)
            if platform is Platform.DISCORD
            else _Roles(bytearray(n))  # LINE has no roles
        )
        pre = spec.pre_joined_share
        self.joined = bytearray(1 if rng.random() < pre else 0 for _ in range(n))
        self.channels = channel_layout(community_id, spec.channels, platform)
        message_types = (ChannelType.TEXT, ChannelType.ANNOUNCEMENT, ChannelType.LINE_GROUP)
        self.message_channels = [c for c in self.channels if c.type in message_types]
        self.parent_channels = [
            c for c in self.channels if c.type in (ChannelType.TEXT, ChannelType.FORUM)
        ]
        self.voice_channels = [c for c in self.channels if c.type is ChannelType.VOICE]
        z = spec.channel_zipf
        self.message_cum = _zipf(len(self.message_channels), z)
        self.parent_cum = _zipf(len(self.parent_channels), z) if self.parent_channels else []
        self.voice_cum = _zipf(len(self.voice_channels), z) if self.voice_channels else []
        self.phrases = [rng.getrandbits(64) | 1 for _ in range(_PHRASES)]
        self.recent: deque[Event] = deque(maxlen=RECENT_MESSAGES)
        self.threads: deque[tuple[str, Channel]] = deque(maxlen=RECENT_THREADS)
        # Farming rings come from the long tail: members who otherwise rarely act.
        self.rings: list[tuple[int, ...]] = []
        if n >= 8 and platform is Platform.DISCORD:
            size = 4 if n >= 40 else 3
            for k in range(2 if n >= 40 else 1):
                top = n - 1 - k * size
                self.rings.append(tuple(range(top, top - size, -1)))
        mix = spec.mix
        discord = platform is Platform.DISCORD
        weights = [0.0] * 8
        weights[_MESSAGE] = mix.message
        weights[_REACTION] = mix.reaction if discord else 0.0
        weights[_THREAD] = mix.thread if discord and self.parent_channels else 0.0
        weights[_VOICE] = mix.voice if discord and self.voice_channels else 0.0
        weights[_LEAVE] = mix.leave
        weights[_POSTBACK] = 0.0 if discord else mix.postback
        ordinary = sum(weights)
        abuse = spec.spam_burst_rate + (spec.farming_rate if self.rings else 0.0)
        # Abuse weights are probabilities per step; ordinary weights share the rest.
        weights = [w / ordinary * (1.0 - abuse) for w in weights]
        weights[_SPAM] = spec.spam_burst_rate
        weights[_FARM] = spec.farming_rate if self.rings else 0.0
        self.actions = _cumulative(weights)


class Simulator:
    """A deterministic stream of events for the communities of a `SimulationSpec`.

    The simulator is a stateful stream: `events` and `take` continue where the previous
    call stopped, so ``take(10)`` then ``take(10)`` gives the same 20 events as
    ``take(20)``. Build a new `Simulator` to start over.
    """

    def __init__(self, spec: SimulationSpec) -> None:
        self.spec = spec
        self.stats = SimulationStats()
        rng = self._rng = random.Random(spec.seed)  # noqa: S311 - a seeded workload
        prefix = spec.id_prefix if spec.id_prefix is not None else f"s{spec.seed}."
        self._communities: list[_Community] = []
        n = spec.members
        stride = max(1, n - int(n * spec.member_overlap))
        for index, community_id in enumerate(spec.community_ids()):
            if index < spec.communities:
                members = _MemberIds("u", n, offset=index * stride)
                self._communities.append(
                    _Community(spec, rng, community_id, Platform.DISCORD, members, prefix + "d")
                )
            else:
                line = index - spec.communities
                members = _MemberIds(f"U{line:04x}", n, hex_digits=True)
                self._communities.append(
                    _Community(spec, rng, community_id, Platform.LINE, members, prefix + "l")
                )
        self._shapes = _shapes(rng)
        self._expo = [-math.log(1.0 - rng.random()) for _ in range(_TABLE)]
        self._voice_minutes = [
            max(1, min(600, int(rng.lognormvariate(3.0, 1.0)))) for _ in range(_TABLE)
        ]
        self._removal_delays = [int(20 + rng.expovariate(1 / 1800)) for _ in range(_TABLE)]
        mean = sum(HOURLY_WEIGHTS) / 24
        per_second = spec.events_per_day * len(self._communities) / _DAY
        self._mean_gap = [1.0 / (per_second * w / mean) for w in HOURLY_WEIGHTS]
        self._clock = float(spec.start)
        self._serial = 0
        self._sequence = 0
        self._scheduled: list[_Scheduled] = []
        self._out: deque[Event] = deque()

    # ----------------------------------------------------------------- public API

    @property
    def community_ids(self) -> tuple[str, ...]:
        """External ids of the simulated communities."""
        return tuple(c.id for c in self._communities)

    def configs(self) -> dict[str, CommunityConfig]:
        """The configuration of each community (`simulated_config` for its channels)."""
        return {
            c.id: simulated_config(
                c.id, self.spec.channels, season_anchor=self.spec.start, platform=c.platform
            )
            for c in self._communities
        }

    def channels(self, community_id: str) -> tuple[Channel, ...]:
        """The channel layout of one community."""
        return self._community(community_id).channels

    def farming_rings(self, community_id: str) -> tuple[tuple[str, ...], ...]:
        """The member ids of each reaction-farming ring of a community (ground truth)."""
        community = self._community(community_id)
        return tuple(tuple(community.member_ids[i] for i in ring) for ring in community.rings)

    def window_sizes(self) -> dict[str, int]:
        """Sizes of everything the simulator keeps between events (bounded by design)."""
        return {
            "recent_messages": max(len(c.recent) for c in self._communities),
            "recent_threads": max(len(c.threads) for c in self._communities),
            "scheduled": len(self._scheduled),
            "buffered": len(self._out),
        }

    def events(self, count: int | None = None) -> Iterator[Event]:
        """The next ``count`` events (endless when None), in non-decreasing time order."""
        out = self._out
        produced = 0
        while count is None or produced < count:
            while not out:
                self._run(_BATCH_STEPS)
            produced += 1
            yield out.popleft()

    def take(self, n: int) -> list[Event]:
        """The next ``n`` events as a list (the fast path for benchmarks)."""
        if n < 0:
            raise ValueError("take a non-negative number of events")
        out = self._out
        while len(out) < n:
            self._run(max(_BATCH_STEPS, n - len(out)))
        if len(out) == n:
            batch = list(out)
            out.clear()
            return batch
        popleft = out.popleft
        return [popleft() for _ in range(n)]

    # ----------------------------------------------------------------- generation

    def _community(self, community_id: str) -> _Community:
        for community in self._communities:
            if community.id == community_id:
                return community
        raise KeyError(community_id)

    def _next_id(self, community: _Community) -> str:
        self._serial += 1
        return f"{community.id_prefix}{self._serial}"

    def _emit(self, community: _Community, member: int, event: Event) -> None:
        """Queue an event, preceded by a join (or LINE follow) if its member is not in."""
        out = self._out
        by_kind = self.stats.by_kind
        kind = event.kind
        if not community.joined[member] and kind is not EventKind.MEMBER_LEFT:
            community.joined[member] = 1
            line = community.platform is Platform.LINE
            join_kind = EventKind.FOLLOW if line else EventKind.MEMBER_JOINED
            out.append(
                Event(
                    self._next_id(community),
                    join_kind,
                    community.platform,
                    community.id,
                    event.member_id,
                    event.at,
                    None,
                    ChannelType.LINE_USER if line else ChannelType.TEXT,
                    roles=event.roles,
                )
            )
            by_kind[join_kind] = by_kind.get(join_kind, 0) + 1
        out.append(event)
        by_kind[kind] = by_kind.get(kind, 0) + 1
        if kind is EventKind.MESSAGE:
            community.recent.append(event)

    def _schedule(self, at: int, community: _Community, member: int, event: Event) -> None:
        self._sequence += 1
        heappush(self._scheduled, (at, self._sequence, community, member, event))

    def _run(self, steps: int) -> None:
        """Run ordinary steps: advance the clock, release what is due, then one action each.

        The hot path (a message by a member who has joined) is inlined; the stream does not
        depend on how steps are grouped into calls.
        """
        rng = self._rng
        random_ = rng.random
        getrandbits = rng.getrandbits
        expo = self._expo
        gaps = self._mean_gap
        shapes = self._shapes
        scheduled = self._scheduled
        communities = self._communities
        count = len(communities)
        append = self._out.append
        emit = self._emit
        message_kind = EventKind.MESSAGE
        thread_type = ChannelType.THREAD
        clock = self._clock
        serial = self._serial
        messages = 0
        for _ in range(steps):
            clock += expo[getrandbits(_TABLE_BITS)] * gaps[(int(clock) // _HOUR) % 24]
            now = int(clock)
            if scheduled and scheduled[0][0] <= now:
                self._serial = serial
                while scheduled and scheduled[0][0] <= now:
                    _, _, where, who, what = heappop(scheduled)
                    emit(where, who, what)
                serial = self._serial
            community = communities[int(random_() * count)] if count > 1 else communities[0]
            action = bisect(community.actions, random_())
            if action != _MESSAGE:
                self._serial = serial
                self._dispatch(action, community, now)
                serial = self._serial
                continue
            member = bisect(community.member_cum, random_())
            threads = community.threads
            if threads and random_() < 0.2:
                size = len(threads)
                r = random_()
                channel_id, parent = threads[size - 1 - int(size * r * r)]
                channel_type = thread_type
                parent_id: str | None = parent.id
                category = parent.category_id
            else:
                channel = community.message_channels[bisect(community.message_cum, random_())]
                channel_id, channel_type, parent_id, category = (
                    channel.id,
                    channel.type,
                    None,
                    channel.category_id,
                )
                if community.line and random_() < 0.2:
                    channel_id, channel_type = None, ChannelType.LINE_USER  # 1:1 with the bot
            length, links, code, attachments, emoji, reply, mode = shapes[getrandbits(_TABLE_BITS)]
            if mode == 0:
                fingerprint = getrandbits(64) | 1
            elif mode == 1:
                fingerprint = community.phrases[getrandbits(5)]
            else:
                fingerprint = 0
            serial += 1
            event = Event(
                f"{community.id_prefix}{serial}",
                message_kind,
                community.platform,
                community.id,
                community.member_ids[member],
                now,
                channel_id,
                channel_type,
                parent_id,
                category,
                community.roles[member],
                MessageMeta(
                    length,
                    links,
                    code,
                    attachments,
                    emoji,
                    reply,
                    channel_type is thread_type,
                    fingerprint,
                ),
            )
            if community.joined[member]:
                append(event)
                community.recent.append(event)
                messages += 1
            else:
                self._serial = serial
                emit(community, member, event)
                serial = self._serial
        self._clock = clock
        self._serial = serial
        stats = self.stats
        stats.steps += steps
        stats.by_kind[message_kind] = stats.by_kind.get(message_kind, 0) + messages

    def _dispatch(self, action: int, community: _Community, now: int) -> None:
        if action == _REACTION:
            self._reaction(community, now)
        elif action == _VOICE:
            self._voice(community, now)
        elif action == _POSTBACK:
            self._postback(community, now)
        elif action == _THREAD:
            self._thread(community, now)
        elif action == _LEAVE:
            self._leave(community, now)
        elif action == _SPAM:
            self._spam_burst(community, now)
        else:
            self._farming(community, now)

    def _member(self, community: _Community) -> int:
        return bisect(community.member_cum, self._rng.random())

    def _message_meta(self, community: _Community, in_thread: bool) -> MessageMeta:
        rng = self._rng
        length, links, code, attachments, emoji, reply, mode = self._shapes[
            rng.getrandbits(_TABLE_BITS)
        ]
        if mode == 0:
            fingerprint = rng.getrandbits(64) | 1
        elif mode == 1:
            fingerprint = community.phrases[rng.getrandbits(5)]
        else:
            fingerprint = 0
        return MessageMeta(length, links, code, attachments, emoji, reply, in_thread, fingerprint)

    def _reaction_event(
        self,
        community: _Community,
        giver: int,
        target: Event,
        at: int,
        kind: EventKind = EventKind.REACTION_ADDED,
    ) -> Event:
        return Event(
            self._next_id(community),
            kind,
            community.platform,
            community.id,
            community.member_ids[giver],
            at,
            target.channel_id,
            target.channel_type,
            target.parent_channel_id,
            target.category_id,
            community.roles[giver],
            None,
            target.member_id,
            target.event_id,
            target.roles,
        )

    def _reaction(self, community: _Community, now: int) -> None:
        recent = community.recent
        if not recent:
            return  # nothing to react to yet
        rng = self._rng
        spec = self.spec
        size = len(recent)
        r = rng.random()
        target = recent[size - 1 - int(size * r * r)]  # recent messages draw more
        author = community.member_ids.index_of(target.member_id)
        if spec.self_reaction_rate and rng.random() < spec.self_reaction_rate:
            giver = author
            self.stats.self_reactions += 1
        else:
            giver = self._member(community)
            if giver == author:
                giver = (giver + 1) % len(community.member_ids)
        self._emit(community, giver, self._reaction_event(community, giver, target, now))
        if spec.reaction_removal_rate and rng.random() < spec.reaction_removal_rate:
            if len(self._scheduled) >= MAX_SCHEDULED:
                self.stats.episodes_dropped += 1
                return
            at = now + self._removal_delays[rng.getrandbits(_TABLE_BITS)]
            removal = self._reaction_event(community, giver, target, at, EventKind.REACTION_REMOVED)
            self._schedule(at, community, giver, removal)

    def _voice(self, community: _Community, now: int) -> None:
        rng = self._rng
        member = self._member(community)
        channel = community.voice_channels[bisect(community.voice_cum, rng.random())]
        minutes = self._voice_minutes[rng.getrandbits(_TABLE_BITS)]
        r = rng.random()
        voice = VoiceMeta(minutes, r < 0.07, 0.05 <= r < 0.07, 0.07 <= r < 0.15, channel.afk)
        event = Event(
            self._next_id(community),
            EventKind.VOICE_SEGMENT,
            community.platform,
            community.id,
            community.member_ids[member],
            now,
            channel.id,
            ChannelType.VOICE,
            None,
            channel.category_id,
            community.roles[member],
            voice=voice,
        )
        self._emit(community, member, event)

    def _postback(self, community: _Community, now: int) -> None:
        member = self._member(community)
        event = Event(
            self._next_id(community),
            EventKind.POSTBACK,
            community.platform,
            community.id,
            community.member_ids[member],
            now,
            None,
            ChannelType.LINE_USER,
            roles=community.roles[member],
        )
        self._emit(community, member, event)

    def _thread(self, community: _Community, now: int) -> None:
        member = self._member(community)
        parent = community.parent_channels[bisect(community.parent_cum, self._rng.random())]
        event_id = self._next_id(community)
        thread_id = f"{community.id}-t{self._serial}"
        event = Event(
            event_id,
            EventKind.THREAD_CREATED,
            community.platform,
            community.id,
            community.member_ids[member],
            now,
            thread_id,
            ChannelType.THREAD,
            parent.id,
            parent.category_id,
            community.roles[member],
        )
        self._emit(community, member, event)
        community.threads.append((thread_id, parent))

    def _leave(self, community: _Community, now: int) -> None:
        member = self._member(community)
        if not community.joined[member]:
            return
        community.joined[member] = 0
        channel_id, channel_type = None, ChannelType.TEXT
        if community.line:  # LINE reports leaving a group chat
            group = community.message_channels[bisect(community.message_cum, self._rng.random())]
            channel_id, channel_type = group.id, group.type
        event = Event(
            self._next_id(community),
            EventKind.MEMBER_LEFT,
            community.platform,
            community.id,
            community.member_ids[member],
            now,
            channel_id,
            channel_type,
            roles=community.roles[member],
        )
        self._emit(community, member, event)

    def _spam_burst(self, community: _Community, now: int) -> None:
        """One member (uniformly drawn: spammers are not the regulars) floods a channel."""
        if len(self._scheduled) >= MAX_SCHEDULED:
            self.stats.episodes_dropped += 1
            return
        rng = self._rng
        member = int(rng.random() * len(community.member_ids))
        channel = community.message_channels[bisect(community.message_cum, rng.random())]
        size = rng.randint(8, 24)
        base = rng.getrandbits(64) | 1
        length = rng.randint(10, 200)
        links = 1 if rng.random() < 0.6 else 0
        member_id = community.member_ids[member]
        roles = community.roles[member]
        at = now
        for _ in range(size):
            # Identical or one bit apart: what a near-duplicate detector must catch.
            fingerprint = (base ^ (1 << rng.getrandbits(6)) if rng.random() < 0.5 else base) or 1
            meta = MessageMeta(
                length + rng.randint(0, 3), links, 0, 0, 0, False, False, fingerprint
            )
            event = Event(
                self._next_id(community),
                EventKind.MESSAGE,
                community.platform,
                community.id,
                member_id,
                at,
                channel.id,
                channel.type,
                None,
                channel.category_id,
                roles,
                meta,
            )
            self._schedule(at, community, member, event)
            at += rng.randint(0, 3)
        self.stats.spam_bursts += 1
        self.stats.spam_messages += size

    def _farming(self, community: _Community, now: int) -> None:
        """A ring posts, then every member reacts to every other's post; a few rounds."""
        if len(self._scheduled) >= MAX_SCHEDULED:
            self.stats.episodes_dropped += 1
            return
        rng = self._rng
        rings = community.rings
        if not rings:
            return
        ring = rings[int(rng.random() * len(rings))]
        at = now
        reactions = 0
        for _ in range(rng.randint(2, 4)):
            channel = community.message_channels[bisect(community.message_cum, rng.random())]
            posts: list[tuple[Event, int]] = []
            for member in ring:
                at += rng.randint(5, 60)
                post = Event(
                    self._next_id(community),
                    EventKind.MESSAGE,
                    community.platform,
                    community.id,
                    community.member_ids[member],
                    at,
                    channel.id,
                    channel.type,
                    None,
                    channel.category_id,
                    community.roles[member],
                    self._message_meta(community, False),
                )
                self._schedule(at, community, member, post)
                posts.append((post, member))
            for post, author in posts:
                for giver in ring:
                    if giver != author:
                        at += rng.randint(1, 10)
                        reaction = self._reaction_event(community, giver, post, at)
                        self._schedule(at, community, giver, reaction)
                        reactions += 1
            at += rng.randint(60, 900)
        self.stats.farming_episodes += 1
        self.stats.farming_reactions += reactions


# --------------------------------------------------------------------------- reference model


@dataclass(frozen=True, slots=True)
class MemberTotals:
    """One member's final standing in the reference model."""

    lifetime: Balances
    level: int
    season_id: str | None
    season: Balances
    achievements: frozenset[str]


@dataclass(frozen=True, slots=True)
class ExpectedTotals:
    """What applying a stream must produce, keyed by external ids.

    ``members`` maps (community id, member id) to the member's final totals;
    ``ledger_sums`` maps community id -> currency -> sum of every ledger row's delta
    (equal to the sum of the members' lifetime balances); ``ledger_rows`` counts rows per
    community; ``statuses`` counts outcomes; ``redeliveries`` counts events skipped because
    their (platform, event id) had been seen, as the event lake skips them.
    """

    members: Mapping[tuple[str, str], MemberTotals]
    ledger_sums: Mapping[str, Mapping[Currency, int]]
    ledger_rows: Mapping[str, int]
    statuses: Mapping[OutcomeStatus, int]
    redeliveries: int = 0

    def balances(self, community_id: str, member_id: str) -> Balances:
        """A member's lifetime balances (zero for a member never seen)."""
        totals = self.members.get((community_id, member_id))
        return totals.lifetime if totals is not None else Balances()

    def level(self, community_id: str, member_id: str) -> int:
        """A member's level (0 for a member never seen)."""
        totals = self.members.get((community_id, member_id))
        return totals.level if totals is not None else 0


class ReferenceModel:
    """Applies events one by one in memory, as the pipeline must: the oracle for its tests.

    ``config`` is one configuration for every community or a mapping community id ->
    configuration. Reactions get the receiver's state and the community's achievement
    earner counts in their `EventContext`, and the receiver's new state is kept.
    """

    def __init__(self, config: CommunityConfig | Mapping[str, CommunityConfig]) -> None:
        self._config = config
        self._rules: dict[str, CommunityRules] = {}
        self._shared: CommunityRules | None = (
            compile_rules(config) if isinstance(config, CommunityConfig) else None
        )
        self.states: dict[tuple[str, str], MemberState] = {}
        self._earners: dict[str, dict[str, int]] = {}
        self._seen: set[tuple[Platform, str]] = set()
        self._sums: dict[str, dict[Currency, int]] = {}
        self._rows: dict[str, int] = {}
        self._statuses: dict[OutcomeStatus, int] = {}
        self._redeliveries = 0

    def _rules_for(self, community_id: str) -> CommunityRules:
        if self._shared is not None:
            return self._shared
        rules = self._rules.get(community_id)
        if rules is None:
            assert not isinstance(self._config, CommunityConfig)
            config = self._config.get(community_id)
            if config is None:
                raise ValueError(f"no configuration for community {community_id!r}")
            rules = self._rules[community_id] = compile_rules(config)
        return rules

    def feed(self, event: Event) -> None:
        """Apply one event (a redelivered platform event id is skipped)."""
        key = (event.platform, event.event_id)
        if key in self._seen:
            self._redeliveries += 1
            return
        self._seen.add(key)
        community_id = event.community_id
        rules = self._rules_for(community_id)
        states = self.states
        actor_key = (community_id, event.member_id)
        state = states.get(actor_key) or MemberState(event.member_id)
        earners = self._earners.setdefault(community_id, {})
        receiver_key: tuple[str, str] | None = None
        receiver: MemberState | None = None
        target = event.target_member_id
        if (
            event.kind in (EventKind.REACTION_ADDED, EventKind.REACTION_REMOVED)
            and target is not None
            and target != event.member_id
        ):
            receiver_key = (community_id, target)
            receiver = states.get(receiver_key) or MemberState(target)
        outcome = apply(state, rules, event, EventContext(receiver, earners))
        states[actor_key] = outcome.state
        if receiver_key is not None and outcome.receiver_state is not None:
            states[receiver_key] = outcome.receiver_state
        for unlock in outcome.unlocks:
            earners[unlock.achievement_id] = earners.get(unlock.achievement_id, 0) + 1
        sums = self._sums.setdefault(community_id, dict.fromkeys(Currency, 0))
        for entry in outcome.ledger:
            sums[entry.currency] += entry.delta
        self._rows[community_id] = self._rows.get(community_id, 0) + len(outcome.ledger)
        self._statuses[outcome.status] = self._statuses.get(outcome.status, 0) + 1

    def totals(self) -> ExpectedTotals:
        """The totals so far."""
        members = {
            key: MemberTotals(
                state.lifetime,
                state.level,
                state.season.season_id,
                state.season.balances,
                state.achievements,
            )
            for key, state in self.states.items()
        }
        return ExpectedTotals(
            members,
            {community: dict(sums) for community, sums in self._sums.items()},
            dict(self._rows),
            dict(self._statuses),
            self._redeliveries,
        )


def expected_outcome(
    events: Iterable[Event], config: CommunityConfig | Mapping[str, CommunityConfig]
) -> ExpectedTotals:
    """Apply ``events`` in order with the reference model; return what the ledger must hold."""
    model = ReferenceModel(config)
    for event in events:
        model.feed(event)
    return model.totals()

"""Synthetic gateway traffic for ``townsquare bench discord``: guilds and a realistic mix.

Built inside the fake Discord's child process (`FakeDiscordProcess`) from a `TrafficSpec`,
so only the spec crosses the process boundary. Everything comes from one seeded
``random.Random``; ids are snowflakes dated when the traffic is built (a few seconds
before it is sent), so the pipeline sees events dated "now", not in the future.

Per guild: a category with six text channels and two voice channels, four active threads,
five roles held by some members, ``members`` members of whom ``listed_members`` are listed
in GUILD_CREATE (Discord lists a large guild's members only on request; without the
privileged members intent discord.py would not keep them anyway). Guild ids are spread
over the shards. Members are Zipf-active (a few post a lot, most rarely). The mix:

* MESSAGE_CREATE with the author's partial member (roles), some replies to a recent
  message (type 19, with ``referenced_message``), some in threads;
* MESSAGE_REACTION_ADD by a member, with the full member and ``message_author_id``, to a
  recent message by someone else (never the same member, message and emoji twice);
* MESSAGE_REACTION_REMOVE of an earlier addition;
* VOICE_STATE_UPDATE joins, leaves and self-mute toggles in the voice channels.

Two phases: ``warmup`` (every member posts once, then a short mix) and ``measure``.
`TrafficSummary` counts, per phase, the gateway events and the core events they must
become: one per message, reaction added and reaction removed. A voice update becomes a
core event only when it closes a stretch of half a minute or more, which depends on when
it is handled; the bench counts those on the adapter's side.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from townsquare.fakes.discord import payloads
from townsquare.fakes.discord.payloads import JSON
from townsquare.fakes.discord.process import Traffic

WARMUP, MEASURE = "warmup", "measure"

_TEXT_CHANNELS = ("general", "chat", "memes", "help", "showcase", "off-topic")
_TEXT_WEIGHTS = (0.40, 0.22, 0.12, 0.12, 0.08, 0.06)
_VOICE_CHANNELS = ("Lounge", "Gaming")
_ROLE_SHARES = (
    ("booster", 0.08),
    ("mod", 0.03),
    ("regular", 0.30),
    ("newbie", 0.25),
    ("vip", 0.05),
)
_EMOJI = ("👍", "❤️", "😂", "🎉", "🔥", "👀", "🙏", "💯")
_PHRASES = (
    "gm everyone",
    "lol",
    "has anyone tried the new build yet?",
    "that is a great point, thanks for sharing",
    "see you all tonight",
    "here is what I found after digging into it for a while",
    "nice!",
    "can someone help me with the setup?",
)
_RECENT = 256  # messages per guild that replies and reactions may target
_VOICE_CAP = 24  # people in voice per guild at most


@dataclass(frozen=True)
class TrafficMix:
    """Relative weights of the gateway events, and shares of messages."""

    message: float = 0.82
    reaction_add: float = 0.13
    reaction_remove: float = 0.015
    voice: float = 0.035
    reply: float = 0.12  # of messages: replies to a recent message
    thread: float = 0.10  # of messages: posted in a thread


@dataclass(frozen=True)
class TrafficSpec:
    events: int = 100_000  # in the measured phase
    guilds: int = 4
    members: int = 2_000  # per guild
    shards: int = 2
    seed: int = 1
    warmup_events: int = 2_000  # mixed events after every member's first message
    listed_members: int = 250  # members listed in each GUILD_CREATE
    mix: TrafficMix = field(default_factory=TrafficMix)


@dataclass(frozen=True)
class PhaseCounts:
    """What one phase sends, and the core events it must become."""

    gateway: dict[str, int]
    core: dict[str, int]  # by core event kind: message, reaction_added, reaction_removed

    @property
    def total(self) -> int:
        return sum(self.gateway.values())

    @property
    def core_total(self) -> int:
        return sum(self.core.values())


@dataclass(frozen=True)
class TrafficSummary:
    guild_ids: tuple[int, ...]
    phases: dict[str, PhaseCounts]


@dataclass
class _Member:
    user_id: int
    full: JSON  # as in GUILD_CREATE, reactions and voice states
    partial: JSON  # as embedded in a message


@dataclass
class _Recent:
    message_id: int
    author: int  # member index
    channel_id: int
    payload: JSON | None  # a plain (non-reply) message a reply may quote


@dataclass
class _Guild:
    guild_id: int
    payload: JSON
    members: list[_Member]
    text_channels: list[int]
    threads: list[int]
    voice_channels: list[int]
    activity: list[float]  # cumulative Zipf weights over ``order``
    order: list[int]  # member indexes, most active first
    recent: list[_Recent] = field(default_factory=list)
    reacted: set[tuple[int, int, str]] = field(default_factory=set)
    removable: list[tuple[int, int, int, str]] = field(default_factory=list)
    in_voice: dict[int, int] = field(default_factory=dict)  # member index -> channel id
    muted: set[int] = field(default_factory=set)


def build_traffic(spec: TrafficSpec) -> Traffic[TrafficSummary]:
    """The guilds and both phases (runs in the fake's process)."""
    generator = _Generator(spec)
    warmup = generator.first_messages() + generator.mixed(spec.warmup_events)
    warmup_counts = generator.take_counts()
    measure = generator.mixed(spec.events)
    summary = TrafficSummary(
        guild_ids=tuple(g.guild_id for g in generator.guilds),
        phases={WARMUP: warmup_counts, MEASURE: generator.take_counts()},
    )
    return Traffic(
        guilds=[g.payload for g in generator.guilds],
        phases={WARMUP: warmup, MEASURE: measure},
        summary=summary,
    )


class _Generator:
    def __init__(self, spec: TrafficSpec) -> None:
        self.spec = spec
        self.mix = spec.mix
        self.rng = random.Random(spec.seed)  # noqa: S311 - synthetic traffic, not security
        self.emoji = {name: payloads.emoji(name) for name in _EMOJI}
        self.guilds = [self._guild(index) for index in range(spec.guilds)]
        self.gateway: Counter[str] = Counter()
        self.core: Counter[str] = Counter()
        mix = self.mix
        self.cumulative = list(
            accumulate((mix.message, mix.reaction_add, mix.reaction_remove, mix.voice))
        )

    def take_counts(self) -> PhaseCounts:
        counts = PhaseCounts(gateway=dict(self.gateway), core=dict(self.core))
        self.gateway.clear()
        self.core.clear()
        return counts

    # -- guilds --------------------------------------------------------------------------------

    def _guild(self, index: int) -> _Guild:
        rng, spec = self.rng, self.spec
        guild_id = payloads.snowflake_on_shard(index % spec.shards, spec.shards)
        roles = [
            payloads.role(payloads.snowflake(), name, position=position + 1)
            for position, (name, _) in enumerate(_ROLE_SHARES)
        ]
        members = []
        for i in range(spec.members):
            user = payloads.user(payloads.snowflake(), f"member{index}-{i}")
            held = [
                int(role["id"])
                for role, (_, share) in zip(roles, _ROLE_SHARES, strict=True)
                if rng.random() < share
            ]
            full = payloads.member(user, roles=held)
            members.append(_Member(int(user["id"]), full, payloads.partial_member(full)))
        category = payloads.snowflake()
        channels = [payloads.category_channel(category, guild_id, "Community")]
        text_channels = []
        for position, name in enumerate(_TEXT_CHANNELS):
            channel_id = payloads.snowflake()
            text_channels.append(channel_id)
            channels.append(
                payloads.text_channel(
                    channel_id, guild_id, name, position=position, parent_id=category
                )
            )
        voice_channels = []
        for position, name in enumerate(_VOICE_CHANNELS):
            channel_id = payloads.snowflake()
            voice_channels.append(channel_id)
            channels.append(
                payloads.voice_channel(
                    channel_id, guild_id, name, position=position, parent_id=category
                )
            )
        threads = []
        thread_payloads = []
        for n in range(4):
            thread_id = payloads.snowflake()
            threads.append(thread_id)
            thread_payloads.append(
                payloads.thread_channel(
                    thread_id,
                    guild_id,
                    text_channels[n % 2 * 3],  # under #general and #help
                    f"thread {n}",
                    owner_id=members[n % len(members)].user_id,
                )
            )
        payload = payloads.guild(
            guild_id,
            f"Bench Guild {index}",
            owner_id=members[0].user_id,
            roles=roles,
            channels=channels,
            threads=thread_payloads,
            members=[m.full for m in members[: spec.listed_members]],
            member_count=spec.members,
        )
        order = list(range(spec.members))
        rng.shuffle(order)
        activity = list(accumulate(1.0 / (rank + 1) for rank in range(spec.members)))
        return _Guild(
            guild_id,
            payload,
            members,
            text_channels,
            threads,
            voice_channels,
            activity,
            order,
        )

    def _active_member(self, guild: _Guild) -> int:
        """A member index, Zipf-distributed: a few members are most of the activity."""
        position = bisect(guild.activity, self.rng.random() * guild.activity[-1])
        return guild.order[min(position, len(guild.order) - 1)]

    # -- phases --------------------------------------------------------------------------------

    def first_messages(self) -> list[tuple[str, JSON]]:
        """Every member posts once, guilds interleaved (members known before measuring)."""
        everyone = [(g, i) for g in self.guilds for i in range(len(g.members))]
        self.rng.shuffle(everyone)
        return [self._message(guild, author) for guild, author in everyone]

    def mixed(self, count: int) -> list[tuple[str, JSON]]:
        events: list[tuple[str, JSON]] = []
        rng, guilds, cumulative = self.rng, self.guilds, self.cumulative
        while len(events) < count:
            guild = guilds[rng.randrange(len(guilds))]
            pick = bisect(cumulative, rng.random() * cumulative[-1])
            event = None
            if pick == 1:
                event = self._reaction_add(guild)
            elif pick == 2:
                event = self._reaction_remove(guild)
            elif pick >= 3:
                event = self._voice(guild)
            events.append(event or self._message(guild, self._active_member(guild)))
        return events

    def _count(self, gateway: str, core: str | None) -> None:
        self.gateway[gateway] += 1
        if core is not None:
            self.core[core] += 1

    def _message(self, guild: _Guild, author: int) -> tuple[str, JSON]:
        rng = self.rng
        if guild.threads and rng.random() < self.mix.thread:
            channel_id = guild.threads[rng.randrange(len(guild.threads))]
        else:
            channel_id = rng.choices(guild.text_channels, _TEXT_WEIGHTS)[0]
        quoted = None
        if guild.recent and rng.random() < self.mix.reply:
            quoted = _quotable(guild.recent, channel_id)
        member = guild.members[author]
        message_id = payloads.snowflake()
        payload = payloads.message(
            channel_id,
            member.full["user"],
            _PHRASES[rng.randrange(len(_PHRASES))],
            message_id=message_id,
            guild_id=guild.guild_id,
            referenced_message=quoted,
        )
        payload["member"] = member.partial
        recent = _Recent(message_id, author, channel_id, payload if quoted is None else None)
        if len(guild.recent) >= _RECENT:
            guild.recent.pop(0)
        guild.recent.append(recent)
        self._count("MESSAGE_CREATE", "message")
        return "MESSAGE_CREATE", payload

    def _reaction_add(self, guild: _Guild) -> tuple[str, JSON] | None:
        rng = self.rng
        if not guild.recent:
            return None
        reactor = self._active_member(guild)
        for _ in range(4):
            target = guild.recent[rng.randrange(len(guild.recent))]
            emoji = _EMOJI[rng.randrange(len(_EMOJI))]
            key = (target.message_id, reactor, emoji)
            if target.author == reactor or key in guild.reacted:
                continue  # a self-reaction earns nothing; a repeat is the same event
            guild.reacted.add(key)
            guild.removable.append((target.message_id, target.channel_id, reactor, emoji))
            payload = payloads.reaction_add(
                user_id=guild.members[reactor].user_id,
                channel_id=target.channel_id,
                message_id=target.message_id,
                reaction_emoji=self.emoji[emoji],
                guild_id=guild.guild_id,
                reactor_member=guild.members[reactor].full,
                message_author_id=guild.members[target.author].user_id,
            )
            self._count("MESSAGE_REACTION_ADD", "reaction_added")
            return "MESSAGE_REACTION_ADD", payload
        return None

    def _reaction_remove(self, guild: _Guild) -> tuple[str, JSON] | None:
        if not guild.removable:
            return None
        # Never re-added afterwards: the same reaction again is the same event (mapping.py).
        index = self.rng.randrange(len(guild.removable))
        guild.removable[index], guild.removable[-1] = guild.removable[-1], guild.removable[index]
        message_id, channel_id, reactor, emoji = guild.removable.pop()
        payload = payloads.reaction_remove(
            user_id=guild.members[reactor].user_id,
            channel_id=channel_id,
            message_id=message_id,
            reaction_emoji=self.emoji[emoji],
            guild_id=guild.guild_id,
        )
        self._count("MESSAGE_REACTION_REMOVE", "reaction_removed")
        return "MESSAGE_REACTION_REMOVE", payload

    def _voice(self, guild: _Guild) -> tuple[str, JSON] | None:
        rng = self.rng
        in_voice = guild.in_voice
        roll = rng.random()
        if in_voice and roll < 0.2:  # a self-mute toggle: the session's worth changes
            member = _any(in_voice, rng)
            channel_id = in_voice[member]
            guild.muted ^= {member}
        elif in_voice and (roll < 0.6 or len(in_voice) >= _VOICE_CAP):
            member = _any(in_voice, rng)
            del in_voice[member]
            guild.muted.discard(member)
            channel_id = None
        else:
            member = self._active_member(guild)
            if member in in_voice:
                return None
            channel_id = guild.voice_channels[rng.randrange(len(guild.voice_channels))]
            in_voice[member] = channel_id
        payload = payloads.voice_state(
            guild.guild_id,
            channel_id,
            guild.members[member].full,
            self_mute=member in guild.muted,
        )
        self._count("VOICE_STATE_UPDATE", None)
        return "VOICE_STATE_UPDATE", payload


def _quotable(recent: Sequence[_Recent], channel_id: int) -> JSON | None:
    """A recent plain message in the channel (a reply quotes one level, as Discord does)."""
    for candidate in reversed(recent[-32:]):
        if candidate.channel_id == channel_id and candidate.payload is not None:
            return candidate.payload
    return None


def _any(in_voice: dict[int, int], rng: random.Random) -> int:
    members = list(in_voice)
    return members[rng.randrange(len(members))]

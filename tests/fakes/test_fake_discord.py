"""The fake Discord, driven by the real, unmodified discord.py client.

Why these tests: the Discord adapter's end-to-end tests and ``townsquare bench`` trust the
fake to behave like Discord where discord.py can tell the difference — login, sharding,
resume after a reconnect, rate limits, interactions. Each behaviour is checked here through
discord.py itself (and, for close codes and headers, at the protocol level).
"""

from __future__ import annotations

import asyncio
import io
import re
import threading
import time
import warnings
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest

from townsquare.fakes.discord import FakeDiscord, payloads
from townsquare.fakes.discord.payloads import JSON

with warnings.catch_warnings():
    # discord.py imports the deprecated audioop (for voice) on Python < 3.13.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord
    from discord import app_commands

pytestmark = pytest.mark.timeout(60)


@dataclass(frozen=True)
class Guild:
    """One guild of the fake's world, with the ids a test needs."""

    id: int
    channel_id: int
    role_id: int
    payload: JSON

    @property
    def channel(self) -> JSON:
        channel: JSON = self.payload["channels"][0]
        return channel


@dataclass(frozen=True)
class Community:
    alice: JSON  # a user
    alice_member: JSON  # alice's member in the first guild
    guilds: tuple[Guild, ...]


def build_community(shard_count: int = 2) -> Community:
    """One guild per shard, each with a text channel, a role and alice holding it."""
    alice = payloads.user(payloads.snowflake(), "alice", global_name="Alice")
    guilds = []
    for shard_id in range(shard_count):
        guild_id = payloads.snowflake_on_shard(shard_id, shard_count)
        channel = payloads.text_channel(payloads.snowflake(), guild_id, "general")
        regular = payloads.role(payloads.snowflake(), "Regular", position=1)
        alice_member = payloads.member(alice, roles=[int(regular["id"])])
        guild = payloads.guild(
            guild_id,
            f"Guild {shard_id}",
            owner_id=int(alice["id"]),
            roles=[regular],
            channels=[channel],
            members=[alice_member],
        )
        guilds.append(Guild(guild_id, int(channel["id"]), int(regular["id"]), guild))
    return Community(alice, guilds[0].payload["members"][0], tuple(guilds))


class RecordingClient(discord.AutoShardedClient):
    """The real discord.py client, recording what reaches its event handlers."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("intents", all_but_presences())
        options.setdefault("guild_ready_timeout", 0.05)
        super().__init__(**options)
        self.messages: list[discord.Message] = []
        self.reactions: list[discord.RawReactionActionEvent] = []
        self.joined: list[discord.Guild] = []
        self.events: list[str] = []  # every event name discord.py dispatched

    def dispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None:
        self.events.append(event)
        super().dispatch(event, *args, **kwargs)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s before every IDENTIFY but the first (Discord's limit)."""

    async def on_message(self, message: discord.Message) -> None:
        self.messages.append(message)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        self.reactions.append(payload)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        self.joined.append(guild)

    def contents(self) -> list[str]:
        return [m.content for m in self.messages]


def all_but_presences() -> discord.Intents:
    intents = discord.Intents.default()
    intents.members = True
    intents.message_content = True
    return intents


def guard_parsers(client: discord.Client) -> list[str]:
    """Skip a dispatch discord.py cannot parse, as the adapter does; the names skipped."""
    skipped: list[str] = []
    parsers: dict[str, Callable[[Any], None]] = client._connection.parsers

    def guarded(name: str, parse: Callable[[Any], None]) -> Callable[[Any], None]:
        def run(data: Any) -> None:
            try:
                parse(data)
            except Exception:
                skipped.append(name)

        return run

    for name, parse in list(parsers.items()):
        parsers[name] = guarded(name, parse)
    return skipped


@pytest.fixture
def community() -> Community:
    return build_community()


@pytest.fixture
def fake(community: Community) -> Iterator[FakeDiscord]:
    with FakeDiscord(guilds=[g.payload for g in community.guilds]) as fake_discord:
        with fake_discord.redirect_discord_py():
            yield fake_discord
        assert fake_discord.errors == []


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        leaked = [
            t.name
            for t in threading.enumerate()
            if t.name == "fake-discord" or t.name.startswith("keep-alive-handler")
        ]
        if not leaked:
            return
        time.sleep(0.02)
    pytest.fail(f"threads left running: {leaked}")


@asynccontextmanager
async def running(client: discord.Client, token: str) -> AsyncIterator[discord.Client]:
    """The client logged in and ready; closed (and its task awaited) on exit."""
    task = asyncio.create_task(client.start(token))
    try:
        ready = asyncio.create_task(client.wait_until_ready())
        await asyncio.wait({ready, task}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            ready.cancel()
            task.result()  # raises what start() raised
        assert ready.done(), "discord.py did not become ready"
        yield client
    finally:
        await client.close()
        await task


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def chat(community: Community, guild: Guild, content: str) -> JSON:
    member = guild.payload["members"][0]
    return payloads.message(
        guild.channel_id, community.alice, content, guild_id=guild.id, author_member=member
    )


async def test_sharded_login_fills_guilds_and_fires_ready(
    fake: FakeDiscord, community: Community
) -> None:
    client = RecordingClient(shard_count=2)
    async with running(client, fake.token):
        assert {g.id for g in client.guilds} == {g.id for g in community.guilds}
        for shard_id, guild in enumerate(community.guilds):
            cached = client.get_guild(guild.id)
            assert cached is not None
            assert cached.shard_id == shard_id
            assert cached.get_channel(guild.channel_id) is not None
            assert cached.get_role(guild.role_id) is not None
            assert cached.me is not None
        assert sorted(fake.connections) == [0, 1]
        assert fake.identify_count == 2
    assert [c.path for c in fake.calls] == ["/users/@me", "/oauth2/applications/@me"]


async def test_message_reaches_on_message_with_author_channel_and_roles(
    fake: FakeDiscord, community: Community
) -> None:
    guild = community.guilds[1]
    client = RecordingClient(shard_count=2)
    async with running(client, fake.token):
        assert fake.dispatch("MESSAGE_CREATE", chat(community, guild, "hello")) is not None
        await until(lambda: bool(client.messages))
    message = client.messages[0]
    assert message.content == "hello"
    assert message.author.id == int(community.alice["id"])
    assert message.channel.id == guild.channel_id
    assert isinstance(message.author, discord.Member)
    assert guild.role_id in [r.id for r in message.author.roles]


async def test_reaction_add_carries_the_message_author(
    fake: FakeDiscord, community: Community
) -> None:
    guild = community.guilds[0]
    author_id = payloads.snowflake()
    reaction = payloads.reaction_add(
        user_id=int(community.alice["id"]),
        channel_id=guild.channel_id,
        message_id=payloads.snowflake(),
        reaction_emoji=payloads.emoji("👍"),
        guild_id=guild.id,
        reactor_member=community.alice_member,
        message_author_id=author_id,
    )
    client = RecordingClient(shard_count=2)
    async with running(client, fake.token):
        fake.dispatch("MESSAGE_REACTION_ADD", reaction)
        await until(lambda: bool(client.reactions))
    assert client.reactions[0].message_author_id == author_id
    assert str(client.reactions[0].emoji) == "👍"
    assert client.reactions[0].member is not None


async def test_reconnect_request_resumes_and_delivers_a_missed_event_once(
    fake: FakeDiscord, community: Community
) -> None:
    guild = community.guilds[1]
    client = RecordingClient(shard_count=2)
    async with running(client, fake.token):
        fake.request_reconnect(shard_id=1)
        fake.dispatch("MESSAGE_CREATE", chat(community, guild, "while away"))
        await fake.wait_for_resume()
        fake.dispatch("MESSAGE_CREATE", chat(community, guild, "after"))
        await until(lambda: "after" in client.contents())
        await asyncio.sleep(0.1)  # room for a duplicate to show up
    assert client.contents() == ["while away", "after"]
    assert fake.identify_count == 2
    assert fake.connections[1].resumed_count == 1


@pytest.mark.parametrize("code", [4000, None], ids=["close-4000", "tcp-cut"])
async def test_dropped_connection_resumes_without_loss_or_duplicates(
    fake: FakeDiscord, community: Community, code: int | None
) -> None:
    guild = community.guilds[0]
    client = RecordingClient(shard_count=2)
    sent = [f"m{i}" for i in range(100)]
    async with running(client, fake.token):
        for index, content in enumerate(sent):
            if index == 50:
                fake.drop_connection(shard_id=0, code=code)
            fake.dispatch("MESSAGE_CREATE", chat(community, guild, content))
        await until(lambda: len(client.messages) >= len(sent))
        await asyncio.sleep(0.1)
    assert client.contents() == sent
    assert fake.resume_count == 1


async def test_invalid_session_makes_the_client_identify_again(
    fake: FakeDiscord, community: Community
) -> None:
    client = RecordingClient(shard_count=2)
    async with running(client, fake.token):
        old_session = fake.connections[0].session_id
        fake.invalidate_session(shard_id=0)
        await fake.wait_for_identify(3)
        await until(lambda: fake.connections[0].connected)
        assert fake.connections[0].session_id != old_session
        fake.dispatch("MESSAGE_CREATE", chat(community, community.guilds[0], "again"))
        await until(lambda: client.contents() == ["again"])


async def test_wrong_token_raises_login_failure(fake: FakeDiscord) -> None:
    client = RecordingClient(shard_count=2)
    with pytest.raises(discord.LoginFailure):
        async with running(client, "not-the-token"):
            pass
    assert fake.calls[0].status == 401


async def test_disallowed_privileged_intent_raises(community: Community) -> None:
    with (
        FakeDiscord(guilds=[community.guilds[0].payload], allowed_privileged_intents=0) as fake,
        fake.redirect_discord_py(),
    ):
        client = RecordingClient(shard_count=1)
        with pytest.raises(discord.PrivilegedIntentsRequired):
            async with running(client, fake.token):
                pass


async def test_gateway_speaks_zlib_stream_and_closes_4004_on_a_wrong_token(
    fake: FakeDiscord,
) -> None:
    inflate = zlib.decompressobj()
    url = f"{fake.gateway_url}?v=10&encoding=json&compress=zlib-stream"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        hello = await ws.receive()
        assert hello.type is aiohttp.WSMsgType.BINARY
        assert hello.data.endswith(b"\x00\x00\xff\xff")
        assert orjson.loads(inflate.decompress(hello.data)) == {
            "op": 10,
            "d": {"heartbeat_interval": 41_250},
            "s": None,
            "t": None,
        }
        await ws.send_str(orjson.dumps({"op": 1, "d": None}).decode())
        ack = orjson.loads(inflate.decompress((await ws.receive()).data))
        assert ack["op"] == 11
        identify = {"token": "wrong", "intents": 513, "properties": {}}
        await ws.send_str(orjson.dumps({"op": 2, "d": identify}).decode())
        closing = await ws.receive()
        assert closing.type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4004


async def test_heartbeats_are_acknowledged(community: Community) -> None:
    with (
        FakeDiscord(guilds=[community.guilds[0].payload], heartbeat_interval_ms=50) as fake,
        fake.redirect_discord_py(),
    ):
        client = RecordingClient(shard_count=1)
        async with running(client, fake.token):
            await asyncio.sleep(0.3)  # several intervals
            assert client.latency < 1.0


async def test_rest_answers_like_discord(fake: FakeDiscord, community: Community) -> None:
    bot = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{fake.api_url}/users/@me") as response:
            assert response.status == 401
            assert await response.json() == {"message": "401: Unauthorized", "code": 0}
        async with session.get(f"{fake.api_url}/no/such/route", headers=bot) as response:
            assert response.status == 404
            assert await response.json() == {"message": "404: Not Found", "code": 0}
        roles_url = f"{fake.api_url}/guilds/{community.guilds[0].id}/roles"
        async with session.get(roles_url, headers=bot) as response:
            assert response.status == 200
            assert response.headers["X-RateLimit-Remaining"] == "49"
            assert {r["name"] for r in await response.json()} == {"@everyone", "Regular"}


async def test_rate_limited_send_waits_retry_after_then_succeeds(
    fake: FakeDiscord, community: Community
) -> None:
    guild = community.guilds[0]
    path = f"/channels/{guild.channel_id}/messages"
    fake.rate_limit("POST", path, retry_after=0.3)
    client = RecordingClient(shard_count=2)
    async with running(client, fake.token):
        channel = client.get_channel(guild.channel_id)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send("after the limit")
    assert sent.content == "after the limit"
    calls = fake.calls_to("POST", path)
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 0.3


async def test_role_changes_are_applied_and_faults_surface_as_forbidden(
    fake: FakeDiscord, community: Community
) -> None:
    guild = community.guilds[0]
    alice_id = int(community.alice["id"])
    new_role = payloads.role(payloads.snowflake(), "Level 5", position=2)
    fake.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": new_role})
    client = RecordingClient(shard_count=2)
    async with running(client, fake.token):
        cached = client.get_guild(guild.id)
        assert cached is not None
        member = await cached.fetch_member(alice_id)
        await member.add_roles(discord.Object(int(new_role["id"])), reason="reached level 5")
        fake.fail("PUT", re.compile(r"/members/\d+/roles/"))
        with pytest.raises(discord.Forbidden) as refused:
            await member.add_roles(discord.Object(guild.role_id))
    assert refused.value.code == 50013
    assert fake.calls_to("PUT", f"/guilds/{guild.id}/members")[0].reason == "reached level 5"
    stored = fake.member(guild.id, alice_id)
    assert stored is not None
    assert new_role["id"] in stored["roles"]


async def test_command_sync_registers_and_an_interaction_runs_it(
    fake: FakeDiscord, community: Community
) -> None:
    guild = community.guilds[0]
    client = RecordingClient(shard_count=2)
    tree = app_commands.CommandTree(client)

    @tree.command(name="echo", description="Says a word back")
    async def echo(interaction: discord.Interaction, word: str) -> None:
        await interaction.response.send_message(f"{interaction.user.name} said {word}")

    async with running(client, fake.token):
        await tree.sync()
        assert [c["name"] for c in fake.commands[None]] == ["echo"]
        fake.dispatch(
            "INTERACTION_CREATE",
            payloads.interaction_command(
                "echo",
                application_id=fake.application_id,
                guild_id=guild.id,
                channel=guild.channel,
                invoker=community.alice_member,
                options=[payloads.option("word", "hello")],
                command_id=int(fake.commands[None][0]["id"]),
            ),
        )
        callback = await fake.wait_for_call(
            "POST", re.compile(r"^/interactions/\d+/[^/]+/callback")
        )
    assert callback.status == 200
    assert callback.json["type"] == 4  # CHANNEL_MESSAGE_WITH_SOURCE
    assert callback.json["data"]["content"] == "alice said hello"


async def test_malformed_dispatch_kills_unguarded_discord_py(
    fake: FakeDiscord, community: Community
) -> None:
    """Why the adapter guards its parsers: one bad payload ends discord.py's client."""
    broken = chat(community, community.guilds[0], "broken")
    del broken["channel_id"]
    client = RecordingClient(shard_count=2)

    async def receive_it() -> None:
        async with running(client, fake.token):
            fake.dispatch_raw(0, {"op": 0, "t": "MESSAGE_CREATE", "d": broken})
            await until(client.is_closed)

    with pytest.raises(KeyError):
        await receive_it()


async def test_malformed_dispatch_is_skipped_and_the_next_still_arrives(
    fake: FakeDiscord, community: Community
) -> None:
    guild = community.guilds[0]
    broken = chat(community, guild, "broken")
    del broken["channel_id"]
    client = RecordingClient(shard_count=2)
    skipped = guard_parsers(client)
    async with running(client, fake.token):
        fake.dispatch_raw(0, {"op": 0, "t": "MESSAGE_CREATE", "d": broken})
        fake.dispatch("MESSAGE_CREATE", chat(community, guild, "fine"))
        await until(lambda: client.contents() == ["fine"])
    assert skipped == ["MESSAGE_CREATE"]


async def test_joining_a_new_guild_reaches_on_guild_join(
    fake: FakeDiscord, community: Community
) -> None:
    guild_id = payloads.snowflake_on_shard(1, 2)
    new_guild = payloads.guild(guild_id, "New", owner_id=int(community.alice["id"]))
    client = RecordingClient(shard_count=2)
    async with running(client, fake.token):
        assert fake.add_guild(new_guild) is not None
        await until(lambda: bool(client.joined))
    assert client.joined[0].id == guild_id
    assert client.joined[0].shard_id == 1


async def test_message_content_is_withheld_without_its_intent(
    fake: FakeDiscord, community: Community
) -> None:
    intents = all_but_presences()
    intents.message_content = False
    client = RecordingClient(shard_count=2, intents=intents)
    async with running(client, fake.token):
        fake.dispatch("MESSAGE_CREATE", chat(community, community.guilds[0], "secret"))
        await until(lambda: bool(client.messages))
    assert client.contents() == [""]


async def test_dispatch_many_delivers_every_event_in_order(
    fake: FakeDiscord, community: Community
) -> None:
    guild = community.guilds[1]
    contents = [f"event {i}" for i in range(2000)]
    client = RecordingClient(shard_count=2)
    async with running(client, fake.token):
        batch = fake.dispatch_many(("MESSAGE_CREATE", chat(community, guild, c)) for c in contents)
        await batch.wait()
        await until(lambda: len(client.messages) == len(contents))
    assert batch.dispatched == len(contents)
    assert batch.dropped == 0
    assert client.contents() == contents


async def test_paced_dispatch_keeps_the_rate(fake: FakeDiscord, community: Community) -> None:
    events = [("MESSAGE_CREATE", chat(community, community.guilds[0], "x"))] * 100
    client = RecordingClient(shard_count=2)
    async with running(client, fake.token):
        started = time.monotonic()
        batch = fake.dispatch_many(events, per_second=1000)
        await batch.wait()
        elapsed = time.monotonic() - started
    assert batch.dispatched == 100
    assert 0.09 <= elapsed < 2


async def test_upload_and_reply_are_recorded_as_discord_receives_them(
    fake: FakeDiscord, community: Community
) -> None:
    guild = community.guilds[0]
    path = f"/channels/{guild.channel_id}/messages"
    client = RecordingClient(shard_count=2)
    async with running(client, fake.token):
        channel = client.get_channel(guild.channel_id)
        assert isinstance(channel, discord.TextChannel)
        card = await channel.send("your card", file=discord.File(io.BytesIO(b"png!"), "card.png"))
        reply = await card.reply("a reply", mention_author=False)
        await until(lambda: len(client.messages) == 2)  # Discord echoes the bot's messages
    upload, replied = fake.calls_to("POST", path)
    assert upload.json["content"] == "your card"
    assert [(f.filename, f.size) for f in upload.files] == [("card.png", 4)]
    assert [a.filename for a in card.attachments] == ["card.png"]
    assert int(replied.json["message_reference"]["message_id"]) == card.id
    assert reply.reference is not None
    assert reply.reference.message_id == card.id
    assert [m.author.id for m in client.messages] == [fake.bot_user_id] * 2


async def test_deferred_interaction_is_edited_and_followed_up(
    fake: FakeDiscord, community: Community
) -> None:
    guild = community.guilds[0]
    client = RecordingClient(shard_count=2)
    tree = app_commands.CommandTree(client)

    @tree.command(name="rank", description="Shows your rank", guild=discord.Object(guild.id))
    async def rank(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.edit_original_response(content="level 5")
        await interaction.followup.send("just for you", ephemeral=True)

    async with running(client, fake.token):
        await tree.sync(guild=discord.Object(guild.id))
        assert [c["name"] for c in fake.commands[guild.id]] == ["rank"]
        interaction = payloads.interaction_command(
            "rank",
            application_id=fake.application_id,
            guild_id=guild.id,
            channel=guild.channel,
            invoker=community.alice_member,
            guild_command=True,
        )
        fake.dispatch("INTERACTION_CREATE", interaction)
        webhook = f"/webhooks/{fake.application_id}/{interaction['token']}"
        followup = await fake.wait_for_call("POST", webhook)
        async with aiohttp.ClientSession() as session:
            again = (
                f"{fake.api_url}/interactions/{interaction['id']}/{interaction['token']}/callback"
            )
            async with session.post(again, json={"type": 4, "data": {"content": "x"}}) as answer:
                assert answer.status == 400
                assert (await answer.json())["code"] == 40060
    assert fake.calls_to("POST", "/interactions/")[0].json["type"] == 5  # deferred
    edit = fake.calls_to("PATCH", webhook + "/messages/@original")[0]
    assert (edit.status, edit.json["content"]) == (200, "level 5")
    assert (followup.status, followup.json["flags"]) == (200, 64)  # ephemeral


async def test_button_click_reaches_the_client_and_updates_the_message(
    fake: FakeDiscord, community: Community
) -> None:
    guild = community.guilds[0]
    card = payloads.message(guild.channel_id, fake.bot_user, "card", guild_id=guild.id)
    clicks: list[discord.Interaction] = []
    client = RecordingClient(shard_count=2)

    async def on_interaction(interaction: discord.Interaction) -> None:
        clicks.append(interaction)
        await interaction.response.edit_message(content="clicked")

    client.on_interaction = on_interaction  # type: ignore[attr-defined]
    async with running(client, fake.token):
        fake.dispatch(
            "INTERACTION_CREATE",
            payloads.interaction_component(
                "rank:refresh",
                application_id=fake.application_id,
                guild_id=guild.id,
                channel=guild.channel,
                invoker=community.alice_member,
                component_message=card,
            ),
        )
        callback = await fake.wait_for_call("POST", "/interactions/")
    assert clicks[0].data is not None
    assert clicks[0].data.get("custom_id") == "rank:refresh"
    assert clicks[0].message is not None
    assert clicks[0].message.id == int(card["id"])
    assert callback.json["type"] == 7  # UPDATE_MESSAGE
    assert callback.json["data"]["content"] == "clicked"
    assert callback.status == 200


async def test_guild_event_payloads_parse_in_discord_py(
    fake: FakeDiscord, community: Community
) -> None:
    guild = community.guilds[0]
    voice = payloads.voice_channel(payloads.snowflake(), guild.id, "Lounge")
    bob = payloads.member(payloads.user(payloads.snowflake(), "bob"))
    thread = payloads.thread_channel(
        payloads.snowflake(), guild.id, guild.channel_id, "topic", owner_id=int(bob["user"]["id"])
    )
    client = RecordingClient(shard_count=2)
    async with running(client, fake.token):
        fake.dispatch("CHANNEL_CREATE", voice)
        fake.dispatch("GUILD_MEMBER_ADD", payloads.guild_member_add(guild.id, bob))
        fake.dispatch("VOICE_STATE_UPDATE", payloads.voice_state(guild.id, int(voice["id"]), bob))
        fake.dispatch("THREAD_CREATE", payloads.thread_create(thread))
        fake.dispatch("GUILD_MEMBER_REMOVE", payloads.guild_member_remove(guild.id, bob["user"]))
        fake.dispatch("CHANNEL_DELETE", voice)
        expected = {
            "guild_channel_create",
            "member_join",
            "voice_state_update",
            "thread_create",
            "raw_member_remove",
            "guild_channel_delete",
        }
        await until(lambda: expected <= set(client.events))
        cached = client.get_guild(guild.id)
        assert cached is not None
        assert cached.get_thread(int(thread["id"])) is not None
    assert fake.member(guild.id, int(bob["user"]["id"])) is None  # removed again

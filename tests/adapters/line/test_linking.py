"""One member, two platforms: ``/link`` on Discord, ``link CODE`` to the LINE bot.

The service is tested on its own (a rolled-back session) for its rules — codes stored
hashed, single use, ten minutes, one account per platform, no merging of members with
activity — and end to end with the real Discord bot on the fake Discord and the real LINE
handler on the fake LINE, sharing one pipeline and one community.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.adapters.line.line_world import (
    CHANNEL,
    PLAIN_RULES,
    LineWorld,
    database_copy,
    line_world,
)
from tests.services.factories import add_member, make_plaza
from townsquare.adapters.line import linking
from townsquare.config.settings import DatabaseSettings, DiscordSettings, PipelineSettings
from townsquare.fakes.discord import FakeDiscord, RestCall, payloads
from townsquare.pipeline.ingest import Pipeline
from townsquare.services.identity import (
    CODE_TTL,
    AccountInUse,
    LinkCodeInvalid,
    LinkedAccount,
    MemberAlreadyLinked,
    issue_code,
    normalize_code,
    redeem_code,
)
from townsquare.store.engine import create_db_engine, libpq_url
from townsquare.store.models import LinkCode, MemberIdentity

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord  # noqa: F401 - loaded before the adapter, as the Discord tests do

from townsquare.adapters.discord.runner import DiscordAdapter

pytestmark = pytest.mark.timeout(120)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LINE_USER = "U" + "1" * 32


# --- the service --------------------------------------------------------------------------


async def issue(
    session: AsyncSession, community_id: int, member_id: int, now: datetime = NOW
) -> str:
    issued = await issue_code(
        session, community_id=community_id, member_id=member_id, platform="line", now=now
    )
    return issued.code


async def redeem(session: AsyncSession, code: str, now: datetime = NOW) -> LinkedAccount:
    return await redeem_code(
        session, platform="line", external_user_id=LINE_USER, code=code, now=now
    )


async def owner_of_line_user(session: AsyncSession) -> int | None:
    return await session.scalar(
        select(MemberIdentity.member_id).where(MemberIdentity.external_user_id == LINE_USER)
    )


async def test_a_code_is_stored_only_as_its_hash(session: AsyncSession) -> None:
    plaza = await make_plaza(session)
    issued = await issue_code(
        session, community_id=plaza.community_id, member_id=plaza.members["alice"],
        platform="line", now=NOW,
    )  # fmt: skip
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}", issued.code)
    assert issued.expires_at == NOW + CODE_TTL
    assert issued.code not in repr(issued)
    [stored] = (await session.execute(select(LinkCode.code_hash))).scalars().all()
    normalized = normalize_code(issued.code)
    assert normalized is not None
    assert stored == hashlib.sha256(normalized.encode()).hexdigest()


async def test_redeeming_attaches_the_account_once(session: AsyncSession) -> None:
    plaza = await make_plaza(session)
    member = plaza.members["alice"]
    code = await issue(session, plaza.community_id, member)
    typed = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    linked = await redeem(session, typed)
    assert (linked.community_id, linked.member_id, linked.already) == (
        plaza.community_id, member, False,
    )  # fmt: skip
    assert await owner_of_line_user(session) == member
    with pytest.raises(LinkCodeInvalid):  # single use
        await redeem(session, code)
    with pytest.raises(MemberAlreadyLinked):
        await issue(session, plaza.community_id, member)


async def test_an_expired_or_replaced_code_is_refused(session: AsyncSession) -> None:
    plaza = await make_plaza(session)
    first = await issue(session, plaza.community_id, plaza.members["alice"])
    second = await issue(session, plaza.community_id, plaza.members["alice"])
    with pytest.raises(LinkCodeInvalid):
        await redeem(session, first)
    with pytest.raises(LinkCodeInvalid) as refused:
        await redeem(session, second, now=NOW + CODE_TTL + timedelta(seconds=1))
    assert "expired" in refused.value.message
    with pytest.raises(LinkCodeInvalid):
        await redeem(session, "not a code")


async def test_an_account_with_activity_of_its_own_is_never_merged(session: AsyncSession) -> None:
    plaza = await make_plaza(session)
    # The LINE account already is a member of the community (the pipeline saw it first).
    line_member = await add_member(session, plaza.community_id, "line-self", identity=False)
    session.add(
        MemberIdentity(
            community_id=plaza.community_id, platform="line", external_user_id=LINE_USER,
            member_id=line_member,
        )
    )  # fmt: skip
    await session.flush()
    code = await issue(session, plaza.community_id, plaza.members["alice"])
    with pytest.raises(AccountInUse) as refused:
        await redeem(session, code)
    assert "cannot merge" in refused.value.message
    assert await owner_of_line_user(session) == line_member  # nothing moved


async def test_a_linked_account_cannot_be_linked_to_someone_else(session: AsyncSession) -> None:
    plaza = await make_plaza(session)
    await redeem(session, await issue(session, plaza.community_id, plaza.members["alice"]))
    with pytest.raises(AccountInUse):
        await redeem(session, await issue(session, plaza.community_id, plaza.members["bob"]))
    assert await owner_of_line_user(session) == plaza.members["alice"]


# --- end to end: Discord and LINE on one community -----------------------------------------


@dataclass
class Both:
    line: LineWorld
    discord: FakeDiscord
    adapter: DiscordAdapter
    guild_id: int
    general: dict[str, Any]
    people: dict[str, dict[str, Any]]
    community_id: int


@pytest.fixture(scope="module")
def linking_database(postgres_server: str, migrated_template: str) -> Iterator[str]:
    yield from database_copy(postgres_server, migrated_template)


def install(url: str, guild_id: int) -> int:
    """One community for the Discord guild and the LINE account's one-to-one chats."""
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute(
            "INSERT INTO communities (slug, name) VALUES ('plaza', 'Plaza') RETURNING id"
        ).fetchone()
        assert row is not None
        for platform, external_id in (("discord", str(guild_id)), ("line", f"oa:{CHANNEL}")):
            conn.execute(
                "INSERT INTO community_links (community_id, platform, external_id) "
                "VALUES (%s, %s, %s)",
                (row[0], platform, external_id),
            )
        conn.execute(
            "INSERT INTO community_settings (community_id, settings) VALUES (%s, %s)",
            (row[0], Jsonb(PLAIN_RULES.model_dump(mode="json"))),
        )
        conn.execute("UPDATE communities SET config_version = 2 WHERE id = %s", (row[0],))
    return int(row[0])


@pytest.fixture(scope="module")
async def both(
    linking_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Both]:
    url = linking_database
    guild_id = payloads.snowflake()
    general = payloads.text_channel(payloads.snowflake(), guild_id, "general")
    people = {}
    for name in ("dana", "erin", "stranger"):
        user = payloads.user(payloads.snowflake(), name)
        people[name] = payloads.member(user)
    guild = payloads.guild(
        guild_id,
        "Plaza",
        owner_id=int(people["dana"]["user"]["id"]),
        channels=[general],
        members=list(people.values()),
    )
    community_id = install(url, guild_id)
    spool = tmp_path_factory.mktemp("linking") / "spool"
    engine = create_db_engine(url, DatabaseSettings(pool_size=5))
    settings = PipelineSettings(spool_dir=spool, linger_ms=5)
    try:
        async with Pipeline(url, settings, DatabaseSettings()) as pipeline:
            with FakeDiscord(guilds=[guild]) as fake, fake.redirect_discord_py():
                discord_settings = DiscordSettings(
                    token=fake.token,
                    shard_count=1,
                    api_url=fake.url,
                    command_guild_ids=(str(guild_id),),
                )
                adapter = DiscordAdapter(discord_settings, pipeline, engine, ready_timeout=15)
                adapter.bot._connection.guild_ready_timeout = 0.05
                await adapter.start()
                try:
                    await until(lambda: guild_id in adapter.bot.communities)
                    async for line in line_world(
                        url, spool, pipeline=pipeline, engine=engine, account=community_id
                    ):
                        yield Both(line, fake, adapter, guild_id, general, people, community_id)
                finally:
                    await adapter.stop()
    finally:
        await engine.dispose()


async def until(condition: Callable[[], object], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def discord_says(both: Both, name: str, text: str) -> None:
    person = both.people[name]
    before = both.adapter.bot.figures.events_ingested
    both.discord.dispatch(
        "MESSAGE_CREATE",
        payloads.message(
            int(both.general["id"]),
            person["user"],
            text,
            guild_id=both.guild_id,
            author_member=person,
        ),
    )
    await until(lambda: both.adapter.bot.figures.events_ingested > before)
    await both.line.pipeline.flush()


async def slash_link(both: Both, name: str) -> RestCall:
    """``/link`` by ``name``; the (ephemeral) answer after the deferral."""
    interaction = payloads.interaction_command(
        "link",
        application_id=both.discord.application_id,
        guild_id=both.guild_id,
        channel=both.general,
        invoker=both.people[name],
    )
    both.discord.dispatch("INTERACTION_CREATE", interaction)
    webhook = f"/webhooks/{both.discord.application_id}/{interaction['token']}"
    answers = (("PATCH", f"{webhook}/messages/@original"), ("POST", webhook))

    def found() -> RestCall | None:
        calls = both.discord.calls_to("*", webhook)
        return next((c for c in calls if (c.method, c.path) in answers), None)

    await until(found)
    answer = found()
    assert answer is not None
    assert answer.status == 200
    callback = f"/interactions/{interaction['id']}/{interaction['token']}/callback"
    [deferral] = both.discord.calls_to("POST", callback)
    assert deferral.json["data"]["flags"] & 64  # ephemeral: nobody else sees the code
    return answer


def code_in(answer: RestCall) -> str:
    [shown] = answer.json["embeds"]
    found = re.search(r"link ([0-9A-Z]{4}-[0-9A-Z]{4})", shown["description"])
    assert found is not None, shown["description"]
    return found.group(1)


async def discord_member(both: Both, name: str) -> int:
    found = await both.line.scalar(
        "SELECT member_id FROM member_identities WHERE community_id = %s "
        "AND platform = 'discord' AND external_user_id = %s",
        both.community_id,
        both.people[name]["user"]["id"],
    )
    assert found is not None
    return int(found)


async def test_link_on_discord_then_line_shares_one_profile(both: Both) -> None:
    line = both.line
    await discord_says(both, "dana", "hello from discord")
    dana = await discord_member(both, "dana")
    async with await psycopg.AsyncConnection.connect(libpq_url(line.url)) as conn:
        await conn.execute("UPDATE members SET display_name = 'dana' WHERE id = %s", (dana,))
    members_before = await line.scalar("SELECT count(*) FROM members")

    code = code_in(await slash_link(both, "dana"))
    user = line.fake.add_user(display_name="Dana on LINE")
    await line.text(user, f"link {code}")
    [linked] = line.answers(user)
    assert linked["text"].startswith("Linked! Your LINE account now shares one profile")
    assert await line.member_of(user, both.community_id) == dana

    await line.text(user, "and hello from LINE")
    assert await line.xp(user, both.community_id) == 30  # both messages, one balance
    await line.text(user, "rank")
    card = line.answers(user)[-1]
    assert card["altText"].startswith("Dana on LINE: level 0, 30 XP")
    name = await line.scalar(
        "SELECT display_name FROM members WHERE community_id = %s AND id = %s",
        both.community_id,
        dana,
    )
    assert name == "dana"  # a name of the member's own is not overwritten
    assert await line.scalar("SELECT count(*) FROM members") == members_before


async def test_link_without_the_code_asks_for_it(both: Both) -> None:
    await discord_says(both, "erin", "hi")
    code = code_in(await slash_link(both, "erin"))
    user = both.line.fake.add_user()
    await both.line.text(user, "link")
    await both.line.text(user, code.lower())
    ask, linked = (m["text"] for m in both.line.answers(user))
    assert ask == linking.ASK_FOR_CODE
    assert linked.startswith("Linked!")
    assert await both.line.member_of(user, both.community_id) == await discord_member(both, "erin")


async def test_a_line_account_with_activity_here_is_refused(both: Both) -> None:
    user = both.line.fake.add_user()
    await both.line.text(user, "I was here first")  # a member of the community of its own
    await both.line.pipeline.flush()
    own = await both.line.member_of(user, both.community_id)
    await discord_says(both, "stranger", "hello")
    code = code_in(await slash_link(both, "stranger"))
    await both.line.text(user, f"link {code}")
    refusal = both.line.answers(user)[-1]["text"]
    assert "cannot merge" in refusal
    assert await both.line.member_of(user, both.community_id) == own


async def test_discord_link_for_someone_without_a_profile_is_refused(both: Both) -> None:
    both.people["ghost"] = payloads.member(payloads.user(payloads.snowflake(), "ghost"))
    answer = await slash_link(both, "ghost")
    assert "has no Townsquare profile here yet" in answer.json["content"]
    assert answer.json["flags"] & 64  # ephemeral

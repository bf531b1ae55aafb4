"""The slash commands end to end: the real discord.py client, the fake Discord, PostgreSQL.

One fake, one bot and one pipeline serve the whole module (starting them is most of the
cost); each test uses its own members, channels or board so they stay independent. A test
dispatches INTERACTION_CREATE payloads as Discord sends them and checks what the bot
answered on the fake's REST API (the interaction callback, the edited ``@original``, the
follow-ups) and what the services recorded in the database.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from townsquare.config.settings import DatabaseSettings, DiscordSettings, PipelineSettings
from townsquare.fakes.discord import FakeDiscord, RestCall, payloads
from townsquare.fakes.discord.payloads import JSON
from townsquare.pipeline.grants import GrantRelay
from townsquare.pipeline.ingest import Pipeline
from townsquare.services.audit import Actor, ActorType
from townsquare.services.community_config import apply_edit, edits, get_section
from townsquare.services.grants import GrantAction, GrantRequest, request_grant
from townsquare.store.engine import create_db_engine, create_session_factory, libpq_url

with warnings.catch_warnings():
    # discord.py imports the deprecated audioop (for voice) on Python < 3.13.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord  # noqa: F401 - imported here so the adapter's import finds it loaded

from townsquare.adapters.discord.bot import TownsquareBot
from townsquare.adapters.discord.commands import leaderboard
from townsquare.adapters.discord.commands.leaderboard import PAGE_SIZE
from townsquare.adapters.discord.runner import DiscordAdapter
from townsquare.config.document import Section

pytestmark = pytest.mark.timeout(60)

MANAGE_GUILD = 1 << 5
ADMIN_PERMISSIONS = payloads.DEFAULT_EVERYONE_PERMISSIONS | MANAGE_GUILD
EPHEMERAL = 1 << 6
DEFERRED_CHANNEL_MESSAGE, CHANNEL_MESSAGE, DEFERRED_UPDATE, AUTOCOMPLETE_RESULT = 5, 4, 6, 8
PLAYERS = PAGE_SIZE + 3  # two pages of players on the XP board
SEED_ACTOR = Actor(type=ActorType.CLI, id="test-seed")


@dataclass(frozen=True)
class Person:
    user: JSON
    member: JSON

    @property
    def id(self) -> int:
        return int(self.user["id"])


@dataclass
class Town:
    """The guild, its people and everything running behind it."""

    fake: FakeDiscord
    bot: TownsquareBot
    pipeline: Pipeline
    sessions: async_sessionmaker[AsyncSession]
    guild_id: int
    general: JSON
    events: JSON
    people: dict[str, Person] = field(default_factory=dict)

    @property
    def community_id(self) -> int:
        return self.bot.communities[self.guild_id]

    def players(self) -> list[Person]:
        return [self.people[f"player{i:02}"] for i in range(1, PLAYERS + 1)]

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.sessions() as session:
            return (await session.execute(text(sql), params)).scalar()


# --- the module's world ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def commands_database(postgres_server: str, migrated_template: str) -> Iterator[str]:
    """A migrated database for this module (the bot and pipeline commit for real)."""
    name = f"townsquare_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(postgres_server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    yield make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(libpq_url(postgres_server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _people() -> dict[str, Person]:
    names = ["admin", "alice", "bob", "carol", "dave", "stranger"]
    names += [f"player{i:02}" for i in range(1, PLAYERS + 1)]
    people = {}
    for name in names:
        user = payloads.user(payloads.snowflake(), name)
        people[name] = Person(user, payloads.member(user))
    return people


@pytest.fixture(scope="module")
async def town(
    commands_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Town]:
    guild_id = payloads.snowflake()
    general = payloads.text_channel(payloads.snowflake(), guild_id, "general")
    events = payloads.text_channel(payloads.snowflake(), guild_id, "events", position=1)
    people = _people()
    guild = payloads.guild(
        guild_id,
        "Town",
        owner_id=people["admin"].id,
        channels=[general, events],
        members=[person.member for person in people.values()],
    )
    spool = tmp_path_factory.mktemp("commands") / "spool"
    pipeline_settings = PipelineSettings(spool_dir=spool, linger_ms=5, batch_size=500)
    engine = create_db_engine(commands_database, DatabaseSettings(pool_size=5))
    try:
        async with Pipeline(commands_database, pipeline_settings, DatabaseSettings()) as pipeline:
            with FakeDiscord(guilds=[guild]) as fake, fake.redirect_discord_py():
                settings = DiscordSettings(
                    token=fake.token,
                    shard_count=1,
                    api_url=fake.url,
                    command_guild_ids=(str(guild_id),),
                )
                adapter = DiscordAdapter(settings, pipeline, engine, ready_timeout=15)
                # discord.py waits 2 s for more guilds after the last GUILD_CREATE.
                adapter.bot._connection.guild_ready_timeout = 0.05
                await adapter.start()
                try:
                    built = Town(
                        fake,
                        adapter.bot,
                        pipeline,
                        create_session_factory(engine),
                        guild_id,
                        general,
                        events,
                        people,
                    )
                    await until(lambda: guild_id in adapter.bot.communities)
                    await _seed(built)
                    yield built
                finally:
                    await adapter.stop()
                assert fake.errors == []
    finally:
        await engine.dispose()


async def _seed(town: Town) -> None:
    """Everyone but the stranger has chatted; players hold distinct XP; three achievements."""
    active = [p for name, p in town.people.items() if name != "stranger"]
    for person in active:
        town.fake.dispatch(
            "MESSAGE_CREATE",
            payloads.message(
                int(town.general["id"]),
                person.user,
                "hello",
                guild_id=town.guild_id,
                author_member=person.member,
            ),
        )
    await until(lambda: town.bot.figures.events_ingested >= len(active))
    await town.pipeline.flush()
    async with town.sessions.begin() as session:
        for achievement in (
            {"id": "chatterbox", "name": "Chatterbox", "trigger": {"type": "manual"}},
            {"id": "helper", "name": "Helpful Hand", "trigger": {"type": "manual"}},
            {
                "id": "secret-handshake",
                "name": "Handshake",
                "hidden": True,
                "trigger": {"type": "manual"},
            },
        ):
            section = await get_section(session, town.community_id, Section.ACHIEVEMENTS)
            await apply_edit(
                session,
                SEED_ACTOR,
                town.community_id,
                edits.put_achievement(achievement),
                expected_version=section.section_version,
            )
        for number, player in enumerate(town.players(), start=1):
            member_id = await member_of(town, player)
            request = GrantRequest(
                member_id=member_id,
                action=GrantAction.AWARD,
                xp=100_000 - 1_000 * number,
                idempotency_key=f"seed-{player.id}",
            )
            await request_grant(session, SEED_ACTOR, town.community_id, request)
    await GrantRelay(town.pipeline, town.sessions).run_once()


# --- helpers --------------------------------------------------------------------------------


async def until(condition: Callable[[], object], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def member_of(town: Town, person: Person) -> int:
    found = await town.scalar(
        "SELECT member_id FROM member_identities WHERE community_id = :c AND platform = "
        "'discord' AND external_user_id = :u",
        c=town.community_id,
        u=str(person.id),
    )
    assert found is not None, "the person has no member yet"
    return int(found)


def resolved(*people: Person, channels: Iterable[JSON] = ()) -> JSON:
    """The ``resolved`` block Discord sends with user and channel options."""
    return {
        "users": {str(p.id): p.user for p in people},
        "members": {
            str(p.id): {**payloads.partial_member(p.member), "permissions": "0"} for p in people
        },
        "channels": {
            channel["id"]: {
                "id": channel["id"],
                "name": channel["name"],
                "type": channel["type"],
                "parent_id": channel.get("parent_id"),
                "permissions": str(payloads.ALL_PERMISSIONS),
            }
            for channel in channels
        },
    }


def command(
    town: Town,
    name: str,
    invoker: Person,
    options: Iterable[JSON] = (),
    *,
    permissions: int = payloads.DEFAULT_EVERYONE_PERMISSIONS,
    resolved_data: JSON | None = None,
) -> JSON:
    return payloads.interaction_command(
        name,
        application_id=town.fake.application_id,
        guild_id=town.guild_id,
        channel=town.general,
        invoker=invoker.member,
        options=options,
        permissions=permissions,
        resolved=resolved_data,
    )


def subcommand(name: str, *options: JSON) -> JSON:
    return {"name": name, "type": 1, "options": list(options)}


def user_option(name: str, person: Person) -> JSON:
    return payloads.option(name, str(person.id), 6)


async def dispatch(town: Town, interaction: JSON) -> RestCall:
    """Send an interaction; the bot's first answer (the callback)."""
    town.fake.dispatch("INTERACTION_CREATE", interaction)
    path = f"/interactions/{interaction['id']}/{interaction['token']}/callback"
    return await town.fake.wait_for_call("POST", path)


async def final_answer(town: Town, interaction: JSON) -> RestCall:
    """The answer after a deferral: the edited ``@original`` or a follow-up message."""
    webhook = f"/webhooks/{town.fake.application_id}/{interaction['token']}"

    def found() -> RestCall | None:
        for call in town.fake.calls_to("*", webhook):
            if (call.method, call.path) in (
                ("PATCH", f"{webhook}/messages/@original"),
                ("POST", webhook),
            ):
                return call
        return None

    await until(found)
    answer = found()
    assert answer is not None
    return answer


async def run(town: Town, interaction: JSON) -> RestCall:
    """A command that defers: its callback is a deferral, then its real answer."""
    callback = await dispatch(town, interaction)
    assert callback.status == 200
    assert callback.json["type"] == DEFERRED_CHANNEL_MESSAGE
    answer = await final_answer(town, interaction)
    assert answer.status == 200
    return answer


def embed_text(answer: RestCall) -> str:
    """Every title, description and field of an answer's embeds, as one text."""
    parts: list[str] = []
    for shown in answer.json.get("embeds") or []:
        parts += [shown.get("title") or "", shown.get("description") or ""]
        for shown_field in shown.get("fields") or []:
            parts += [shown_field["name"], shown_field["value"]]
    return "\n".join(parts)


async def lifetime(town: Town, person: Person, column: str = "xp") -> int:
    value = await town.scalar(
        f"SELECT b.{column} FROM balances b JOIN member_identities i "
        "ON i.community_id = b.community_id AND i.member_id = b.member_id "
        "WHERE b.community_id = :c AND b.season = '' AND i.external_user_id = :u",
        c=town.community_id,
        u=str(person.id),
    )
    return int(value or 0)


async def grants_of(town: Town, person: Person) -> int:
    return int(
        await town.scalar(
            "SELECT count(*) FROM manual_grants WHERE community_id = :c AND member_id = :m",
            c=town.community_id,
            m=await member_of(town, person),
        )
    )


async def audits(town: Town, action_prefix: str) -> int:
    return int(
        await town.scalar(
            "SELECT count(*) FROM audit_log WHERE community_id = :c AND action LIKE :a",
            c=town.community_id,
            a=f"{action_prefix}%",
        )
    )


# --- registration ---------------------------------------------------------------------------


async def test_commands_are_synced_with_translated_descriptions(town: Town) -> None:
    synced = {c["name"]: c for c in town.fake.commands[town.guild_id]}
    assert set(synced) == {
        "rank",
        "leaderboard",
        "profile",
        "achievements",
        "season",
        "preferences",
        "award",
        "revoke",
        "grant-achievement",
        "config",
        "link",
    }
    assert set(synced["rank"]["description_localizations"]) == {"zh-TW", "ja"}
    assert str(synced["award"]["default_member_permissions"]) == str(MANAGE_GUILD)
    assert str(synced["config"]["default_member_permissions"]) == str(MANAGE_GUILD)
    assert synced["rank"]["default_member_permissions"] is None


# --- member commands ------------------------------------------------------------------------


async def test_rank_replies_with_the_card_and_the_members_level(town: Town) -> None:
    alice = town.people["alice"]
    answer = await run(town, command(town, "rank", alice))

    level = await town.scalar(
        "SELECT level FROM balances WHERE community_id = :c AND member_id = :m AND season = ''",
        c=town.community_id,
        m=await member_of(town, alice),
    )
    (card,) = answer.files
    assert card.filename == "rank.png"
    assert card.size > 1_000
    assert answer.json["embeds"][0]["title"].endswith(f"level {level or 0}")
    assert answer.json["embeds"][0]["image"]["url"] == "attachment://rank.png"


async def test_rank_explain_shows_how_the_latest_rewards_were_computed(town: Town) -> None:
    player = town.players()[0]
    answer = await run(
        town,
        command(
            town,
            "rank",
            town.people["alice"],
            [user_option("member", player), payloads.option("explain", True)],
            resolved_data=resolved(player),
        ),
    )

    explained = answer.json["embeds"][1]
    assert explained["title"] == "How the latest rewards were computed"
    kinds = [shown_field["name"] for shown_field in explained["fields"]]
    assert "manual" in kinds or "message" in kinds
    assert all("```" in shown_field["value"] for shown_field in explained["fields"])


async def test_an_unknown_member_gets_a_friendly_private_error(town: Town) -> None:
    stranger = town.people["stranger"]
    interaction = command(
        town,
        "profile",
        town.people["alice"],
        [user_option("member", stranger)],
        resolved_data=resolved(stranger),
    )
    answer = await run(town, interaction)

    assert answer.method == "POST"  # a follow-up, since the public placeholder is gone
    assert answer.json["flags"] & EPHEMERAL
    assert "No such member in this community" in answer.json["content"]
    assert "Traceback" not in answer.json["content"]
    webhook = f"/webhooks/{town.fake.application_id}/{interaction['token']}"
    await town.fake.wait_for_call("DELETE", f"{webhook}/messages/@original")


async def test_profile_achievements_and_season_answer_with_embeds(town: Town) -> None:
    alice = town.people["alice"]
    profile = await run(town, command(town, "profile", alice))
    achievements = await run(town, command(town, "achievements", alice))
    season = await run(town, command(town, "season", alice))

    assert "level" in profile.json["embeds"][0]["title"]
    assert "All time" in embed_text(profile)
    assert (
        "this server offers 2 and 1 secret ones" in achievements.json["embeds"][0]["footer"]["text"]
    )
    assert "endless season" in embed_text(season)


async def test_leaderboard_lists_members_in_order_and_pages_with_buttons(town: Town) -> None:
    alice = town.people["alice"]
    first = await run(town, command(town, "leaderboard", alice))

    players = [f"<@{p.id}>" for p in town.players()]
    description = first.json["embeds"][0]["description"]
    assert mentioned(description) == players[:PAGE_SIZE]
    assert description.splitlines()[0].startswith("`#  1`")
    previous, following = first.json["components"][0]["components"]
    assert previous["disabled"]
    assert not following["disabled"]

    click = payloads.interaction_component(
        following["custom_id"],
        application_id=town.fake.application_id,
        guild_id=town.guild_id,
        channel=town.general,
        invoker=alice.member,
        component_message=_message_of(town, first),
    )
    callback = await dispatch(town, click)
    second = await final_answer(town, click)

    assert callback.json["type"] == DEFERRED_UPDATE
    lines = second.json["embeds"][0]["description"].splitlines()
    assert mentioned("\n".join(lines[: PLAYERS - PAGE_SIZE])) == players[PAGE_SIZE:]
    assert lines[0].startswith(f"`#{PAGE_SIZE + 1:>3}`")
    assert second.json["embeds"][0]["footer"]["text"] == "Page 2"
    back, _ = second.json["components"][0]["components"]
    assert not back["disabled"]

    click_back = payloads.interaction_component(
        back["custom_id"],
        application_id=town.fake.application_id,
        guild_id=town.guild_id,
        channel=town.general,
        invoker=alice.member,
        component_message=_message_of(town, second),
    )
    await dispatch(town, click_back)
    again = await final_answer(town, click_back)
    assert again.json["embeds"][0]["description"] == description


async def test_only_the_invoker_can_turn_the_pages(town: Town) -> None:
    first = await run(town, command(town, "leaderboard", town.people["alice"]))
    _, following = first.json["components"][0]["components"]

    click = payloads.interaction_component(
        following["custom_id"],
        application_id=town.fake.application_id,
        guild_id=town.guild_id,
        channel=town.general,
        invoker=town.people["bob"].member,
        component_message=_message_of(town, first),
    )
    callback = await dispatch(town, click)

    assert callback.json["type"] == CHANNEL_MESSAGE
    assert callback.json["data"]["flags"] & EPHEMERAL
    assert "belong to whoever ran" in callback.json["data"]["content"]


async def test_an_empty_board_says_so_without_buttons(town: Town) -> None:
    answer = await run(
        town,
        command(town, "leaderboard", town.people["alice"], [payloads.option("currency", "stars")]),
    )

    assert answer.json["embeds"][0]["description"] == "Nobody is on this board yet."
    assert not answer.json.get("components")


async def test_idle_page_buttons_are_disabled_after_the_timeout(
    town: Town, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leaderboard, "PAGES_TIMEOUT", 0.2)
    interaction = command(town, "leaderboard", town.people["bob"])
    await run(town, interaction)
    webhook = f"/webhooks/{town.fake.application_id}/{interaction['token']}"
    tidied = await town.fake.wait_for_call("PATCH", f"{webhook}/messages/@original", count=2)

    buttons = tidied.json["components"][0]["components"]
    assert [button["disabled"] for button in buttons] == [True, True]


async def test_season_autocomplete_offers_the_known_boards(town: Town) -> None:
    interaction = command(
        town,
        "leaderboard",
        town.people["alice"],
        [{"name": "season", "type": 3, "value": "LIFE", "focused": True}],
    )
    interaction["type"] = 4
    callback = await dispatch(town, interaction)

    assert callback.json["type"] == AUTOCOMPLETE_RESULT
    assert callback.json["data"]["choices"] == [{"name": "lifetime", "value": "lifetime"}]


def mentioned(description: str) -> list[str]:
    return re.findall(r"<@\d+>", description)


def _message_of(town: Town, answer: RestCall) -> JSON:
    """The message an edited answer became, as a component interaction carries it."""
    return payloads.message(
        int(town.general["id"]),
        town.fake.bot_user,
        "",
        guild_id=town.guild_id,
        embeds=answer.json["embeds"],
        components=answer.json["components"],
        webhook_id=town.fake.application_id,
    )


async def test_preferences_opt_out_is_stored(town: Town) -> None:
    carol = town.people["carol"]
    interaction = command(town, "preferences", carol, [payloads.option("level_ups", False)])
    callback = await dispatch(town, interaction)
    answer = await final_answer(town, interaction)

    assert callback.json["data"]["flags"] & EPHEMERAL
    assert "level-ups are **not announced**" in answer.json["embeds"][0]["description"]
    stored = await town.scalar(
        "SELECT announce_level_ups::int * 10 + announce_achievements::int "
        "FROM member_preferences WHERE community_id = :c AND member_id = :m",
        c=town.community_id,
        m=await member_of(town, carol),
    )
    assert stored == 1  # level-ups off, achievements still on


# --- admin commands -------------------------------------------------------------------------


def award(town: Town, invoker: Person, member: Person, amount: int, **extra: Any) -> JSON:
    return command(
        town,
        "award",
        invoker,
        [
            user_option("member", member),
            payloads.option("amount", amount),
            payloads.option("currency", "xp"),
            payloads.option("reason", "event winner"),
        ],
        resolved_data=resolved(member),
        **extra,
    )


async def test_award_by_an_admin_is_recorded_audited_and_applied(town: Town) -> None:
    dave = town.people["dave"]
    before = await lifetime(town, dave)
    interaction = award(town, town.people["admin"], dave, 250, permissions=ADMIN_PERMISSIONS)
    answer = await run(town, interaction)

    assert "Awarded 250 XP" in answer.json["embeds"][0]["title"]
    grant = await town.scalar(
        "SELECT row_to_json(g)::text FROM manual_grants g WHERE community_id = :c "
        "AND idempotency_key = :k",
        c=town.community_id,
        k=f"discord-interaction:{interaction['id']}",
    )
    assert grant is not None
    assert '"xp":250' in grant
    assert '"status":"pending"' in grant
    actor = await town.scalar(
        "SELECT actor_type || '/' || actor_id FROM audit_log WHERE community_id = :c "
        "AND action = 'grant.award' AND target_id = :m",
        c=town.community_id,
        m=str(await member_of(town, dave)),
    )
    assert actor == f"user/discord:{town.people['admin'].id}"

    await GrantRelay(town.pipeline, town.sessions).run_once()
    assert await lifetime(town, dave) == before + 250


async def test_revoke_by_an_admin_takes_from_the_balance(town: Town) -> None:
    carol = town.people["carol"]
    before = await lifetime(town, carol)
    interaction = command(
        town,
        "revoke",
        town.people["admin"],
        [
            user_option("member", carol),
            payloads.option("amount", 3),
            payloads.option("currency", "xp"),
        ],
        permissions=ADMIN_PERMISSIONS,
        resolved_data=resolved(carol),
    )
    answer = await run(town, interaction)

    assert "Revoked 3 XP" in answer.json["embeds"][0]["title"]
    await GrantRelay(town.pipeline, town.sessions).run_once()
    assert await lifetime(town, carol) == before - 3


async def test_a_redelivered_award_grants_once(town: Town) -> None:
    bob = town.people["bob"]
    interaction = award(town, town.people["admin"], bob, 5, permissions=ADMIN_PERMISSIONS)
    await run(town, interaction)
    town.fake.dispatch("INTERACTION_CREATE", interaction)  # Discord delivers it again
    webhook = f"/webhooks/{town.fake.application_id}/{interaction['token']}"
    await town.fake.wait_for_call("PATCH", f"{webhook}/messages/@original", count=2)

    assert await grants_of(town, bob) == 1


async def test_award_by_a_member_without_manage_server_is_refused(town: Town) -> None:
    alice, bob = town.people["alice"], town.people["bob"]
    grants_before = await grants_of(town, alice)
    audits_before = await audits(town, "grant.")
    callback = await dispatch(town, award(town, bob, alice, 1_000))

    assert callback.json["type"] == CHANNEL_MESSAGE
    assert callback.json["data"]["flags"] & EPHEMERAL
    assert "Manage Server" in callback.json["data"]["content"]
    assert await grants_of(town, alice) == grants_before
    assert await audits(town, "grant.") == audits_before


async def test_grant_achievement_autocompletes_from_the_catalog(town: Town) -> None:
    interaction = command(
        town,
        "grant-achievement",
        town.people["admin"],
        [{"name": "achievement", "type": 3, "value": "HAND", "focused": True}],
        permissions=ADMIN_PERMISSIONS,
    )
    interaction["type"] = 4  # APPLICATION_COMMAND_AUTOCOMPLETE
    callback = await dispatch(town, interaction)

    assert callback.json["type"] == AUTOCOMPLETE_RESULT
    values = [choice["value"] for choice in callback.json["data"]["choices"]]
    assert values == ["helper", "secret-handshake"]

    stranger_asks = command(
        town,
        "grant-achievement",
        town.people["alice"],
        [{"name": "achievement", "type": 3, "value": "", "focused": True}],
    )
    stranger_asks["type"] = 4
    refused = await dispatch(town, stranger_asks)
    assert refused.json["data"]["choices"] == []


async def test_grant_achievement_by_an_admin_is_recorded(town: Town) -> None:
    alice = town.people["alice"]
    interaction = command(
        town,
        "grant-achievement",
        town.people["admin"],
        [user_option("member", alice), payloads.option("achievement", "chatterbox")],
        permissions=ADMIN_PERMISSIONS,
        resolved_data=resolved(alice),
    )
    answer = await run(town, interaction)

    assert answer.json["embeds"][0]["title"] == "Achievement granted"
    key = await town.scalar(
        "SELECT achievement_key FROM manual_grants WHERE community_id = :c "
        "AND idempotency_key = :k",
        c=town.community_id,
        k=f"discord-interaction:{interaction['id']}",
    )
    assert key == "chatterbox"


async def test_config_with_a_bad_value_shows_the_problem_and_changes_nothing(
    town: Town,
) -> None:
    version_before = await town.scalar(
        "SELECT config_version FROM communities WHERE id = :c", c=town.community_id
    )
    interaction = command(
        town,
        "config",
        town.people["admin"],
        [
            subcommand(
                "multiplier",
                payloads.option("channel", town.events["id"], 7),
                payloads.option("value", 500.0),
            )
        ],
        permissions=ADMIN_PERMISSIONS,
        resolved_data=resolved(channels=[town.events]),
    )
    answer = await run(town, interaction)

    assert answer.json["flags"] & EPHEMERAL
    content = answer.json["content"]
    assert "`rules.multipliers.channel_rules[0].multiplier`" in content
    assert "less than or equal to 100" in content
    version_after = await town.scalar(
        "SELECT config_version FROM communities WHERE id = :c", c=town.community_id
    )
    assert version_after == version_before
    assert await audits(town, "config.channel_rule") == 0


async def test_config_announcements_change_is_saved_and_audited(town: Town) -> None:
    interaction = command(
        town,
        "config",
        town.people["admin"],
        [
            subcommand(
                "announcements",
                payloads.option("mode", "channel"),
                payloads.option("channel", town.events["id"], 7),
            )
        ],
        permissions=ADMIN_PERMISSIONS,
        resolved_data=resolved(channels=[town.events]),
    )
    answer = await run(town, interaction)

    assert f"<#{town.events['id']}>" in answer.json["embeds"][0]["description"]
    async with town.sessions() as session:
        stored = await get_section(session, town.community_id, Section.ANNOUNCEMENTS)
    assert stored.value["mode"] == "channel"
    assert stored.value["channel_id"] == town.events["id"]
    assert await audits(town, "config.announcements") == 1


async def test_config_show_lists_the_settings_privately(town: Town) -> None:
    interaction = command(
        town, "config", town.people["admin"], [subcommand("show")], permissions=ADMIN_PERMISSIONS
    )
    callback = await dispatch(town, interaction)
    answer = await final_answer(town, interaction)

    assert callback.json["data"]["flags"] & EPHEMERAL
    assert answer.json["embeds"][0]["title"] == "Townsquare settings"
    assert "Announcements" in embed_text(answer)


async def test_config_refuses_a_member_without_manage_server(town: Town) -> None:
    callback = await dispatch(
        town, command(town, "config", town.people["bob"], [subcommand("show")])
    )

    assert callback.json["data"]["flags"] & EPHEMERAL
    assert "Manage Server" in callback.json["data"]["content"]

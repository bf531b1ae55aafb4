"""A LINE official account on the fake LINE, the real handler, pipeline and PostgreSQL.

`line_world` builds it once per test module (starting the pipeline and the fake is most of
the cost); tests keep apart by using their own users and groups. Events are handed to the
handler as inbox items, exactly as the inbox workers do, so what is tested is the handler
with everything real behind it but the webhook and the workers (tested on their own).
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from townsquare.adapters.line.contract import InboxItem
from townsquare.adapters.line.handler import LineEventHandler
from townsquare.adapters.line.replies import ReplySender
from townsquare.config.document import CommunityConfigDocument
from townsquare.config.settings import (
    DatabaseSettings,
    LineChannelSettings,
    LineSettings,
    PipelineSettings,
)
from townsquare.fakes.line import Delivery, FakeLine, webhooks
from townsquare.fakes.line.ids import JSON
from townsquare.pipeline.ingest import Pipeline
from townsquare.store.engine import create_db_engine, libpq_url

CHANNEL = "main"
PLAIN_RULES = CommunityConfigDocument.model_validate(
    {
        "rules": {
            "quality": {"enabled": False},
            "anti_gaming": {
                "cooldown_seconds": 0,
                "daily_caps": {"xp": None, "stars": None, "gold": None},
                "duplicate_window": 0,
            },
        }
    }
)


@dataclass
class LineWorld:
    url: str
    fake: FakeLine
    handler: LineEventHandler
    pipeline: Pipeline
    settings: LineSettings
    account: int  # the community of one-to-one chats with the account (``oa:main``)
    waits: list[float]  # what the reply sender's retries waited (recorded, not slept)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _groups: dict[str, int] = field(default_factory=dict)

    def add_group(self, members: list[str]) -> str:
        """A group chat with its own community (as the webhook side would have made)."""
        group = self.fake.add_group(members=members)
        self._groups[group] = install_community(self.url, f"g-{group[-8:]}", group)
        return group

    def community_of(self, event: JSON) -> int:
        source = event.get("source") or {}
        return self._groups.get(webhooks.chat_id(source), self.account) if source else self.account

    def item(self, event: JSON, *, attempts: int = 0) -> InboxItem:
        return InboxItem(
            community_id=self.community_of(event),
            id=next(self._ids),
            channel_key=CHANNEL,
            webhook_event_id=event["webhookEventId"],
            event_type=event["type"],
            payload=event,
            is_redelivery=False,
            attempts=attempts,
            received_at=datetime.now(UTC),
        )

    async def handle(self, event: JSON) -> InboxItem:
        item = self.item(event)
        await self.handler(item)
        return item

    async def text(self, user: str, text: str, *, group: str | None = None, **extra: Any) -> JSON:
        """The user says ``text`` (one-to-one, or in ``group``) with a working reply token."""
        source = webhooks.group_source(group, user) if group else webhooks.user_source(user)
        token = self.fake.reply_token(webhooks.chat_id(source))
        event = webhooks.text_message(source, text, reply_token=token, **extra)
        await self.handle(event)
        return event

    def answers(self, chat: str) -> list[JSON]:
        """Every message sent to ``chat`` (replies and pushes), in order."""
        sent: list[Delivery] = sorted(
            [*self.fake.replies(to=chat), *self.fake.pushes(to=chat)], key=lambda d: d.at
        )
        return [message for delivery in sent for message in delivery.messages]

    async def scalar(self, sql: str, *params: Any) -> Any:
        async with await psycopg.AsyncConnection.connect(libpq_url(self.url)) as conn:
            row = await (await conn.execute(sql, params)).fetchone()
        return None if row is None else row[0]

    async def states(self, users: list[str]) -> dict[str, str]:
        """The conversation state of each user who has a session (one query)."""
        async with await psycopg.AsyncConnection.connect(libpq_url(self.url)) as conn:
            rows = await (
                await conn.execute(
                    "SELECT user_key, state FROM conversation_sessions WHERE community_id = %s "
                    "AND platform = 'line' AND user_key = ANY(%s)",
                    (self.account, users),
                )
            ).fetchall()
        return {str(user): str(state) for user, state in rows}

    async def member_of(self, user: str, community: int | None = None) -> int | None:
        found = await self.scalar(
            "SELECT member_id FROM member_identities WHERE community_id = %s "
            "AND platform = 'line' AND external_user_id = %s",
            community or self.account,
            user,
        )
        return None if found is None else int(found)

    async def xp(self, user: str, community: int | None = None) -> int:
        await self.pipeline.flush()
        member = await self.member_of(user, community)
        if member is None:
            return 0
        value = await self.scalar(
            "SELECT xp FROM balances WHERE community_id = %s AND member_id = %s AND season = ''",
            community or self.account,
            member,
        )
        return int(value or 0)


def install_community(url: str, slug: str, external_id: str, name: str = "Town") -> int:
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute(
            "INSERT INTO communities (slug, name) VALUES (%s, %s) RETURNING id", (slug, name)
        ).fetchone()
        assert row is not None
        conn.execute(
            "INSERT INTO community_links (community_id, platform, external_id) "
            "VALUES (%s, 'line', %s)",
            (row[0], external_id),
        )
        conn.execute(
            "INSERT INTO community_settings (community_id, settings) VALUES (%s, %s)",
            (row[0], Jsonb(PLAIN_RULES.model_dump(mode="json"))),
        )
        conn.execute("UPDATE communities SET config_version = 2 WHERE id = %s", (row[0],))
    return int(row[0])


def database_copy(postgres_server: str, template: str) -> Iterator[str]:
    name = f"townsquare_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(postgres_server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(libpq_url(postgres_server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def line_world(
    url: str,
    spool: Path,
    *,
    pipeline: Pipeline | None = None,
    engine: AsyncEngine | None = None,
    account: int | None = None,
    **handler_options: Any,
) -> AsyncIterator[LineWorld]:
    """The world; ``pipeline``, ``engine`` and the account's community may be shared with
    another adapter (one pipeline per database: two would wait on each other's locks)."""
    if account is None:
        account = install_community(url, "town", f"oa:{CHANNEL}")
    async with contextlib.AsyncExitStack() as stack:
        if engine is None:
            engine = create_db_engine(url, DatabaseSettings(pool_size=10, max_overflow=10))
            stack.push_async_callback(engine.dispose)
        if pipeline is None:
            settings = PipelineSettings(spool_dir=spool, linger_ms=5, batch_size=1000)
            pipeline = await stack.enter_async_context(Pipeline(url, settings, DatabaseSettings()))
        fake = stack.enter_context(FakeLine())
        channel = LineChannelSettings(
            key=CHANNEL, secret=fake.channel.secret, access_token=fake.channel.access_token
        )
        line = LineSettings(channels=(channel,), api_url=fake.url, data_api_url=fake.url)
        waits: list[float] = []

        async def record(seconds: float) -> None:
            waits.append(seconds)

        sender = ReplySender(line, sleep=record)
        handler = LineEventHandler(line, pipeline, engine, sender=sender, **handler_options)
        await handler.start()
        try:
            yield LineWorld(url, fake, handler, pipeline, line, account, waits)
        finally:
            await handler.stop()
        assert fake.errors == []

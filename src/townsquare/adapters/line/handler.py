"""`LineEventHandler`: one stored webhook event → engagement, conversation, answer.

For each inbox event (the inbox calls it one at a time per chat, retrying when it raises):

1. **Parse** the stored payload with line-bot-sdk's models. Types this adapter does not
   handle (LINE adds new ones) are skipped with a log line; a handled type that does not
   parse is a `PermanentFailure` (retrying cannot fix it).
2. **Engagement**: messages, stickers, postbacks, follows/unfollows and members joining
   or leaving become core events for ``pipeline.ingest`` (`mapping`), queued once the
   answer's transaction has ended — also when the answer failed, so a failing reply never
   costs XP (the retried event is ingested again and the lake drops the duplicate, same
   ``webhookEventId``), and never before a ``link`` the turn made is committed (the
   pipeline would otherwise create a member for the account at the same moment). Commands
   are not activity and earn nothing (``/rank`` spam must not farm XP).
3. **Answer**: in a one-to-one chat, text, postbacks and voice messages go through the
   conversation service (per-user session, locked and persisted in this event's
   transaction); in groups and rooms only commands addressed to the bot are answered.
   Replies are collected in a `LineTurn` and delivered once at the end, inside the
   transaction, so a delivery that fails rolls the conversation back and the inbox's retry
   replays it (retry keys and the sender's memory keep it from being sent twice). When a
   turn runs longer than ``loading_after`` seconds (or at once for a voice message) the
   chat shows LINE's loading animation. Events in standby mode (another bot answers
   this chat) are counted and never answered.

Errors: `MessagingApiUnavailable` and database errors propagate (the inbox retries, then
dead-letters, with a ``line_event_dead`` line); a `SessionConflict` likewise. Nothing here
logs message text, postback data or tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import structlog
from linebot.v3 import webhooks as line
from sqlalchemy.ext.asyncio import AsyncEngine

from townsquare.adapters.line import commands, mapping
from townsquare.adapters.line.contract import InboxItem, PermanentFailure
from townsquare.adapters.line.names import DisplayNames
from townsquare.adapters.line.replies import Delivery, ReplySender
from townsquare.adapters.line.turn import LineTurn
from townsquare.config.settings import LineSettings, Settings
from townsquare.core.kinds import Platform
from townsquare.log import bound_event_context
from townsquare.pipeline.ingest import Pipeline
from townsquare.services import conversations
from townsquare.services.conversations import (
    AudioMessage,
    InvalidPostback,
    Router,
    SessionKey,
    TextMessage,
    Trigger,
    decode_postback,
)
from townsquare.services.engagement import ConfigDocuments
from townsquare.store.engine import create_session_factory

log = structlog.get_logger(__name__)

#: Event types this handler understands; everything else is skipped knowingly.
HANDLED: Final = frozenset(
    {"message", "postback", "follow", "unfollow", "join", "leave", "memberJoined", "memberLeft"}
)
WELCOME: Final = "Welcome! Members earn XP, Stars and Gold for taking part. Try these:"
JOINED: Final = "Hello! Everyone here earns XP for taking part. Type /rank or /top to see it."


@dataclass(slots=True)
class HandlerFigures:
    """Counters for /metrics and tests."""

    events: int = 0
    skipped: int = 0
    ingested: int = 0
    turns: int = 0
    commands: int = 0


class LineEventHandler:
    """The `EventHandler` the inbox workers call; owns the reply sender's HTTP clients."""

    def __init__(
        self,
        settings: LineSettings | Settings,
        pipeline: Pipeline,
        engine: AsyncEngine,
        *,
        clock: Callable[[], float] = time.time,
        router: Router[Any] | None = None,
        sender: ReplySender | None = None,
        loading_after: float = 1.0,
    ) -> None:
        # The whole settings tree is accepted too (``townsquare run`` passes that).
        self.settings = settings.line if isinstance(settings, Settings) else settings
        self.pipeline = pipeline
        self.sessions = create_session_factory(engine)
        self.clock = clock
        self.router: Router[Any] = router or commands.engagement_router()
        self.sender = sender or ReplySender(self.settings)
        self.names = DisplayNames(self.sender.api, limit=self.sender.calls.limit)
        self.documents = ConfigDocuments()
        self.loading_after = loading_after
        self.figures = HandlerFigures()
        self._started = False

    async def start(self) -> None:
        """Open the HTTP clients (done on the first event too, if nobody called it)."""
        if not self._started:
            await self.sender.start()
            self._started = True

    async def stop(self) -> None:
        """Close the HTTP clients."""
        if self._started:
            self._started = False
            await self.sender.stop()

    aclose = stop  # the LINE runner closes what it owns with ``aclose``

    async def __call__(self, item: InboxItem) -> None:
        with bound_event_context(
            community=item.community_id,
            platform=Platform.LINE.value,
            event_id=item.webhook_event_id,
        ):
            await self.start()
            self.figures.events += 1
            event_type = str(item.payload.get("type", ""))
            if event_type not in HANDLED:
                self.figures.skipped += 1
                log.info("line_event_skipped", event_type=event_type)
                return
            event = _parse(item.payload, event_type)
            chat = mapping.chat_of(getattr(event, "source", None), item.channel_key)
            if chat is None:
                self.figures.skipped += 1
                log.info("line_event_without_source", event_type=event_type)
                return
            trigger, group_command = self._understand(event, chat)
            is_command = isinstance(trigger, conversations.Command) or (
                group_command is not None and isinstance(event, line.MessageEvent)
            )
            activity = [] if is_command else mapping.core_events(event, chat)
            try:
                if isinstance(event, line.UnfollowEvent):  # blocked: forget the conversation
                    async with self.sessions.begin() as db:
                        await conversations.forget_session(db, _key(item, chat.chat_id))
                elif getattr(event, "mode", "active") != "standby":
                    await self._answer(item, event, chat, trigger, group_command)
            finally:
                # After the answer's transaction has ended (committed or not), so an account
                # it linked is visible before the pipeline meets the account's event; and
                # even when the answer failed, so a failing reply never costs the XP.
                await self._ingest(activity)

    # -- what the event asks for ---------------------------------------------------------

    def _understand(
        self, event: Any, chat: mapping.Chat
    ) -> tuple[Trigger | None, conversations.Command | None]:
        """The conversation trigger (one-to-one) or the group command the event gives;
        (None, None) when it is activity only."""
        content = getattr(event, "message", None)
        if isinstance(event, line.MessageEvent) and isinstance(content, line.TextMessageContent):
            if chat.is_one_to_one:
                command = commands.parse_command(content.text or "", addressed=False)
                return (command or TextMessage(content.text or "")), None
            mentioned, text = mapping.mentions_bot(content)
            return None, commands.parse_command(text, addressed=not mentioned)
        if isinstance(event, line.MessageEvent) and isinstance(content, line.AudioMessageContent):
            if chat.is_one_to_one:
                return AudioMessage(int(content.duration or 0), str(content.id)), None
            return None, None
        if isinstance(event, line.PostbackEvent):
            try:
                postback = decode_postback(event.postback.data or "")
            except InvalidPostback:
                log.info("line_postback_invalid")
                return None, None
            if chat.is_one_to_one:
                return postback, None
            return None, conversations.Command(postback.action)
        return None, None

    async def _ingest(self, events: list[Any]) -> None:
        if events:
            await self.pipeline.ingest_many(events)
            self.figures.ingested += len(events)

    # -- answering ----------------------------------------------------------------------------

    async def _answer(
        self,
        item: InboxItem,
        event: Any,
        chat: mapping.Chat,
        trigger: Trigger | None,
        group_command: conversations.Command | None,
    ) -> None:
        handler = None if group_command is None else commands.GROUP_COMMANDS.get(group_command.name)
        greeting = _greeting(event)
        if trigger is None and handler is None and greeting is None:
            return
        now = datetime.fromtimestamp(self.clock(), UTC)
        async with self.sessions.begin() as db:
            turn = LineTurn(
                channel_key=item.channel_key,
                community_id=item.community_id,
                chat_id=chat.chat_id,
                user_id=chat.user_id,
                db=db,
                now=now,
                documents=self.documents,
                names=self.names,
            )
            async with self._loading(turn, immediately=isinstance(trigger, AudioMessage)):
                if trigger is not None and chat.user_id is not None:
                    self.figures.turns += 1
                    key = _key(item, chat.user_id)
                    await conversations.handle(db, key, trigger, self.router, turn, now=now)
                elif handler is not None and group_command is not None:
                    self.figures.commands += 1
                    await handler(turn, group_command.args)
                elif greeting is not None:
                    await greeting(turn)
            if turn.messages:
                await self.sender.deliver(
                    Delivery(
                        channel_key=item.channel_key,
                        chat_id=chat.chat_id,
                        key=f"{item.community_id}:{item.id}",
                        messages=turn.messages,
                        reply_token=getattr(event, "reply_token", None),
                    )
                )

    @contextlib.asynccontextmanager
    async def _loading(self, turn: LineTurn, *, immediately: bool) -> AsyncIterator[None]:
        """LINE's loading animation once the turn has run ``loading_after`` seconds."""
        if not turn.is_one_to_one:
            yield
            return

        async def show() -> None:
            await asyncio.sleep(0 if immediately else self.loading_after)
            await self.sender.show_loading(turn.channel_key, turn.chat_id)

        task = asyncio.create_task(show(), name="townsquare-line-loading")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _parse(payload: dict[str, Any], event_type: str) -> Any:
    try:
        return line.Event.from_dict(payload)
    except (ValueError, TypeError, KeyError) as exc:
        log.warning("line_event_unparseable", event_type=event_type, error=type(exc).__name__)
        raise PermanentFailure(f"A LINE {event_type!r} event could not be parsed.") from None


def _key(item: InboxItem, user_id: str) -> SessionKey:
    return SessionKey(community_id=item.community_id, platform=Platform.LINE, user_key=user_id)


def _greeting(event: Any) -> Callable[[LineTurn], Any] | None:
    if isinstance(event, line.FollowEvent):

        async def welcome(turn: LineTurn) -> None:
            turn.say(WELCOME, *commands.menu_options())

        return welcome
    if isinstance(event, line.JoinEvent):

        async def hello(turn: LineTurn) -> None:
            turn.say(JOINED)

        return hello
    return None

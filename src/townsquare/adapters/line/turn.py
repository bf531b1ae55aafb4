"""`LineTurn`: one event's handling — who, where, the unit of work, the answer being built.

Why one object: command and conversation handlers need the same few things (the database
session of the event's transaction, the community, the user, the clock) and must add to
one answer, because LINE's reply token works once — so replies are collected during the
turn and sent together afterwards (`townsquare.adapters.line.replies`). It is also the
conversation service's `ReplySink`, which is how conversation handlers reach it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.adapters.line.flex import is_placeholder
from townsquare.adapters.line.messages import text_message
from townsquare.adapters.line.names import DisplayNames
from townsquare.core.kinds import Platform
from townsquare.services.conversations import Context, QuickReply, TextReply
from townsquare.services.engagement import CommunityContext, ConfigDocuments, community_context
from townsquare.store.member_names import update_display_names


@dataclass
class LineTurn:
    """The handling of one LINE event; a `ReplySink` collecting the answer."""

    channel_key: str
    community_id: int  # internal id of the chat's community
    chat_id: str  # where answers go: the user (one-to-one), the group or the room
    user_id: str | None  # who acted (LINE may leave it out in groups)
    db: AsyncSession
    now: datetime
    documents: ConfigDocuments
    names: DisplayNames
    messages: list[Any] = field(default_factory=list)
    _context: CommunityContext | None = field(default=None, repr=False)

    @property
    def is_one_to_one(self) -> bool:
        return self.chat_id.startswith("U")

    @property
    def member_ref(self) -> str | None:
        """How services name this LINE account: ``line:<user id>``."""
        return None if self.user_id is None else f"{Platform.LINE.value}:{self.user_id}"

    async def send(self, reply: TextReply) -> None:
        """`ReplySink`: a conversation handler's text reply with its quick replies."""
        self.messages.append(text_message(reply))

    def say(self, text: str, *options: QuickReply) -> None:
        self.messages.append(text_message(TextReply(text=text, quick_replies=options)))

    def add(self, *messages: Any) -> None:
        """LINE message objects (Flex cards) as they are."""
        self.messages.extend(messages)

    async def context(self) -> CommunityContext:
        """The community with its compiled configuration (read once per turn)."""
        if self._context is None:
            self._context = await community_context(
                self.db, str(self.community_id), self.documents, self.now
            )
        return self._context

    async def user_name(self, stored: str | None = None) -> str | None:
        """The user's LINE display name; saved on their member when ``stored`` (the
        member's current name) is only the placeholder the pipeline made up, so boards
        show it too. A real name (a linked member's Discord name) is left alone."""
        if self.user_id is None:
            return None
        name = await self.names.of(self.channel_key, self.chat_id, self.user_id)
        if name is not None and stored is not None and is_placeholder(stored):
            conn = await self.db.connection()
            await update_display_names(
                conn, self.community_id, Platform.LINE.value, {self.user_id: name}
            )
        return name


def turn_of(context: Context[Any]) -> LineTurn:
    """The turn a conversation handler runs in (the sink the LINE handler passed)."""
    if not isinstance(context.replies, LineTurn):
        raise TypeError("LINE command handlers need a LineTurn as their reply sink")
    return context.replies

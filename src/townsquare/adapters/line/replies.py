"""Replies that arrive: reply token first, push as the fallback, retries, a circuit breaker.

LINE gives each event a reply token that works once, for at most five messages, within a
short time; a push works any time but counts against the account's monthly quota. So
`ReplySender.deliver` splits the answer to fit (5,000 UTF-16 units per text, five messages
per request), spends the token on the first five messages and pushes the rest — and the
first five too when the token has expired or was used by an earlier attempt — when
``line.push_fallback`` allows it and the quota has room (checked from a cached reading of
``/v2/bot/message/quota{,/consumption}``, never once per message).

Every push carries ``X-Line-Retry-Key``: a UUID derived from the inbox item and the
message's position, so a handler the inbox retries, or a request retried after a
timeout, is delivered once (LINE answers a repeated key with 409, which means "sent").
Parts already delivered by this process are also remembered (a bounded LRU), so a retried
handler does not push again what its reply token delivered the first time.

Transient failures (5xx, 429 rate limiting, timeouts) are retried by tenacity, waiting what
``Retry-After`` asks (up to ``max_retry_wait``) or a jittered exponential backoff. A
circuit breaker per channel opens after ``breaker_threshold`` consecutive transient
failures and then refuses calls at once for ``breaker_cooldown`` seconds; one trial call
is let through after it (half-open). Refusals and exhausted retries raise
`MessagingApiUnavailable`, so the inbox retries the event later (and dead-letters it when
it keeps failing). Nothing here logs message text or reply tokens.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import structlog
from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    PushMessageRequest,
    ReplyMessageRequest,
    ShowLoadingAnimationRequest,
    TextMessage,
)

from townsquare.adapters.line.breaker import CircuitBreaker
from townsquare.adapters.line.contract import PermanentFailure
from townsquare.adapters.line.messages import split_messages
from townsquare.adapters.line.retrying import (
    GuardedCalls,
    error_message,
)
from townsquare.config.settings import LineChannelSettings, LineSettings
from townsquare.pipeline.lru import LruMap

log = structlog.get_logger(__name__)
MAX_MESSAGES_PER_REQUEST: Final = 5
_RETRY_KEYS: Final = uuid.UUID("6f1d2c1e-5b1a-4c53-9d0b-3f2a7c4e8a10")
_INVALID_TOKEN: Final = "Invalid reply token"  # noqa: S105 - LINE's error text


class _TokenSpent(Exception):
    """The reply token expired or was used already: push instead."""


@dataclass(slots=True)
class ReplyFigures:
    """Counters for /metrics and tests (read, never reset); retries and API failures are
    counted by `GuardedCalls` (``sender.calls``)."""

    replies: int = 0
    pushes: int = 0
    push_fallbacks: int = 0
    already_sent: int = 0
    dropped: int = 0
    rejected: int = 0
    split_texts: int = 0
    loading_shown: int = 0


@dataclass(frozen=True, slots=True)
class Delivery:
    """Messages for one chat, answering one inbox event.

    ``key`` names the answer stably across retries of the event (``community:item:n``);
    ``reply_token`` is None when the event had none (or a push was asked for).
    """

    channel_key: str
    chat_id: str
    key: str
    messages: Sequence[Any]
    reply_token: str | None = None


def retry_key(key: str, part: int) -> str:
    """The ``X-Line-Retry-Key`` of one request of an answer: the same on every retry."""
    return str(uuid.uuid5(_RETRY_KEYS, f"{key}:{part}"))


class _Channel:
    """One official account: its API client, breaker and cached quota reading."""

    def __init__(self, settings: LineChannelSettings, api_url: str, breaker: CircuitBreaker):
        configuration = Configuration(
            host=api_url, access_token=settings.access_token.get_secret_value()
        )
        self.client = AsyncApiClient(configuration)
        self.api = AsyncMessagingApi(self.client)
        self.breaker = breaker
        self.quota_limit: int | None = None
        self.quota_used = 0
        self.quota_read_at = float("-inf")


class ReplySender:
    """Sends answers for every configured channel; `start` before use, `stop` after."""

    def __init__(
        self,
        settings: LineSettings,
        *,
        max_in_flight: int = 32,
        retry_attempts: int = 4,
        max_retry_wait: float = 30.0,
        breaker_threshold: int = 5,
        breaker_cooldown: float = 30.0,
        request_timeout: float = 10.0,
        quota_ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.figures = ReplyFigures()
        self.calls = GuardedCalls(
            max_in_flight=max_in_flight,
            attempts=retry_attempts,
            max_wait=max_retry_wait,
            sleep=sleep,
        )
        self._timeout = request_timeout
        self._quota_ttl = quota_ttl
        self._clock = clock
        self._breaker = (breaker_threshold, breaker_cooldown)
        self._channels: dict[str, _Channel] = {}
        self._delivered: LruMap[tuple[str, int], bool] = LruMap(50_000)

    async def start(self) -> None:
        threshold, cooldown = self._breaker
        for channel in self.settings.channels:
            if channel.key not in self._channels:
                breaker = CircuitBreaker(threshold, cooldown, clock=self._clock, name=channel.key)
                self._channels[channel.key] = _Channel(channel, self.settings.api_url, breaker)

    async def stop(self) -> None:
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.client.close()

    def api(self, channel_key: str) -> AsyncMessagingApi:
        return self._channel(channel_key).api

    def breaker(self, channel_key: str) -> CircuitBreaker:
        return self._channel(channel_key).breaker

    @property
    def breakers(self) -> dict[str, CircuitBreaker]:
        """Each started channel's breaker, by channel key."""
        return {key: channel.breaker for key, channel in self._channels.items()}

    def _channel(self, channel_key: str) -> _Channel:
        try:
            return self._channels[channel_key]
        except KeyError:
            raise PermanentFailure(f"LINE channel {channel_key!r} is not configured.") from None

    # -- delivering ----------------------------------------------------------------------------

    async def deliver(self, delivery: Delivery) -> None:
        """Send every message of ``delivery`` (split to fit), reply first, push the rest.

        Raises `MessagingApiUnavailable` when LINE keeps failing (retry the event later).
        Messages that cannot be sent at all (no token, push disabled or quota used up) are
        dropped with a log line: retrying would not change that.
        """
        messages, splits = split_messages(delivery.messages)
        self.figures.split_texts += splits
        requests = [
            messages[i : i + MAX_MESSAGES_PER_REQUEST]
            for i in range(0, len(messages), MAX_MESSAGES_PER_REQUEST)
        ]
        channel = self._channel(delivery.channel_key)
        for part, batch in enumerate(requests):
            if self._delivered.get((delivery.key, part)):
                continue
            if part == 0 and delivery.reply_token is not None:
                try:
                    await self._reply(channel, delivery.reply_token, batch)
                    self._delivered.put((delivery.key, part), True)
                    continue
                except _TokenSpent:
                    log.info("line_reply_token_spent", chat_kind=delivery.chat_id[:1])
                self.figures.push_fallbacks += 1
            if not await self._may_push(channel, delivery, len(requests) - part):
                return
            await self._push(channel, delivery.chat_id, batch, retry_key(delivery.key, part))
            self._delivered.put((delivery.key, part), True)

    async def _may_push(self, channel: _Channel, delivery: Delivery, remaining: int) -> bool:
        reason = None
        if not self.settings.push_fallback:
            reason = "push_fallback_disabled"
        elif not await self._quota_allows(channel, remaining):
            reason = "monthly_quota"
        if reason is None:
            return True
        self.figures.dropped += remaining
        log.warning(
            "line_reply_dropped", channel=delivery.channel_key, reason=reason, requests=remaining
        )
        return False

    async def _reply(self, channel: _Channel, token: str, batch: list[Any]) -> None:
        request = ReplyMessageRequest(reply_token=token, messages=batch)
        try:
            await self.calls.call(
                channel.breaker,
                "reply",
                lambda: channel.api.reply_message_with_http_info(
                    request, _request_timeout=self._timeout
                ),
            )
        except ApiException as exc:
            if exc.status == 400 and error_message(exc) == _INVALID_TOKEN:
                raise _TokenSpent from None
            raise self._rejected("reply", exc) from None
        self.figures.replies += 1

    async def _push(self, channel: _Channel, to: str, batch: list[Any], key: str) -> None:
        request = PushMessageRequest(to=to, messages=batch)
        try:
            await self.calls.call(
                channel.breaker,
                "push",
                lambda: channel.api.push_message_with_http_info(
                    request, x_line_retry_key=key, _request_timeout=self._timeout
                ),
            )
        except ApiException as exc:
            if exc.status == 409:  # this retry key was accepted before: already delivered
                self.figures.already_sent += 1
                return
            if exc.status == 429:  # the monthly limit (rate limits were retried)
                channel.quota_limit, channel.quota_used = 0, 0
                channel.quota_read_at = self._clock()
                self.figures.dropped += 1
                log.warning("line_reply_dropped", reason="monthly_quota", requests=1)
                return
            raise self._rejected("push", exc) from None
        self.figures.pushes += 1
        channel.quota_used += 1

    def _rejected(self, operation: str, exc: ApiException) -> PermanentFailure:
        """LINE refused the request itself (a malformed message, a revoked token):
        retrying the event cannot help."""
        self.figures.rejected += 1
        log.error(
            "line_request_rejected",
            operation=operation,
            status=exc.status,
            line_message=error_message(exc)[:200],
        )
        return PermanentFailure(f"LINE refused the {operation} request (HTTP {exc.status}).")

    async def _quota_allows(self, channel: _Channel, requests: int) -> bool:
        """Whether ``requests`` more pushes fit this month's quota (a cached reading)."""
        if self._clock() - channel.quota_read_at >= self._quota_ttl:
            try:
                async with self.calls.limit:
                    quota = await channel.api.get_message_quota(_request_timeout=self._timeout)
                    used = await channel.api.get_message_quota_consumption(
                        _request_timeout=self._timeout
                    )
            except (ApiException, aiohttp.ClientError, TimeoutError) as exc:
                # Unknown: let LINE decide (a push over the limit is a 429, not a charge).
                log.info("line_quota_unknown", error=type(exc).__name__)
                return True
            channel.quota_limit = quota.value if quota.type == "limited" else None
            channel.quota_used = int(used.total_usage)
            channel.quota_read_at = self._clock()
        limit = channel.quota_limit
        return limit is None or channel.quota_used + requests <= limit

    # -- extras --------------------------------------------------------------------------------

    async def show_loading(self, channel_key: str, chat_id: str, seconds: int = 20) -> bool:
        """The typing animation in a one-to-one chat while slow work runs (cosmetic: never
        retried, never raises; LINE refuses it in groups)."""
        channel = self._channel(channel_key)
        if not chat_id.startswith("U") or channel.breaker.is_open:
            return False
        seconds = min(max(5, seconds - seconds % 5), 60)
        request = ShowLoadingAnimationRequest(chat_id=chat_id, loading_seconds=seconds)
        try:
            async with self.calls.limit:
                await channel.api.show_loading_animation_with_http_info(
                    request, _request_timeout=self._timeout
                )
        except (ApiException, aiohttp.ClientError, TimeoutError) as exc:
            log.info("line_loading_not_shown", error=type(exc).__name__)
            return False
        self.figures.loading_shown += 1
        return True


def text(value: str) -> TextMessage:
    """A plain text message (split later if too long)."""
    return TextMessage(text=value)

"""Rate limits are shared through Redis when configured: every API process counts together."""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio

from townsquare.api.deps import RateLimited, RateLimiter

REDIS = "redis://127.0.0.1:6379"


async def _redis_up() -> bool:
    client = redis.asyncio.Redis.from_url(REDIS)
    try:
        return bool(await client.ping())  # type: ignore[misc]
    except OSError:
        return False
    finally:
        await client.aclose()


async def test_two_limiters_on_one_redis_share_the_window() -> None:
    if not await _redis_up():
        pytest.skip("no Redis at 127.0.0.1:6379")
    first, second = RateLimiter(REDIS), RateLimiter(REDIS)
    who = f"ip:test-{uuid.uuid4().hex}"  # a key of this run only
    try:
        await first.hit("3/minute", "read", who)
        await second.hit("3/minute", "read", who)
        await first.hit("3/minute", "read", who)
        with pytest.raises(RateLimited) as refused:
            await second.hit("3/minute", "read", who)
    finally:
        await first.close()
        await second.close()
    assert 1 <= refused.value.retry_after <= 61


async def test_in_memory_limits_are_per_limiter() -> None:
    first, second = RateLimiter("memory://"), RateLimiter("memory://")
    for _ in range(2):
        await first.hit("2/minute", "read", "ip:a")
    with pytest.raises(RateLimited):
        await first.hit("2/minute", "read", "ip:a")
    await second.hit("2/minute", "read", "ip:a")  # its own counters

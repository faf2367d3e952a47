"""Audio cache for synthesised phrases, keyed by ``TTSProvider.cache_key``: Redis, in-process LRU, or both.

Scripted phrases (greetings, fallbacks, objection answers) are warmed ahead of time so the bot
starts speaking them at once. The cache is only ever a copy: a miss or a Redis failure falls back
to synthesis, never to silence. Live conversations read through ``TieredAudioCache``: the process's
own LRU first, Redis (shared by every process) on a miss, so a phrase said on every call costs a
Redis round trip once per process rather than once per sentence.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import redis.asyncio as redis_asyncio

from voice.batching import Batcher

if TYPE_CHECKING:
    from voice.tts.base import TTSProvider

log = logging.getLogger(__name__)


@runtime_checkable
class AudioCache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, audio: bytes, *, ttl_s: int | None = None) -> None: ...

    async def delete(self, key: str) -> None: ...


class MemoryAudioCache:
    """Least-recently-used cache bounded by entry count and total bytes; one process only.

    ``max_age_s`` bounds how long an entry is trusted (``ttl_s`` on ``set`` can only shorten it): as the
    near tier of ``TieredAudioCache`` it keeps a phrase re-warmed or deleted in Redis from being served
    stale by this process for longer than that.
    """

    def __init__(self, *, max_items: int = 512, max_bytes: int = 64 * 1024 * 1024, max_age_s: float | None = None,
                 clock=time.monotonic):
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.clock = clock
        self._items: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is not None and item[1] < self.clock():
            await self.delete(key)
            item = None
        if item is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return item[0]

    async def set(self, key: str, audio: bytes, *, ttl_s: int | None = None) -> None:
        if len(audio) > self.max_bytes:
            return
        await self.delete(key)
        ages = [age for age in (self.max_age_s, ttl_s) if age is not None]
        self._items[key] = (audio, self.clock() + min(ages) if ages else float("inf"))
        self._bytes += len(audio)
        while len(self._items) > self.max_items or self._bytes > self.max_bytes:
            _, (old, _) = self._items.popitem(last=False)
            self._bytes -= len(old)

    async def delete(self, key: str) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= len(old[0])

    def __len__(self) -> int:
        return len(self._items)


class TieredAudioCache:
    """A near cache (this process's ``MemoryAudioCache``) in front of a far one (Redis, shared).

    Reads try near, then far, and keep a far hit near. The near tier never waits on the network, so a
    scripted phrase starts at once even while Redis is slow or away. Deletes go to both (other processes
    drop their near copy when it ages out).

    A sentence is written far on its second use in the process, not its first. Most sentences a call
    synthesises are its own: a greeting with the callee's name, an answer with their city in it. Written
    to Redis, each held memory there for the cache's TTL (30 days: at 10,000 calls a day, gigabytes of
    greetings nobody says again) and cost a large write on the event loop at the call's start, where a
    campaign's calls all start together. So a first synthesis is kept near only; the next read of it there
    (the phrase came back: the script's own words) or its next synthesis (it had left the near tier)
    writes it far. Phrases warmed ahead of time (``warm_audio_cache``) are in Redis from the start.
    """

    def __init__(self, near: AudioCache, far: AudioCache, *, max_near_only: int = 4096):
        self.near = near
        self.far = far
        self.max_near_only = max_near_only
        self._near_only: OrderedDict[str, int | None] = OrderedDict()  # key -> its TTL: written near, not far
        self._promotions: set[asyncio.Task] = set()

    async def get(self, key: str) -> bytes | None:
        audio = await self.near.get(key)
        if audio is None:
            audio = await self.far.get(key)
            if audio:
                await self.near.set(key, audio)
        elif key in self._near_only:
            # its second use: worth sharing now, in the background (the hit itself never waits on Redis)
            task = asyncio.ensure_future(self.far.set(key, audio, ttl_s=self._near_only.pop(key)))
            self._promotions.add(task)
            task.add_done_callback(self._promoted)
        return audio

    def _promoted(self, task: asyncio.Task) -> None:
        self._promotions.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("audio cache: a phrase was not shared: %s", task.exception())

    async def set(self, key: str, audio: bytes, *, ttl_s: int | None = None) -> None:
        await self.near.set(key, audio, ttl_s=ttl_s)
        if key in self._near_only:  # synthesised again: it had left the near tier, and it is used again
            del self._near_only[key]
            await self.far.set(key, audio, ttl_s=ttl_s)
            return
        self._near_only[key] = ttl_s
        if len(self._near_only) > self.max_near_only:
            self._near_only.popitem(last=False)  # long unused: forgotten, as the near tier will forget it

    async def delete(self, key: str) -> None:
        self._near_only.pop(key, None)
        await self.near.delete(key)
        await self.far.delete(key)

    async def settled(self) -> None:
        """Wait for the far writes under way (tests)."""
        while self._promotions:
            await asyncio.gather(*list(self._promotions), return_exceptions=True)


class RedisAudioCache:
    """Shared across daphne processes. Keys are hashed: phrases can be long and contain anything."""

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        ttl_s: int | None = 30 * 24 * 3600,
        prefix: str = "voice:tts:",
        client=None,
        timeout_s: float = 0.25,
    ):
        if client is None:
            client = redis_asyncio.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self.client = client
        self.ttl_s = ttl_s
        self.prefix = prefix
        self.timeout_s = timeout_s
        # one MGET fails for all its keys alike (Redis is away): no retrying them one by one
        self._reads = Batcher(self._mget, name="audio cache reads", split_on_failure=False)

    def redis_key(self, key: str) -> str:
        return self.prefix + hashlib.sha256(key.encode()).hexdigest()

    async def get(self, key: str) -> bytes | None:
        # Reads asked for while one is in flight go together as one MGET (a campaign's calls start together:
        # a command each queued behind the others for a connection, past the timeout). The read is shielded
        # (``Batcher.add``): on a timeout the turn goes on without it, but the command itself runs to its end,
        # so its connection goes back to the pool instead of being torn down mid-reply (a reconnect costs far
        # more than the read, and under load that turns slow reads into a spiral).
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._reads.add(self.redis_key(key))
        except Exception as exc:  # a cache outage must cost a synthesis, not the turn
            log.warning("audio cache get failed: %s", type(exc).__name__ if not str(exc) else exc)
            return None

    async def _mget(self, keys: list[str]) -> list[bytes | None]:
        return await self.client.mget(keys)

    async def set(self, key: str, audio: bytes, *, ttl_s: int | None = None) -> None:
        ttl = ttl_s if ttl_s is not None else self.ttl_s
        try:
            async with asyncio.timeout(self.timeout_s * 4):
                await self.client.set(self.redis_key(key), audio, ex=ttl)
        except Exception as exc:
            log.warning("audio cache set failed: %s", exc)

    async def delete(self, key: str) -> None:
        try:
            await self.client.delete(self.redis_key(key))
        except Exception as exc:
            log.warning("audio cache delete failed: %s", exc)

    async def aclose(self) -> None:
        await self.client.aclose()


@dataclass
class WarmResult:
    total: int = 0
    synthesized: int = 0
    already_cached: int = 0
    failed: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"total": self.total, "synthesized": self.synthesized,
                "already_cached": self.already_cached, "failed": self.failed}


async def synthesize_all(tts: TTSProvider, text: str, *, voice: str, language: str, sample_rate: int) -> bytes:
    chunks = [c async for c in tts.synthesize(text, voice=voice, language=language, sample_rate=sample_rate)]
    return b"".join(chunks)


async def warm_cache(
    phrases: Iterable[str],
    tts: TTSProvider,
    cache: AudioCache,
    *,
    voice: str,
    language: str,
    sample_rate: int = 16000,
    force: bool = False,
) -> WarmResult:
    """Synthesise and store each distinct phrase not cached yet; a failing phrase is counted, not fatal."""
    result = WarmResult()
    seen: set[str] = set()
    for phrase in phrases:
        text = phrase.strip()
        if not text or text in seen:
            continue
        seen.add(text)
        result.total += 1
        key = tts.cache_key(text, voice=voice, language=language, sample_rate=sample_rate)
        if not force and await cache.get(key) is not None:
            result.already_cached += 1
            continue
        try:
            audio = await synthesize_all(tts, text, voice=voice, language=language, sample_rate=sample_rate)
        except Exception as exc:
            log.warning("could not warm %r: %s", text, exc)
            result.failed += 1
            continue
        if not audio:
            result.failed += 1
            continue
        await cache.set(key, audio)
        result.synthesized += 1
    return result

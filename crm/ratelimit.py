"""A token bucket in Redis, shared by every worker that talks to one vendor account (Bitrix24: 2 req/s, burst 50).

One Lua script refills and takes a token atomically, so any number of processes on any number of machines
stay inside the vendor's limit together. When the vendor still answers "too many" (other apps share the
portal's bucket), ``drain`` empties ours so every worker pauses, not just the one that was refused.
"""

from __future__ import annotations

import time
from functools import lru_cache

import redis
from django.conf import settings

# KEYS[1] bucket; ARGV: rate per s, capacity, now (s, float), tokens wanted. Returns seconds to wait (0 = taken).
_TAKE = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil then tokens = capacity; at = now end
if now > at then tokens = math.min(capacity, tokens + (now - at) * rate); at = now end
local wait = 0
if tokens >= want then tokens = tokens - want else wait = (want - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
return tostring(wait)
"""


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


class RateLimited(Exception):
    """No token within the wait allowed: nothing was sent, try later."""


class TokenBucket:
    def __init__(self, name: str, *, rate_per_s: float, burst: int, redis_url: str | None = None):
        self.key = f"vs:ratelimit:{name}"
        self.rate, self.burst = float(rate_per_s), int(burst)
        self.redis = _client(redis_url or settings.REDIS_URL)
        self.script = self.redis.register_script(_TAKE)

    def try_take(self) -> float:
        """Take a token now if there is one (returns 0.0); else the seconds until one is due (nothing taken)."""
        # Redis' own clock: workers on different machines agree on it.
        seconds, micros = self.redis.time()
        return float(self.script(keys=[self.key], args=[self.rate, self.burst, f"{seconds}.{micros:06d}", 1]))

    def take(self, *, max_wait_s: float = 30.0, sleep=time.sleep) -> float:
        """Block until a token is ours; returns the seconds waited. Raises ``RateLimited`` past ``max_wait_s``."""
        waited = 0.0
        while True:
            wait = self.try_take()
            if wait <= 0:
                return waited
            if waited + wait > max_wait_s:
                raise RateLimited(f"no token for {self.key} within {max_wait_s:.0f} s")
            sleep(wait)
            waited += wait

    def drain(self) -> None:
        """The vendor refused us anyway: empty the bucket, so everyone waits for it to refill."""
        seconds, micros = self.redis.time()
        self.redis.hset(self.key, mapping={"tokens": "0", "at": f"{seconds}.{micros:06d}"})

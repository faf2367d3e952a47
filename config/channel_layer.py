"""The channel layer: channels_redis's ``RedisChannelLayer`` whose per-loop pools wait for a free connection, and
which sends one message to several groups in fewer round trips.

channels_redis builds a plain redis-py pool, which opens a new connection for every command that finds none
free. A hundred calls starting at once on a media process each add themselves to their call's group and
announce themselves: a hundred and more new connections (a socket, a handshake, the client's set-up) on the
event loop, for commands that take a fraction of a millisecond. A ``BlockingConnectionPool`` of at most
``max_connections`` makes a command wait for one instead (up to ``pool_timeout`` seconds). The layer's
blocking reads hold one connection per process (channels_redis multiplexes every process-local channel over
one read), so a small pool is enough.

A call's status goes to three groups (the call's, its campaign's, the board's). ``group_send`` costs two round
trips per group before it knows whom to tell, and each redis-py command is about 0.1-0.2 ms of the loop's CPU:
at the start of a burst of calls that was a large share of the media process's work. ``group_send_many`` reads
every group's members in one pipelined round trip, then delivers as ``group_send`` does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from channels_redis.core import RedisChannelLayer
from redis import asyncio as redis_asyncio

log = logging.getLogger(__name__)

# Delivery to channel keys in one call, as channels_redis's receive reads them (a sorted set per key, scored by
# time): KEYS are the keys; ARGV holds a message per key, then a capacity per key, then the time and the expiry.
# A key at capacity is skipped and counted.
_DELIVER = """
local n = #KEYS
local full = 0
for i = 1, n do
  if redis.call('ZCARD', KEYS[i]) < tonumber(ARGV[n + i]) then
    redis.call('ZADD', KEYS[i], ARGV[2 * n + 1], ARGV[i])
    redis.call('EXPIRE', KEYS[i], ARGV[2 * n + 2])
  else
    full = full + 1
  end
end
return full
"""


class PooledRedisChannelLayer(RedisChannelLayer):
    def create_pool(self, index: int) -> redis_asyncio.BlockingConnectionPool:
        host = dict(self.hosts[index])
        if "address" not in host:  # a Sentinel or a connection described by its parts: channels_redis's own pool
            return super().create_pool(index)
        address = host.pop("address")
        timeout = host.pop("pool_timeout", 20)
        return redis_asyncio.BlockingConnectionPool.from_url(address, timeout=timeout, **host)

    async def group_send_many(self, groups: Iterable[str], message: dict[str, Any]) -> None:
        """``group_send`` to each of ``groups``: a channel in two of them gets the message twice, as it would then.

        With one Redis (no sharding), groups without members cost one round trip in all, and groups with members
        three (``group_send``: two per group, four with members).
        """
        groups = list(groups)
        if len(self.hosts) != 1 or len(groups) < 2:
            for group in groups:
                await self.group_send(group, message)
            return
        for group in groups:
            assert self.require_valid_group_name(group), "Group name not valid"
        connection = self.connection(0)
        pipe = connection.pipeline(transaction=False)
        for group in groups:
            key = self._group_key(group)
            pipe.zremrangebyscore(key, min=0, max=int(time.time()) - self.group_expiry)  # members past expiry
            pipe.zrange(key, 0, -1)
        replies = await pipe.execute()
        channel_names = [member.decode("utf8") for members in replies[1::2] for member in members]
        if not channel_names:
            return
        by_connection, messages, capacities = self._map_channel_keys_to_connection(channel_names, message)
        for index, keys in by_connection.items():
            connection = self.connection(index)
            pipe = connection.pipeline(transaction=False)
            for key in keys:  # messages past their expiry leave first
                pipe.zremrangebyscore(key, min=0, max=int(time.time()) - int(self.expiry))
            await pipe.execute()
            args = [messages[key] for key in keys] + [capacities[key] for key in keys] + [time.time(), self.expiry]
            full = await connection.eval(_DELIVER, len(keys), *keys, *args)
            if full:
                log.info("%s of %s channels over capacity in groups %s", full, len(channel_names), groups)

"""The channel layer: channels_redis's ``RedisChannelLayer`` whose per-loop pools wait for a free connection.

channels_redis builds a plain redis-py pool, which opens a new connection for every command that finds none
free. A hundred calls starting at once on a media process each add themselves to their call's group and
announce themselves: a hundred and more new connections (a socket, a handshake, the client's set-up) on the
event loop, for commands that take a fraction of a millisecond. A ``BlockingConnectionPool`` of at most
``max_connections`` makes a command wait for one instead (up to ``pool_timeout`` seconds). The layer's
blocking reads hold one connection per process (channels_redis multiplexes every process-local channel over
one read), so a small pool is enough.
"""

from __future__ import annotations

from channels_redis.core import RedisChannelLayer
from redis import asyncio as redis_asyncio


class PooledRedisChannelLayer(RedisChannelLayer):
    def create_pool(self, index: int) -> redis_asyncio.BlockingConnectionPool:
        host = dict(self.hosts[index])
        if "address" not in host:  # a Sentinel or a connection described by its parts: channels_redis's own pool
            return super().create_pool(index)
        address = host.pop("address")
        timeout = host.pop("pool_timeout", 20)
        return redis_asyncio.BlockingConnectionPool.from_url(address, timeout=timeout, **host)

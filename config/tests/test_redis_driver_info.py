"""Our Redis clients name themselves to the server without reading package metadata for every new connection.

redis-py looks its own version up in the installed packages' metadata for each connection it creates unless it
is given a ``DriverInfo``; a hundred calls starting together on a media process paid that on its event loop.
"""

from __future__ import annotations

import asyncio

import redis.asyncio
import redis.utils
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import caches

from config.voice import redis_for_loop


def _loop_pool():
    """The pool of ``redis_for_loop``'s client (one per event loop: built inside one)."""

    async def pool():
        return redis_for_loop().connection_pool

    return asyncio.run(pool())


def test_new_connections_of_every_client_reuse_the_settings_driver_info(monkeypatch):
    looked_up: list[str] = []
    version = redis.utils.get_lib_version

    def counting():
        looked_up.append("redis")
        return version()

    monkeypatch.setattr(redis.utils, "get_lib_version", counting)
    layer_pool = get_channel_layer().create_pool(0)
    cache_pool = caches["default"]._cache._get_connection_pool(write=True)
    pools = [layer_pool, cache_pool]
    pools.append(_loop_pool())
    connections = [pool.make_connection() for pool in pools for _ in range(20)]
    assert looked_up == []
    for connection in connections:
        assert connection.driver_info is settings.REDIS_DRIVER_INFO
    assert settings.REDIS_DRIVER_INFO.formatted_name.startswith("redis-py")  # CLIENT SETINFO still names us


def test_the_live_pools_wait_for_a_connection_instead_of_opening_more():
    layer_pool = get_channel_layer().create_pool(0)
    for pool, most in ((layer_pool, settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]["max_connections"]),
                       (_loop_pool(), settings.LOOP_REDIS_MAX_CONNECTIONS)):
        assert isinstance(pool, redis.asyncio.BlockingConnectionPool)
        assert pool.max_connections == most <= 64

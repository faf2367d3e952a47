"""The channel layer copes with a busy server: many live pages and calls publishing at once."""

import asyncio

import pytest
from channels.layers import channel_layers


@pytest.mark.django_db(transaction=True)
async def test_many_concurrent_publishes_do_not_exhaust_the_redis_pool():
    # its own layer: the shared one keeps connection pools bound to other tests' event loops
    layer = channel_layers.make_backend("default")
    receivers = [await layer.new_channel() for _ in range(20)]
    for index, channel in enumerate(receivers):
        await layer.group_add(f"load-{index % 5}", channel)
    # what 100 calls and their operators do in one moment; redis-py's default pool (100) would refuse
    await asyncio.gather(*(layer.group_send(f"load-{i % 5}", {"type": "call.event", "n": i}) for i in range(300)))
    message = await asyncio.wait_for(layer.receive(receivers[0]), timeout=5)
    assert message["type"] == "call.event"
    await layer.flush()
    await layer.close_pools()

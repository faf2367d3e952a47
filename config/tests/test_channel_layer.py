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


class _CountingPool:
    """Counts the round trips a layer makes (each command or pipeline that reaches Redis)."""

    def __init__(self, layer, monkeypatch):
        self.trips = 0
        connection = layer.connection(0)
        execute_command, pipeline = connection.execute_command, connection.pipeline

        async def counted_command(*args, **kwargs):
            self.trips += 1
            return await execute_command(*args, **kwargs)

        def counted_pipeline(*args, **kwargs):
            pipe = pipeline(*args, **kwargs)
            execute = pipe.execute

            async def counted_execute(*a, **k):
                self.trips += 1
                return await execute(*a, **k)

            pipe.execute = counted_execute
            return pipe

        monkeypatch.setattr(connection, "execute_command", counted_command)
        monkeypatch.setattr(connection, "pipeline", counted_pipeline)
        monkeypatch.setattr(layer, "connection", lambda index: connection)


@pytest.mark.django_db(transaction=True)
async def test_group_send_many_delivers_as_group_send_does_in_fewer_round_trips(monkeypatch):
    """A call's status goes to three groups: every member of each gets it (a channel in two groups twice, as two
    group_sends would do), and groups without members cost one round trip in all."""
    layer = channel_layers.make_backend("default")
    alone, both, other = [await layer.new_channel() for _ in range(3)]
    await layer.group_add("many-call", alone)
    await layer.group_add("many-call", both)
    await layer.group_add("many-board", both)
    await layer.group_add("many-board", other)
    counter = _CountingPool(layer, monkeypatch)

    await layer.group_send_many(["many-nobody-1", "many-nobody-2", "many-nobody-3"], {"type": "call.event", "n": 0})
    assert counter.trips == 1  # group_send: two per group

    counter.trips = 0
    await layer.group_send_many(["many-call", "many-campaign", "many-board"], {"type": "call.event", "n": 1})
    assert counter.trips == 3  # members, the expired messages' trim, the delivery
    got = {name: [] for name in ("alone", "both", "other")}
    for name, channel, count in (("alone", alone, 1), ("both", both, 2), ("other", other, 1)):
        for _ in range(count):
            got[name].append((await asyncio.wait_for(layer.receive(channel), timeout=5))["n"])
    assert got == {"alone": [1], "both": [1, 1], "other": [1]}
    with pytest.raises(asyncio.TimeoutError):  # nothing more: each membership got the message once
        await asyncio.wait_for(layer.receive(both), timeout=0.3)

    layer.capacity = 1  # a channel that holds as many messages as it may is skipped, as group_send skips it
    await layer.group_send_many(["many-call", "many-campaign"], {"type": "call.event", "n": 2})
    await layer.group_send_many(["many-call", "many-campaign"], {"type": "call.event", "n": 3})
    assert (await asyncio.wait_for(layer.receive(alone), timeout=5))["n"] == 2
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(alone), timeout=0.3)
    await layer.flush()
    await layer.close_pools()

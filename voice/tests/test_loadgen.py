"""``media_load``'s WebSocket client (``voice.bench.loadgen.Connection``) against ``websockets``' own server.

The client is ``websockets``' Sans-I/O protocol with a thin asyncio transport around it; these tests check that
thin part: messages arrive whole and in order, sends reach the server, and every way a socket can end is told
apart (a clean close, a server error, a dropped connection, a refused handshake).
"""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from voice.bench.loadgen import Connection, StreamTarget, TwilioStream, make_pattern


class Inbox:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.changed = asyncio.Event()

    def __call__(self, at: float, text: str) -> None:
        self.texts.append(text)
        self.changed.set()

    async def wait_for(self, count: int) -> list[str]:
        while len(self.texts) < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 10)
        return self.texts


async def _serving(handler, **kwargs):
    server = await serve(handler, "127.0.0.1", 0, **kwargs)
    port = server.sockets[0].getsockname()[1]
    return server, f"ws://127.0.0.1:{port}/media"


async def test_messages_both_ways_in_order_and_a_clean_close():
    received: list[str] = []

    async def echo(ws):
        async for text in ws:
            received.append(text)
            await ws.send(f"echo:{text}")

    server, url = await _serving(echo)
    async with server:
        inbox = Inbox()
        conn = await Connection.connect(url, on_message=inbox, open_timeout=10)
        for i in range(3):
            conn.send(f'{{"n":{i}}}')
        assert await inbox.wait_for(3) == ['echo:{"n":0}', 'echo:{"n":1}', 'echo:{"n":2}']
        await asyncio.wait_for(conn.close(), 10)
    assert received == ['{"n":0}', '{"n":1}', '{"n":2}']
    assert conn.close_code == 1000
    with pytest.raises(Exception):  # noqa: B017 - the protocol refuses to send on a closed socket
        conn.send("late")


async def test_a_fragmented_message_arrives_as_one():
    async def fragments(ws):
        await ws.send(["Здрав", "ствуйте", "!"])
        await ws.wait_closed()

    server, url = await _serving(fragments)
    async with server:
        inbox = Inbox()
        conn = await Connection.connect(url, on_message=inbox, open_timeout=10)
        assert await inbox.wait_for(1) == ["Здравствуйте!"]
        await asyncio.wait_for(conn.close(), 10)


async def test_a_server_error_close_is_told_with_its_code_and_reason():
    async def fail(ws):
        await ws.recv()
        await ws.close(1011, "boom")

    server, url = await _serving(fail)
    async with server:
        conn = await Connection.connect(url, on_message=Inbox(), open_timeout=10)
        conn.send("hello")
        await asyncio.wait_for(conn.closed, 10)
    assert (conn.close_code, conn.close_reason) == (1011, "boom")


async def test_a_dropped_connection_is_an_abnormal_close():
    async def drop(ws):
        await ws.recv()
        ws.transport.abort()  # no close frame: the process died, the network went away

    server, url = await _serving(drop)
    async with server:
        conn = await Connection.connect(url, on_message=Inbox(), open_timeout=10)
        conn.send("hello")
        await asyncio.wait_for(conn.closed, 10)
    assert conn.close_code == 1006


async def test_a_refused_handshake_raises_with_the_status():
    def refuse(connection, request):
        return Response(403, "Forbidden", Headers(), b"no token\n")

    server, url = await _serving(lambda ws: ws.wait_closed(), process_request=refuse)
    async with server:
        with pytest.raises(InvalidStatus) as refused:
            await Connection.connect(url, on_message=Inbox(), open_timeout=10)
    assert refused.value.response.status_code == 403


async def test_a_handshake_that_never_answers_times_out_and_leaves_no_socket_open():
    gone = asyncio.Event()

    async def silent(reader, writer):  # a TCP server that never answers the upgrade
        await reader.read()  # returns once the client's side of the socket is closed
        gone.set()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(TimeoutError):
            await Connection.connect(f"ws://127.0.0.1:{port}/media", on_message=Inbox(), open_timeout=0.2)
        await asyncio.wait_for(gone.wait(), 10)


async def test_a_caller_that_stops_waiting_for_the_servers_close_records_no_error_and_still_closes():
    """``run_load`` cancels the receivers of servers slow to close after ``stop``, then closes those sockets
    itself: that is not a failed stream, and the close must not meet a cancelled future."""
    async def slow_to_close(ws):
        await ws.wait_closed()  # answers the close handshake, never closes first

    server, url = await _serving(slow_to_close)
    async with server:
        stream = TwilioStream(0, StreamTarget(url), make_pattern(), 0, lead_ms=80)
        await stream.open(open_timeout=10)
        receiver = asyncio.create_task(stream.receive())
        await asyncio.sleep(0)
        receiver.cancel()
        with pytest.raises(asyncio.CancelledError):
            await receiver
        assert stream.error == "" and not stream.alive
        await asyncio.wait_for(stream.ws.close(), 10)
    assert stream.ws.close_code == 1000

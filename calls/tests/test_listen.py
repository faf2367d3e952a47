"""Listen-in and takeover through the real routes: the carrier's media socket and an operator's listen socket.

The carrier side speaks Twilio's protocol (μ-law 8 kHz) in about real time; the bot is the flow engine with a
fake TTS (a 220 Hz tone); the caller and the operator are 1 kHz tones, so every frame says whose it is.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging

import numpy as np
import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers, get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

import calls.consumers
import calls.listen
from calls.listen import CHUNK_MS, LISTEN_RATE, MAX_OPERATOR_CHUNK, LiveMix
from calls.models import CallEvent
from calls.routing import websocket_urlpatterns
from calls.tests.test_media_edge import live_call, media_frame, started  # noqa: F401
from voice import audio

pytestmark = pytest.mark.django_db(transaction=True)
app = URLRouter(websocket_urlpatterns)
BROWSER = [(b"origin", b"http://localhost"), (b"host", b"localhost")]


def tone(hz: float, ms: int, rate: int, amplitude: float = 0.3) -> bytes:
    t = np.arange(rate * ms // 1000) / rate
    return (np.sin(2 * np.pi * hz * t) * amplitude * 32767).astype(np.int16).tobytes()


CALLER_TONE = base64.b64encode(audio.pcm16_to_ulaw(tone(1000, 20, 8000))).decode()


def has(pcm: bytes, hz: float, rate: int) -> bool:
    """``hz`` stands out of the chunk's spectrum."""
    x = np.frombuffer(pcm, dtype=np.int16).astype(float)
    spectrum = np.abs(np.fft.rfft(x))
    k = round(hz * len(x) / rate)
    return spectrum[max(0, k - 2) : k + 3].max() > 20 * (np.median(spectrum) + 1)


def whose(pcm: bytes) -> str:
    """One 20 ms carrier frame: the bot's 220 Hz, a person's 1 kHz, or quiet."""
    x = np.frombuffer(pcm, dtype=np.int16).astype(float)
    if np.sqrt(np.mean(x**2)) < 300:
        return "quiet"
    crossings = int(np.sum(np.signbit(x[1:]) != np.signbit(x[:-1])))
    return "operator" if crossings > 25 else "bot"


@pytest.fixture(autouse=True)
async def own_channel_layer():
    """Each test gets a channel layer of its own, and leaves no read of it running.

    channels_redis keeps per-process receive locks bound to the event loop that made them; a read cancelled
    with a test's loop could leave one behind for the next test's loop (or a live server's) to trip on.
    """
    channel_layers.backends.pop("default", None)
    yield
    layer = get_channel_layer()
    for _ in range(100):
        if not getattr(layer, "receive_count", 0) and not getattr(layer, "receive_cleaners", None):
            break
        await asyncio.sleep(0.05)
    channel_layers.backends.pop("default", None)


@pytest.fixture
def fake_voice(settings):
    settings.VOICE = {**settings.VOICE, "STT": {"PROVIDER": "fake", "OPTIONS": {"default": "да"}},
                      "TTS": {"PROVIDER": "fake", "OPTIONS": {"ms_per_char": 60}}}


class Carrier:
    """The callee's side of the media socket: one inbound frame per tick, everything the bot sends kept."""

    def __init__(self, comm: WebsocketCommunicator):
        self.comm = comm
        self.n = 0
        self.events: list[dict] = []

    async def tick(self, payload: str | None = None) -> None:
        await self.comm.send_to(text_data=media_frame(self.n, *([payload] if payload else [])))
        self.n += 1
        while not await self.comm.receive_nothing(timeout=0.02):
            message = await self.comm.receive_output(timeout=5)
            assert message["type"] != "websocket.close", message
            self.events.append(json.loads(message["text"]))

    def frames(self, since: int = 0) -> list[str]:
        return [whose(audio.ulaw_to_pcm16(base64.b64decode(e["media"]["payload"])))
                for e in self.events[since:] if e["event"] == "media"]

    async def hang_up(self) -> None:
        await self.comm.send_to(text_data=json.dumps({"event": "stop", "streamSid": "MZ1", "stop": {}}))
        while (await self.comm.receive_output(timeout=20))["type"] != "websocket.close":
            pass
        await self.comm.disconnect()


async def listener_for(call, user) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(app, f"/ws/calls/{call.pk}/listen/", headers=BROWSER)
    comm.scope["user"] = user
    connected, _ = await comm.connect()
    assert connected
    return comm


async def drain(comm: WebsocketCommunicator) -> list[dict]:
    out = []
    while not await comm.receive_nothing(timeout=0.001):
        out.append(await comm.receive_output(timeout=1))
    return out


def event_log(call_id: int) -> list[tuple[str, str]]:
    return list(CallEvent.objects.filter(call_id=call_id, kind__in=(
        "listen_started", "listen_stopped", "takeover_started", "takeover_ended")).values_list("kind", "data__user"))


async def test_a_listener_hears_the_caller_and_the_bot_mixed(live_call, fake_voice, make_user):  # noqa: F811
    operator = await database_sync_to_async(make_user)("listen_op", "Operator")
    listener = await listener_for(live_call, operator)  # before the call's media starts: it is found anyway
    carrier = Carrier(await started(live_call))
    chunks: list[bytes] = []
    for n in range(500):
        await carrier.tick(CALLER_TONE if n % 8 < 2 else None)  # short sounds: the bot is not interrupted
        chunks += [m["bytes"] for m in await drain(listener) if m.get("bytes")]
        if any(has(c, 220, LISTEN_RATE) and has(c, 1000, LISTEN_RATE) for c in chunks):
            break
    else:
        raise AssertionError(f"no chunk carried both the caller and the bot ({len(chunks)} chunks)")
    assert {len(c) for c in chunks} == {LISTEN_RATE * 2 * CHUNK_MS // 1000}
    await listener.disconnect()
    await carrier.hang_up()
    log = await database_sync_to_async(event_log)(live_call.pk)
    assert log == [("listen_started", "listen_op"), ("listen_stopped", "listen_op")]


async def test_takeover_mutes_the_bot_and_the_operator_reaches_the_callee(live_call, fake_voice,  # noqa: F811
                                                                         make_user):
    def short_limits():
        script = live_call.campaign.script
        script.dialogue_map = {**script.dialogue_map, "limits": {"silence_s": 0.3, "max_silences": 20}}
        script.save()

    await database_sync_to_async(short_limits)()
    operator = await database_sync_to_async(make_user)("take_op", "Operator")
    carrier = Carrier(await started(live_call))
    while "bot" not in carrier.frames():  # the greeting is playing
        await carrier.tick()
    listener = await listener_for(live_call, operator)
    await listener.send_to(text_data=json.dumps({"action": "takeover"}))
    states: list[dict] = []
    for _ in range(300):
        await carrier.tick()
        states += [json.loads(m["text"]) for m in await drain(listener) if m.get("text")]
        if any(s["type"] == "takeover" for s in states):
            break
    assert states[-1] == {"type": "takeover", "active": True, "mine": True, "user": "take_op", "refused": "",
                          "reason": ""}
    assert any(e["event"] == "clear" for e in carrier.events)  # the greeting is cut off at the far end
    manager = await database_sync_to_async(make_user)("take_mgr", "Manager")
    second = await listener_for(live_call, manager)  # one person holds a call at a time
    await second.send_to(text_data=json.dumps({"action": "takeover"}))
    refusal: list[dict] = []
    while not refusal:
        await carrier.tick()
        refusal = [json.loads(m["text"]) for m in await drain(second) if m.get("text")]
    assert refusal == [{"type": "takeover", "active": False, "mine": True, "user": "take_op", "refused": "taken",
                        "reason": ""}]
    await second.disconnect()
    cleared = max(i for i, e in enumerate(carrier.events) if e["event"] == "clear")

    for _ in range(3):  # half a sample: the page is told once, not for every chunk, and nothing reaches the callee
        await listener.send_to(bytes_data=b"\x00\x01\x02")
    errors: list[dict] = []
    ticks_since_reply = 0
    for _ in range(300):  # until the reply comes (a busy machine may be slow), then 20 ticks more for a second one
        await carrier.tick()
        errors += [m for m in (json.loads(m["text"]) for m in await drain(listener) if m.get("text"))
                   if m["type"] == "error"]
        ticks_since_reply += bool(errors)
        if ticks_since_reply > 20:
            break
    assert [e["error"] for e in errors] == [f"audio chunks are 16-bit PCM, 2 to {MAX_OPERATOR_CHUNK} bytes; got 3"]
    assert "operator" not in carrier.frames(cleared)

    voice = tone(1000, 100, 16000)
    for _ in range(10):  # one second of the operator's microphone, as the page sends it
        await listener.send_to(bytes_data=voice)
        for _ in range(5):
            await carrier.tick()
    for _ in range(60):  # the line is silent well past the silence limit: a muted bot does not ask
        await carrier.tick()
    during = carrier.frames(cleared)
    assert during.count("operator") >= 40 and "bot" not in during, during

    await listener.send_to(text_data=json.dumps({"action": "handback"}))
    handed_back = len(carrier.events)
    for _ in range(300):  # the bot is back: the silence prompt comes
        await carrier.tick()
        if "bot" in carrier.frames(handed_back):
            break
    else:
        raise AssertionError("the bot did not speak again after the hand-back")
    await listener.disconnect()
    await carrier.hang_up()
    log = await database_sync_to_async(event_log)(live_call.pk)
    assert [e for e in log if e[1] == "take_op"] == [("listen_started", "take_op"), ("takeover_started", "take_op"),
                                                     ("takeover_ended", "take_op"), ("listen_stopped", "take_op")]
    assert [e for e in log if e[1] == "take_mgr"] == [("listen_started", "take_mgr"), ("listen_stopped", "take_mgr")]


async def test_an_operator_who_leaves_hands_the_call_back(live_call, fake_voice, make_user):  # noqa: F811
    operator = await database_sync_to_async(make_user)("leave_op", "Operator")
    carrier = Carrier(await started(live_call))
    await carrier.tick()
    listener = await listener_for(live_call, operator)
    await listener.send_to(text_data=json.dumps({"action": "takeover"}))
    for _ in range(300):
        await carrier.tick()
        if any(m.get("text") and json.loads(m["text"]).get("active") for m in await drain(listener)):
            break
    await listener.disconnect()
    for _ in range(300):
        await carrier.tick()
        if await database_sync_to_async(lambda: CallEvent.objects.filter(call_id=live_call.pk,
                                                                         kind="takeover_ended").exists())():
            break
    await carrier.hang_up()
    ended = await database_sync_to_async(
        lambda: CallEvent.objects.get(call_id=live_call.pk, kind="takeover_ended").data)()
    assert ended["user"] == "leave_op" and ended["reason"] == "operator left"


async def test_a_takeover_whose_operator_is_never_heard_from_again_goes_back_to_the_bot(
    live_call, fake_voice, monkeypatch  # noqa: F811
):
    """The operator's process died: no hand-back message ever comes, the call must not stay muted."""

    monkeypatch.setattr(calls.listen, "HEARTBEAT_S", 0.1)
    monkeypatch.setattr(calls.listen, "LISTENER_TTL_S", 0.3)
    carrier = Carrier(await started(live_call))
    layer = get_channel_layer()
    gone = await layer.new_channel()  # a listener that will never speak again
    while "bot" not in carrier.frames():  # the greeting plays: the bot is there to be muted
        await carrier.tick()
    await layer.group_send(f"call_{live_call.pk}_media", {"type": "takeover.start", "listener": gone,
                                                          "user": {"id": None, "name": "ghost"}})
    for _ in range(500):
        await carrier.tick()
        ended = await database_sync_to_async(
            lambda: CallEvent.objects.filter(call_id=live_call.pk, kind="takeover_ended").first())()
        if ended is not None:
            break
    else:
        raise AssertionError("the takeover was never handed back")
    await carrier.hang_up()
    kinds = await database_sync_to_async(event_log)(live_call.pk)
    assert kinds == [("takeover_started", "ghost"), ("takeover_ended", "ghost")]
    assert ended.data["reason"] == "operator gone"


async def test_only_operators_and_managers_may_listen(live_call, make_user):  # noqa: F811
    trainee = await database_sync_to_async(make_user)("listen_trainee", "Trainee")
    operator = await database_sync_to_async(make_user)("listen_operator", "Operator")
    manager = await database_sync_to_async(make_user)("listen_manager", "Manager")
    for user, allowed in ((None, False), (trainee, False), (operator, True), (manager, True)):
        comm = WebsocketCommunicator(app, f"/ws/calls/{live_call.pk}/listen/", headers=BROWSER)
        if user is not None:
            comm.scope["user"] = user
        connected, code = await comm.connect()
        assert connected is allowed, user
        if not allowed:
            assert code == 4403
        await comm.disconnect()
    log = await database_sync_to_async(event_log)(live_call.pk)
    assert [user for kind, user in log if kind == "listen_started"] == ["listen_operator", "listen_manager"]


async def test_garbage_from_the_listeners_page_is_answered_with_an_error_and_no_traceback(live_call, make_user,  # noqa: F811
                                                                                            caplog):
    operator = await database_sync_to_async(make_user)("garbage_op", "Operator")
    comm = WebsocketCommunicator(app, f"/ws/calls/{live_call.pk}/listen/", headers=BROWSER)
    comm.scope["user"] = operator
    assert (await comm.connect())[0]
    for frame in ("[" * 5000 + "]" * 5000, "{not json", "5", '{"action": [1]}', "x" * (1 << 20)):
        await comm.send_to(text_data=frame)
        assert json.loads(await comm.receive_from(timeout=10))["type"] == "error", frame[:20]
    await comm.disconnect()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_a_socket_from_another_site_is_refused(live_call, make_user):  # noqa: F811
    operator = await database_sync_to_async(make_user)("origin_op", "Operator")
    comm = WebsocketCommunicator(app, f"/ws/calls/{live_call.pk}/listen/",
                                 headers=[(b"origin", b"http://evil.test"), (b"host", b"localhost")])
    comm.scope["user"] = operator
    connected, _ = await comm.connect()
    assert not connected
    # ended here, in order: a refused socket's consumer still waits on the channel layer, and one left for the
    # test loop's teardown to cancel with everything else once hung that teardown in channels_redis
    await comm.disconnect()


def test_nobody_listening_costs_nothing_per_frame():
    class Recorder:
        def __init__(self):
            self.calls = 0

        def begin(self, rate):
            pass

        def inbound(self, pcm):
            self.calls += 1

        def outbound(self, pcm):
            self.calls += 1

        def cleared(self):
            pass

    published: list[bytes] = []
    recorder = Recorder()
    mix = LiveMix(recorder, published.append)
    mix.begin(16000)
    for _ in range(100):
        mix.inbound(tone(1000, 20, 16000))
        mix.outbound(tone(220, 20, 16000))
    assert recorder.calls == 200 and not published and not mix._in and not mix._out
    mix.listeners["someone"] = float("inf")
    caller, bot, frame = tone(1000, 320, 16000), tone(220, 320, 16000), 640
    for i in range(0, len(caller), frame):  # 320 ms at 16 kHz: two chunks, the caller and the bot mixed
        mix.inbound(caller[i : i + frame])
        mix.outbound(bot[i : i + frame])
    # resampled to 8 kHz (the resampler holds back its filter delay: a few samples less at first)
    assert len(published) == 2 and 0.9 < sum(map(len, published)) / (LISTEN_RATE * 2 * 2 * CHUNK_MS / 1000) <= 1
    assert has(published[1], 1000, LISTEN_RATE) and has(published[1], 220, LISTEN_RATE)


async def test_the_live_transcript_is_published_only_while_a_page_shows_it(live_call, fake_voice, make_user,  # noqa: F811
                                                                           monkeypatch):
    seen: list[str] = []  # what the call's sink was given
    published: list[str] = []  # what went to the call's group
    emit, publish = calls.consumers.CallEventSink.emit, calls.consumers.services.call_publish_pipeline

    async def seeing(self, event):
        seen.append(event.to_dict()["type"])
        await emit(self, event)

    async def publishing(**kwargs):
        published.append(kwargs["payload"]["event"]["type"])
        await publish(**kwargs)

    monkeypatch.setattr(calls.consumers.CallEventSink, "emit", seeing)
    monkeypatch.setattr(calls.consumers.services, "call_publish_pipeline", publishing)
    # a page's heartbeats, and how long one is trusted (twenty missed beats: a slow, busy machine keeps its watcher)
    monkeypatch.setattr(calls.listen, "HEARTBEAT_S", 0.1)
    monkeypatch.setattr(calls.listen, "LISTENER_TTL_S", 2.0)

    async def caller_says_yes(carrier: Carrier, until) -> None:
        for n in range(600):
            await carrier.tick(CALLER_TONE if n < 25 else None)  # half a second of speech, then silence
            if await until():
                return
        raise AssertionError(f"the turn never came (sink saw {seen})")

    operator = await database_sync_to_async(make_user)("watch_op", "Operator")
    carrier = Carrier(await started(live_call))
    while "bot" not in carrier.frames():  # the greeting plays: the bot's state changed, nobody watches
        await carrier.tick()
    for _ in range(10):
        await carrier.tick()
    assert "state" in seen and published == []

    page = WebsocketCommunicator(app, f"/ws/calls/{live_call.pk}/live/", headers=BROWSER)
    page.scope["user"] = operator
    assert (await page.connect())[0]
    shown: list[dict] = []

    async def page_shows_the_line() -> bool:
        while not await page.receive_nothing(timeout=0.001):
            shown.append(await page.receive_json_from(timeout=1))
        return any(m.get("kind") == "pipeline" and m["event"]["type"] == "user_transcript" for m in shown)

    await caller_says_yes(carrier, page_shows_the_line)
    assert "user_transcript" in published

    await page.disconnect()  # the page is closed: once its heartbeats are overdue the call goes on unpublished
    loop = asyncio.get_running_loop()
    closed_at = loop.time()
    while loop.time() - closed_at < calls.listen.LISTENER_TTL_S + 0.5:
        await carrier.tick()
    before_seen, before_published = len(seen), len(published)

    async def next_line_seen() -> bool:
        return "user_transcript" in seen[before_seen:]

    await caller_says_yes(carrier, next_line_seen)
    for _ in range(10):
        await carrier.tick()
    assert published[before_published:] == []
    await carrier.hang_up()


async def test_a_page_opened_before_the_call_answers_sees_it_from_the_greeting(live_call, fake_voice,  # noqa: F811
                                                                               make_user):
    operator = await database_sync_to_async(make_user)("early_op", "Operator")
    page = WebsocketCommunicator(app, f"/ws/calls/{live_call.pk}/live/", headers=BROWSER)
    page.scope["user"] = operator
    assert (await page.connect())[0]  # its first «watch» finds no media socket: the socket's «media.ready» asks
    carrier = Carrier(await started(live_call))
    shown: list[str] = []
    for _ in range(600):
        await carrier.tick()
        while not await page.receive_nothing(timeout=0.001):
            message = await page.receive_json_from(timeout=1)
            if message.get("kind") == "pipeline":
                shown.append(message["event"]["type"])
        if "bot_turn" in shown:
            break
    assert shown[:1] == ["state"] and "bot_turn" in shown, shown  # the greeting's «speaking», then its line
    await page.disconnect()
    await carrier.hang_up()


def test_a_watcher_not_heard_from_for_a_while_is_forgotten(monkeypatch):
    live = calls.listen.CallLive(call_id=1, recorder=None)
    assert not live.watched()
    asyncio.run(live.handle({"type": "watch.want", "listener": "page-1"}))
    assert live.watched()
    live.watchers["page-1"] = 0.0  # its last heartbeat expired long ago (a browser or process that died)
    assert not live.watched() and live.watchers == {}
    asyncio.run(live.handle({"type": "watch.want", "listener": "page-2"}))
    asyncio.run(live.handle({"type": "watch.want", "listener": "page-2"}))  # its heartbeat: still one watcher
    assert live.watched() and list(live.watchers) == ["page-2"]

"""Probes of the carrier media socket with input an outside checker would try (Twilio Media Streams and
Voximplant): what the protocol allows and a first test run may miss (``connected`` then a ``start`` carrying the
token, ``dtmf``, a ``mark`` we never sent, ``stop`` twice), and what a confused peer sends before the token, at
``start`` and after ``stop``.

The standard is ``test_media_edge.py``'s: bad input closes the socket with a 4xxx code and a reason, the call
ends with that reason recorded and nothing said before is lost, and a peer's mistake leaves no traceback in the
log.
"""

from __future__ import annotations

import base64
import json
import logging

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import translation

from calls.media_auth import call_media_token
from calls.models import Call, CallEvent
from calls.services.lifecycle import call_transition
from calls.tests import test_media_edge as edge
from calls.tests.test_media_edge import app, bot_audio, call_end, media_frame, started, until_closed
from config.templatetags.console import call_event_kind, call_event_reason
from voice.protocols.base import CLOSE_BAD_MESSAGE, CLOSE_INVALID_PAYLOAD

pytestmark = pytest.mark.django_db(transaction=True)
live_call, fake_voice = edge.live_call, edge.fake_voice  # the fixtures of the edge tests
STOP = json.dumps({"event": "stop", "sequenceNumber": "9", "streamSid": "MZ1",
                   "stop": {"accountSid": "AC1", "callSid": "CA1"}})


def no_tracebacks(caplog) -> None:
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [(r.name, r.getMessage()) for r in bad]


def frame_in(frame: str | bytes) -> dict:
    # straight to the input queue: the communicator's send_to refuses an empty frame
    return {"type": "websocket.receive", **({"bytes": frame} if isinstance(frame, bytes) else {"text": frame})}


async def no_token_socket(call: Call) -> WebsocketCommunicator:
    """Twilio's way: no token in the URL; it comes in ``start``'s customParameters."""
    comm = WebsocketCommunicator(app, f"/ws/calls/{call.pk}/media/")
    assert (await comm.connect())[0]
    return comm


@pytest.mark.parametrize("frame", [
    "[" * 5000 + "]" * 5000,  # deeper than the JSON parser recurses
    "not json",
    "",
    b"\x00\x01",
    "x" * (1 << 20),
    json.dumps({"event": {"a": 1}}),
    json.dumps({"event": "start", "start": {"customParameters": ["token"]}}),
], ids=["deep JSON", "not JSON", "empty", "binary", "1 MiB", "event an object", "parameters a list"])
async def test_garbage_before_the_token_is_refused_with_a_reason_and_no_traceback(live_call, frame, caplog):
    comm = await no_token_socket(live_call)
    await comm.send_input(frame_in(frame))
    closed = await until_closed(comm)
    assert 4000 <= closed["code"] <= 4999 and closed["reason"], closed
    await comm.disconnect()
    no_tracebacks(caplog)
    assert (await database_sync_to_async(call_end)(live_call.pk))[0] == "dialing"  # a stranger ends no call


async def test_twilio_connected_then_a_start_with_the_token_talks(live_call, fake_voice):
    comm = await no_token_socket(live_call)
    await comm.send_to(text_data=json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    await comm.send_to(text_data=json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": "MZ1", "start": {
        "streamSid": "MZ1", "accountSid": "AC1", "callSid": "CA1", "tracks": ["inbound"],
        "customParameters": {"token": call_media_token(call_id=live_call.pk)},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
    assert (await bot_audio(comm))["streamSid"] == "MZ1"
    await comm.send_to(text_data=STOP)
    assert (await until_closed(comm))["code"] == 1000
    await comm.disconnect()


async def test_dtmf_and_a_mark_never_sent_keep_the_call_talking(live_call, fake_voice, caplog):
    comm = await started(live_call)
    await bot_audio(comm)
    await comm.send_to(text_data=json.dumps({"event": "dtmf", "streamSid": "MZ1", "sequenceNumber": "5",
                                             "dtmf": {"track": "inbound_track", "digit": "1"}}))
    await comm.send_to(text_data=json.dumps({"event": "mark", "streamSid": "MZ1", "sequenceNumber": "6",
                                             "mark": {"name": "never-sent"}}))
    await comm.send_to(text_data=media_frame(1))
    await bot_audio(comm)  # still talking
    await comm.send_to(text_data=STOP)
    closed = await until_closed(comm)
    assert closed == {"type": "websocket.close", "code": 1000, "reason": "stream stopped"}
    await comm.disconnect()
    no_tracebacks(caplog)


async def test_stop_twice_and_frames_after_stop_are_ignored_and_the_call_ends_once(live_call, fake_voice, caplog):
    comm = await started(live_call)
    await bot_audio(comm)
    for frame in (STOP, STOP, media_frame(2), "not json", b"\x00"):
        await comm.send_input(frame_in(frame))
    closed = await until_closed(comm)
    assert closed["code"] == 1000 and closed["reason"] == "stream stopped"
    await comm.disconnect()
    status, data = await database_sync_to_async(call_end)(live_call.pk)
    assert status != "in_progress" and data.get("end_reason") == "stream stopped"
    no_tracebacks(caplog)


async def test_an_event_from_a_newer_protocol_version_is_ignored_and_the_call_keeps_talking(live_call, fake_voice,
                                                                                           caplog):
    caplog.set_level(logging.INFO, logger="voice.session")
    comm = await started(live_call)
    await bot_audio(comm)
    for _ in range(3):
        await comm.send_to(text_data=json.dumps({"event": "transcription", "streamSid": "MZ1", "transcription": {}}))
    await comm.send_to(text_data=media_frame(1))
    await bot_audio(comm)  # still talking
    await comm.send_to(text_data=json.dumps({"event": 5, "streamSid": "MZ1"}))  # but a message must name its event
    closed = await until_closed(comm)
    assert closed["code"] == CLOSE_BAD_MESSAGE and "event name" in closed["reason"]
    await comm.disconnect()
    status, data = await database_sync_to_async(call_end)(live_call.pk)
    assert status != "in_progress" and data.get("end_reason") == closed["reason"]
    said = [r.getMessage() for r in caplog.records if "unknown event" in r.getMessage()]
    assert len(said) == 1 and "transcription" in said[0]  # logged once, not per message
    no_tracebacks(caplog)


async def test_a_start_whose_tracks_is_not_a_list_closes_4400_with_a_reason_and_no_traceback(live_call, fake_voice,
                                                                                           caplog):
    comm = WebsocketCommunicator(app, f"/ws/calls/{live_call.pk}/media/?token={call_media_token(call_id=live_call.pk)}")
    assert (await comm.connect())[0]
    await comm.send_to(text_data=json.dumps({"event": "start", "streamSid": "MZ1", "start": {
        "streamSid": "MZ1", "tracks": 5, "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000}}}))
    closed = await until_closed(comm)
    assert closed["code"] == CLOSE_BAD_MESSAGE and "tracks" in closed["reason"], closed
    await comm.disconnect()
    no_tracebacks(caplog)
    # the call's log says why no audio came; its status stays the carrier's to report
    assert await database_sync_to_async(not_started)(live_call.pk) == ("dialing", [closed["reason"]])


def not_started(call_id: int) -> tuple[str, list[str]]:
    reasons = CallEvent.objects.filter(call_id=call_id, kind="media_not_started").values_list("data__reason", flat=True)
    return Call.objects.get(pk=call_id).status, list(reasons)


@pytest.mark.parametrize(("before_start", "reason"), [
    (None, "closed before start"),  # the carrier went away between the handshake and start
    (STOP, "stream stopped"),
])
async def test_a_stream_that_never_starts_says_so_on_the_calls_log(live_call, fake_voice, before_start, reason,
                                                                   caplog):
    comm = WebsocketCommunicator(app, f"/ws/calls/{live_call.pk}/media/?token={call_media_token(call_id=live_call.pk)}")
    assert (await comm.connect())[0]
    if before_start is not None:
        await comm.send_to(text_data=before_start)
        await until_closed(comm)
    await comm.disconnect(code=1001)
    assert await database_sync_to_async(not_started)(live_call.pk) == ("dialing", [reason])
    no_tracebacks(caplog)


@pytest.fixture
def voximplant_call(make_campaign, make_contact):
    call = Call.objects.create(campaign=make_campaign(telephony_provider="voximplant"), contact=make_contact(),
                               provider="voximplant")
    call_transition(call_id=call.pk, to=Call.Status.DIALING)
    return call


async def test_voximplant_pcm16_with_half_a_sample_closes_4007_and_the_call_ends_with_the_reason(
        voximplant_call, fake_voice, caplog):
    call_id = voximplant_call.pk
    comm = WebsocketCommunicator(app, f"/ws/calls/{call_id}/media/?token={call_media_token(call_id=call_id)}")
    assert (await comm.connect())[0]
    await comm.send_to(text_data=json.dumps({"event": "start", "start": {
        "mediaFormat": {"encoding": "PCM16", "sampleRate": 16000}, "customParameters": {}}}))
    for size in (640, 641):  # 20 ms, then 20 ms and half a sample
        await comm.send_to(text_data=json.dumps({"event": "media", "media": {
            "payload": base64.b64encode(bytes(size)).decode()}}))
    closed = await until_closed(comm)
    assert closed["code"] == CLOSE_INVALID_PAYLOAD and "odd byte count" in closed["reason"], closed
    await comm.disconnect()
    status, data = await database_sync_to_async(call_end)(call_id)
    assert status != "in_progress" and data.get("end_reason") == closed["reason"]
    no_tracebacks(caplog)


def test_the_calls_log_names_a_stream_that_never_started_in_russian():
    with translation.override("ru"):
        assert call_event_kind("media_not_started") == "аудиопоток звонка так и не начался"
        assert call_event_reason("closed before start") == "соединение закрылось до начала звука"


async def test_a_stream_that_drops_without_stop_says_so_when_the_call_ends(live_call, fake_voice, caplog):
    comm = await started(live_call)
    await bot_audio(comm)
    await comm.send_to(text_data=media_frame(1))
    await comm.disconnect(code=1006)  # no stop: the connection went away under the call
    status, data = await database_sync_to_async(call_end)(live_call.pk)
    assert status != "in_progress" and data.get("end_reason") == "stream dropped" and data.get("close_code") == 1006
    with translation.override("ru"):
        assert call_event_reason("stream dropped") == "поток оборвался, оператор связи его не завершал"
    no_tracebacks(caplog)

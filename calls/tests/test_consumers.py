"""The media consumer refuses wrong, expired and missing tokens with clear close codes; the live feed wants a login."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from calls.consumers import CLOSE_BAD_TOKEN, CLOSE_CALL_NOT_LIVE, CLOSE_UNAUTHENTICATED
from calls.media_auth import call_media_token
from calls.models import Call
from calls.routing import websocket_urlpatterns
from calls.services.lifecycle import call_transition

pytestmark = pytest.mark.django_db(transaction=True)
app = URLRouter(websocket_urlpatterns)


@pytest.fixture
def live_call(make_campaign, make_contact):
    call = Call.objects.create(campaign=make_campaign(), contact=make_contact())
    call_transition(call_id=call.pk, to=Call.Status.DIALING)
    return call


async def _close_code(communicator) -> int:
    connected, _ = await communicator.connect()
    assert connected  # accepted first, so the refusal carries a code
    message = await communicator.receive_output(timeout=5)
    assert message["type"] == "websocket.close"
    return message["code"]


async def test_wrong_token_in_query_string_is_refused(live_call):
    other = call_media_token(call_id=live_call.pk + 1)  # a real token, for another call
    for token in ("nonsense", other):
        comm = WebsocketCommunicator(app, f"/ws/calls/{live_call.pk}/media/?token={token}")
        assert await _close_code(comm) == CLOSE_BAD_TOKEN


async def test_expired_token_is_refused(live_call, settings):
    settings.TELEPHONY = {**settings.TELEPHONY, "MEDIA_TOKEN_MAX_AGE_S": -1}
    comm = WebsocketCommunicator(app, f"/ws/calls/{live_call.pk}/media/?token={call_media_token(call_id=live_call.pk)}")
    assert await _close_code(comm) == CLOSE_BAD_TOKEN


async def test_twilio_start_with_wrong_token_is_refused(live_call):
    comm = WebsocketCommunicator(app, f"/ws/calls/{live_call.pk}/media/")
    connected, _ = await comm.connect()
    assert connected
    await comm.send_to(text_data=json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    await comm.send_to(text_data=json.dumps({"event": "start", "streamSid": "MZ1", "start": {
        "streamSid": "MZ1", "callSid": "CA1", "customParameters": {"token": "forged"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
    message = await comm.receive_output(timeout=5)
    assert message == {"type": "websocket.close", "code": CLOSE_BAD_TOKEN, "reason": "bad or expired token"}


async def test_media_before_the_token_is_refused(live_call):
    comm = WebsocketCommunicator(app, f"/ws/calls/{live_call.pk}/media/")
    await comm.connect()
    await comm.send_to(text_data=json.dumps({"event": "media", "media": {"payload": ""}}))
    assert (await comm.receive_output(timeout=5))["code"] == CLOSE_UNAUTHENTICATED


async def test_valid_token_for_a_finished_call_is_refused(live_call):
    await database_sync_to_async(call_transition)(call_id=live_call.pk, to=Call.Status.CANCELED)
    comm = WebsocketCommunicator(app, f"/ws/calls/{live_call.pk}/media/?token={call_media_token(call_id=live_call.pk)}")
    assert await _close_code(comm) == CLOSE_CALL_NOT_LIVE


async def test_live_feed_needs_login_and_permission(make_user):
    trainee = await database_sync_to_async(make_user)("feed_trainee", "Trainee")
    operator = await database_sync_to_async(make_user)("feed_operator", "Operator")
    for user, allowed in ((None, False), (trainee, False), (operator, True)):
        comm = WebsocketCommunicator(app, "/ws/calls/live/",
                                     headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")])
        if user is not None:
            comm.scope["user"] = user
        connected, _ = await comm.connect()
        assert connected is allowed, user
        # the consumer leaves the channel layer here, not when the test's event loop is torn down:
        # channels_redis's receive could hang when the teardown cancelled all its tasks at once
        await comm.disconnect()

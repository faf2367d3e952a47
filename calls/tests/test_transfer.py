"""Transfer to a human: the carriers' wire formats (Twilio's call update, the VoxEngine session command and
the scenario that bridges), the lifecycle (``transferred``, or ``transfer_failed`` and a hang-up), and a
whole call through the media socket whose callee asks for a person.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from dataclasses import replace
from xml.etree import ElementTree

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from calls.media_auth import call_media_token
from calls.models import Call, CallEvent, Turn
from calls.routing import websocket_urlpatterns
from calls.selectors import call_summary_so_far
from calls.services.after_call import call_after_work
from calls.services.dialing import call_place
from calls.services.lifecycle import call_transition
from calls.telephony import TransferTarget, simulated
from calls.telephony.simulated import SimulatedCallee, SimulatedTelephony, _tts
from calls.tests.carrier_servers import TWILIO_SID, TWILIO_TOKEN, VOX_ACCOUNT, VOX_KEY, VOX_RULE, CarrierServer
from calls.tests.test_telephony import REQUEST, _scenario_js, twilio, vox
from calls.transfer import call_transfer, call_transfer_requested
from integrations.errors import ProviderAuthError, ProviderBadResponse, ProviderConfigError, ProviderUnavailable
from voice import audio
from voice.responder import ConversationState
from voice.tests.signals import voiced

PERSON = "+74951234567"
ASK_HUMAN = "Соедините меня с менеджером, пожалуйста"


@pytest.fixture
def server():
    with CarrierServer() as s:
        yield s


# --- Twilio: the call is updated with <Dial> or <Enqueue> ------------------------------------------------


def test_twilio_transfer_updates_the_live_call_with_dial_twiml(server):
    provider = twilio(server)
    provider.transfer(provider_call_id="CA42", target=TransferTarget(to=PERSON))
    sent = server.requests[-1]
    assert sent.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Calls/CA42.json"
    dial = ElementTree.fromstring(sent.form["Twiml"][0]).find("Dial")  # noqa: S314 - our own output
    assert dial.get("callerId") == "+15550001111" and dial.find("Number").text == PERSON
    assert "Status" not in sent.form  # the call goes on: not hung up

    provider.transfer(provider_call_id="CA42", target=TransferTarget(queue="sales&co"))
    twiml = server.requests[-1].form["Twiml"][0]
    assert ElementTree.fromstring(twiml).find("Enqueue").text == "sales&co"  # noqa: S314


def test_twilio_transfer_errors_are_classified(server):
    server.force_status = 500
    with pytest.raises(ProviderUnavailable):
        twilio(server).transfer(provider_call_id="CA42", target=TransferTarget(to=PERSON))
    server.force_status = None
    with pytest.raises(ProviderAuthError):  # 401: the account's token is wrong
        twilio(server, auth_token="nope").transfer(provider_call_id="CA42", target=TransferTarget(to=PERSON))


def test_a_transfer_target_is_a_number_or_a_queue():
    with pytest.raises(ValueError):
        TransferTarget()
    with pytest.raises(ValueError):
        TransferTarget(to=PERSON, queue="sales")
    assert TransferTarget(queue="sales").label == "queue:sales"


# --- Voximplant: a command to the running session, and the scenario that bridges ------------------------------


def test_voximplant_transfer_posts_the_command_to_the_sessions_control_url(server):
    provider = vox(server)
    placed = provider.dial(request=REQUEST)
    assert placed.control_url == f"{server.url}/session/555001"
    provider.transfer(provider_call_id=placed.provider_call_id, target=TransferTarget(to=PERSON, caller_id="+7495"),
                      control_url=placed.control_url)
    sent = server.requests[-1]
    assert sent.path == "/session/555001"
    assert sent.json == {"command": "transfer", "to": PERSON, "queue": "", "caller_id": "+7495"}


def test_voximplant_transfer_errors_are_classified(server):
    provider = vox(server)
    with pytest.raises(ProviderConfigError):  # no control URL: the scenario cannot be told
        provider.transfer(provider_call_id="1", target=TransferTarget(to=PERSON), control_url="")
    session = f"{server.url}/session/555001"
    provider.transfer(provider_call_id="1", target=TransferTarget(to=PERSON), control_url=session)
    with pytest.raises(ProviderBadResponse, match="already transferring"):  # the scenario said no
        provider.transfer(provider_call_id="1", target=TransferTarget(to=PERSON), control_url=session)
    with pytest.raises(ProviderBadResponse):  # 404: the session has ended
        provider.transfer(provider_call_id="1", target=TransferTarget(to=PERSON),
                          control_url=f"{server.url}/session/1")
    server.force_status = 503
    with pytest.raises(ProviderUnavailable):
        provider.transfer(provider_call_id="1", target=TransferTarget(to=PERSON),
                          control_url=f"{server.url}/session/1")
    server.force_status = None
    with pytest.raises(ProviderUnavailable):  # the session is gone: nothing listens there
        provider.transfer(provider_call_id="1", target=TransferTarget(to=PERSON),
                          control_url="http://127.0.0.1:9/session/1")


# A VoxEngine stand-in: just enough of its API for outbound.js, recording what the scenario does.
VOXENGINE_HARNESS = r"""
const vm = require("vm");
const log = [];
function Emitter(name) { this.name = name; this.handlers = {}; }
Emitter.prototype.addEventListener = function (ev, fn) { (this.handlers[ev] = this.handlers[ev] || []).push(fn); };
Emitter.prototype.fire = function (ev, e) {
  return (this.handlers[ev] || []).map(function (f) { return f(e || {}); });
};
const app = new Emitter("app");
const calls = [];
let ws = null, acd = null;
function makeCall(to) {
  const c = new Emitter("call"); c.to = to;
  c.hangup = function () { log.push(["hangup", to]); };
  c.sendMediaTo = function () {};
  calls.push(c); return c;
}
const sandbox = {
  require: function () {}, Modules: { ApplicationStorage: 1, ACD: 2 },
  AppEvents: { Started: "Started", HttpRequest: "HttpRequest" },
  CallEvents: { Ringing: "Ringing", Connected: "Connected", Failed: "Failed", Disconnected: "Disconnected" },
  WebSocketEvents: { OPEN: "OPEN", MESSAGE: "MESSAGE", CLOSE: "CLOSE" },
  ACDEvents: { OperatorReached: "OperatorReached", Offline: "Offline", Error: "Error" },
  WebSocketAudioEncoding: { ULAW: "ulaw" },
  ApplicationStorage: { get: function () { return Promise.resolve({ value: "secret" }); } },
  Net: { httpRequestAsync: function () { return Promise.resolve({ code: 200 }); } },
  Crypto: { hmac_sha256: function () { return "sig"; } },
  Logger: { write: function () {} },
  JSON: JSON, String: String, Math: Math, Date: Date, Object: Object, Promise: Promise,
  VoxEngine: {
    customData: function () { return JSON.stringify({ to: "+79160001234", from: "+74950000000", call: 7, t: "tok",
                                                      b: "https://calls.test" }); },
    addEventListener: function (ev, fn) { app.addEventListener(ev, fn); },
    callPSTN: function (to, from) { log.push(["callPSTN", to, from]); return makeCall(to); },
    createWebSocket: function (url) {
      ws = new Emitter("ws"); ws.sendMediaTo = function () {};
      ws.close = function () { log.push(["socket.close"]); ws.fire("CLOSE"); };
      return ws;
    },
    sendMediaBetween: function (a, b) { log.push(["bridge", a.to, b.to]); },
    enqueueACDRequest: function (queue, callerid) { log.push(["enqueue", queue, callerid]);
                                                    acd = new Emitter("acd"); return acd; },
    terminate: function () { log.push(["terminate"]); },
    sessionId: function () { return "s1"; },
  },
};
vm.runInNewContext(SCENARIO, sandbox);
const command = (body) => app.fire("HttpRequest", { content: JSON.stringify(body) })[0];
(async function () {
  app.fire("Started");
  await new Promise((r) => setTimeout(r, 10));
  const callee = calls[0];
  const early = command({ command: "transfer", to: "+74951234567" });  // not answered yet
  callee.fire("Connected"); ws.fire("OPEN");
  const bad = command({ command: "dance" });
  const answer = command(CMD);
  const again = command(CMD);
  if (CMD.to) { calls[1].fire("Connected"); calls[1].fire("Disconnected"); }
  else { const operator = makeCall("operator:anna"); acd.fire("OperatorReached", { operatorCall: operator }); }
  process.stdout.write(JSON.stringify({ early, bad, answer, again, log }));
})();
"""


def _run_scenario(tmp_path, command: dict) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the VoxEngine scenario cannot be run here")
    script = tmp_path / "harness.js"
    script.write_text(f"const SCENARIO = {json.dumps(_scenario_js())};\nconst CMD = {json.dumps(command)};\n"
                      + VOXENGINE_HARNESS)
    return json.loads(subprocess.run([node, str(script)], capture_output=True, text=True, check=True,
                                     timeout=30).stdout)


def test_the_voxengine_scenario_dials_the_person_and_bridges_without_hanging_up_the_callee(tmp_path):
    out = _run_scenario(tmp_path, {"command": "transfer", "to": PERSON, "queue": "", "caller_id": ""})
    assert out["early"] == {"ok": False, "error": "the call is not connected"}
    assert out["bad"] == {"ok": False, "error": "unknown command"}
    assert out["answer"] == {"ok": True}
    assert out["again"] == {"ok": False, "error": "already transferring"}
    log = [tuple(x) for x in out["log"]]
    start = log.index(("socket.close",))
    # the bot's socket closes without hanging up the callee, the person is dialled with our caller id,
    # both are bridged once they answer, and the callee's leg ends with the person's
    assert log[start:] == [("socket.close",), ("callPSTN", PERSON, "+74950000000"),
                           ("bridge", "+79160001234", PERSON), ("hangup", "+79160001234")]


def test_the_voxengine_scenario_queues_the_callee_for_an_operator(tmp_path):
    out = _run_scenario(tmp_path, {"command": "transfer", "to": "", "queue": "sales", "caller_id": ""})
    assert out["answer"] == {"ok": True}
    log = [tuple(x) for x in out["log"]]
    assert ("enqueue", "sales", "+74950000000") in log and ("bridge", "+79160001234", "operator:anna") in log
    assert ("hangup", "+79160001234") not in log


# --- the lifecycle ---------------------------------------------------------------------------------------


@pytest.fixture
def vox_campaign(server, settings, make_campaign):
    settings.TELEPHONY = {**settings.TELEPHONY, "PUBLIC_BASE_URL": "https://calls.example.test",
                          "VOXIMPLANT": {"ACCOUNT_ID": VOX_ACCOUNT, "API_KEY": VOX_KEY, "RULE_ID": VOX_RULE,
                                         "API_URL": server.url + "/platform_api"}}
    return make_campaign(telephony_provider="voximplant", caller_id="+74950000000")


@pytest.mark.django_db
def test_a_placed_voximplant_call_keeps_its_control_url_and_is_transferred_through_it(server, vox_campaign,
                                                                                      make_contact):
    call = Call.objects.create(campaign=vox_campaign, contact=make_contact())
    placed = call_place(call_id=call.pk)
    call.refresh_from_db()
    assert placed.status == "dialled", (call.error, [r.path for r in server.requests])
    assert call.provider_control_url == f"{server.url}/session/555001"
    call_transition(call_id=call.pk, to=Call.Status.IN_PROGRESS)

    assert call_transfer(call_id=call.pk, target={"queue": "sales", "reason": "ask_human"}) is True
    assert server.requests[-1].json == {"command": "transfer", "to": "", "queue": "sales",
                                        "caller_id": "+74950000000"}
    call.refresh_from_db()
    assert call.transferred_at is not None and call.transfer_target == "queue:sales"
    event = CallEvent.objects.get(call=call, kind="transferred")
    assert event.data == {"queue": "sales", "reason": "ask_human", "provider": "voximplant"}


@pytest.mark.django_db
def test_a_refused_transfer_is_written_down_and_the_call_hung_up(make_campaign, make_contact, fake_telephony):
    call = Call.objects.create(campaign=make_campaign(), contact=make_contact(), provider="fake",
                               provider_call_id="fake-9")
    fake_telephony.fail = ProviderUnavailable("carrier down", provider="fake", status=503)
    assert call_transfer(call_id=call.pk, target={"to": PERSON}) is False
    call.refresh_from_db()
    assert call.transferred_at is None and call.transfer_target == ""
    failed = CallEvent.objects.get(call=call, kind="transfer_failed")
    assert failed.data["to"] == PERSON and "carrier down" in failed.data["error"]
    assert fake_telephony.hung_up == ["fake-9"]  # nobody is left on a dead line


# --- a whole call: the callee asks for a person -----------------------------------------------------------

app = URLRouter(websocket_urlpatterns)


def _frame(pcm16_8k: bytes, n: int) -> str:
    payload = base64.b64encode(audio.pcm16_to_ulaw(pcm16_8k)).decode()
    return json.dumps({"event": "media", "streamSid": "MZ1", "media": {
        "track": "inbound", "chunk": str(n), "timestamp": str(20 * n), "payload": payload}})


async def _talk_until_closed(call: Call) -> tuple[dict, list[str]]:
    """Silence while the greeting plays, one utterance, then silence until the bot closes the socket."""
    comm = WebsocketCommunicator(app, f"/ws/calls/{call.pk}/media/?token={call_media_token(call_id=call.pk)}")
    connected, _ = await comm.connect()
    assert connected
    await comm.send_to(text_data=json.dumps({"event": "start", "streamSid": "MZ1", "start": {
        "streamSid": "MZ1", "callSid": "CA1", "customParameters": {},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
    speech = voiced(800, rate=8000)
    frames = [speech[i:i + 320] for i in range(0, len(speech), 320)]
    silence = audio.silence(20, 8000)
    texts: list[str] = []
    for n in range(1500):
        pcm = frames[n - 150] if 150 <= n < 150 + len(frames) else silence
        await comm.send_to(text_data=_frame(pcm, n))
        while not await comm.receive_nothing(timeout=0.01):
            message = await comm.receive_output(timeout=5)
            if message["type"] == "websocket.close":
                await comm.disconnect()
                return message, texts
            texts.append(message.get("text") or "")
    raise AssertionError("the bot never ended the call")


@pytest.fixture
def asks_for_a_person(settings):
    settings.VOICE = {**settings.VOICE, "STT": {"PROVIDER": "fake", "OPTIONS": {"default": ASK_HUMAN}},
                      "TTS": {"PROVIDER": "fake", "OPTIONS": {"ms_per_char": 5}}}


def _call_log(call_id: int) -> dict:
    call = Call.objects.get(pk=call_id)
    return {"call": call, "kinds": list(call.events.values_list("kind", flat=True)),
            "ended": call.events.filter(to_status="ended").first(),
            "bot": list(call.turns.filter(speaker="bot").order_by("index").values_list("text", flat=True)),
            "user": list(call.turns.filter(speaker="user").values_list("text", "intent"))}


@pytest.mark.django_db(transaction=True)
async def test_a_callee_who_asks_for_a_person_hears_the_handoff_line_and_is_put_through(
        make_campaign, make_contact, asks_for_a_person):
    campaign = await database_sync_to_async(make_campaign)(telephony_provider="simulated")
    call = await database_sync_to_async(Call.objects.create)(campaign=campaign, contact=await database_sync_to_async(
        make_contact)(), provider="simulated", provider_call_id="sim-transfer-1")
    await database_sync_to_async(call_transition)(call_id=call.pk, to=Call.Status.DIALING)
    closed, _ = await _talk_until_closed(call)
    assert closed["code"] == 1000 and closed["reason"] == "transfer"
    got = await database_sync_to_async(_call_log)(call.pk)
    assert got["user"] == [(ASK_HUMAN, "ask_human")]
    assert got["bot"][-1] == "Соединяю вас с менеджером, оставайтесь, пожалуйста, на линии."
    assert got["kinds"].index("transfer_requested") < got["kinds"].index("transferred")
    assert ("sim-transfer-1", TransferTarget(queue="sales")) in SimulatedTelephony.transfers
    assert got["call"].transfer_target == "queue:sales" and got["call"].outcome == "completed"
    assert got["ended"].data["end_reason"] == "transfer"

    # the bot's part of the call is analysed as any other

    await database_sync_to_async(call_after_work)(call_id=call.pk)
    done = await database_sync_to_async(Call.objects.get)(pk=call.pk)
    assert done.status == "done" and done.summary and done.analysis


@pytest.mark.django_db(transaction=True)
async def test_a_twilio_call_is_put_through_with_a_dial_to_the_scripts_number(
        make_campaign, make_contact, asks_for_a_person, settings, server):
    settings.TELEPHONY = {**settings.TELEPHONY, "TWILIO": {"ACCOUNT_SID": TWILIO_SID, "AUTH_TOKEN": TWILIO_TOKEN,
                                                           "FROM_NUMBER": "+15550001111", "API_URL": server.url}}

    def setup() -> Call:
        script = make_campaign().script
        script.dialogue_map = {**script.dialogue_map, "transfer": {"to": PERSON}}  # the default handoff line
        script.save()
        campaign = make_campaign(telephony_provider="twilio", caller_id="+74950000000")
        call = Call.objects.create(campaign=campaign, contact=make_contact(), provider="twilio",
                                   provider_call_id="CA77")
        call_transition(call_id=call.pk, to=Call.Status.DIALING)
        return call

    call = await database_sync_to_async(setup)()
    closed, _ = await _talk_until_closed(call)
    assert closed["reason"] == "transfer"
    update = [r for r in server.requests if r.path.endswith("/Calls/CA77.json")]
    assert len(update) == 1 and "Status" not in update[0].form  # put through, never hung up
    dial = ElementTree.fromstring(update[0].form["Twiml"][0]).find("Dial")  # noqa: S314
    assert dial.get("callerId") == "+74950000000" and dial.find("Number").text == PERSON
    got = await database_sync_to_async(_call_log)(call.pk)
    assert got["call"].transfer_target == PERSON and "transferred" in got["kinds"]



# --- warm transfer: the summary so far on the call page ---------------------------------------------------------


@pytest.mark.django_db
def test_the_call_page_shows_the_summary_so_far_once_a_transfer_is_requested(client, operator, make_campaign,
                                                                             make_contact):
    call = Call.objects.create(campaign=make_campaign(), contact=make_contact())
    call_transition(call_id=call.pk, to=Call.Status.DIALING)
    call_transition(call_id=call.pk, to=Call.Status.IN_PROGRESS)
    lines = [("bot", "Здравствуйте! Удобно минутку поговорить?"), ("user", "да, давайте"),
             ("bot", "Подскажите, вы сейчас возите товары из Китая?"),
             ("user", "возим мебель, пишите на почту ivanov@stroytorg.ru"),
             ("bot", "Спасибо!"), ("user", ASK_HUMAN)]
    for i, (speaker, text) in enumerate(lines):
        Turn.objects.create(call=call, index=i, speaker=speaker, text=text)
    client.force_login(operator)
    page = client.get(f"/calls/{call.pk}/", headers={"Accept-Language": "en"}).content.decode()
    assert 'id="handoff"' not in page  # nothing to hand over yet

    call_transfer_requested(call_id=call.pk, target={"queue": "sales", "reason": "ask_human"})
    call_transfer_requested(call_id=call.pk, target={"queue": "sales", "reason": "ask_human"})  # once is enough
    assert CallEvent.objects.filter(call=call, kind="transfer_requested").count() == 1
    so_far = call_summary_so_far(call_id=call.pk)
    assert so_far.slots["email"] == "ivanov@stroytorg.ru" and so_far.turns == 6
    assert so_far.last_lines[-1] == ("user", ASK_HUMAN) and so_far.transfer["queue"] == "sales"
    part = client.get(f"/calls/{call.pk}/?part=summary", headers={"HX-Request": "true"}).content.decode()
    assert 'id="handoff"' in part and "ivanov@stroytorg.ru" in part and ASK_HUMAN in part
    assert so_far.summary and so_far.summary in part.replace("&#x27;", "'")


async def test_a_simulated_callee_set_to_ask_for_a_person_asks_in_its_first_answer():
    callee = SimulatedCallee(request=replace(REQUEST, language="ru"), seed="1", pace_speed=1.0, stt_mode="fake",
                             max_call_s=10, tts_name="fake", ask_human=True)
    callee.responder, callee.state, callee.tts = callee._responder(), ConversationState(language="ru"), _tts("fake")
    await callee._answer(b"\xff" * 160)
    # said aloud, for the bot's STT
    assert callee.transcript[-1] == ("user", simulated.ASK_HUMAN["ru"]) and callee.speech
    await callee._answer(b"\xff" * 160)
    said = [text for who, text in callee.transcript if who == "user"]
    assert len(said) == 2 and said[1] != simulated.ASK_HUMAN["ru"]  # then the persona takes over again

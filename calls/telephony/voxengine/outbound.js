/**
 * Outbound AI call (VoxEngine scenario), launched by calls.telephony.voximplant via StartScenarios.
 *
 * script_custom_data (JSON, at most 200 bytes): {"to", "from", "call": our call id, "t": the call's
 * signed media token, "b": our public base URL, "a": 1 when the campaign wants the AMD module};
 * callUrls() builds the media socket and the
 * result callback from them (calls.telephony.voximplant.custom_data checks they are Django's).
 * Dials the number over PSTN, connects the call audio to the media WebSocket (sendMediaTo both
 * ways: the callee's voice goes to the socket, the bot's audio from the socket is played into the
 * call), and reports the result to urls.result, signed: header X-Callback-Signature =
 * hex(HMAC-SHA256(CALLBACK_SECRET, timestamp + "." + body)), header X-Callback-Timestamp = unix seconds.
 * The body carries call_id: Django refuses a report whose call_id is not the one in the URL, and a
 * signature it has already seen (each report is taken once).
 *
 * Transfer to a human: Django POSTs {"command": "transfer", "to": "+7…" | "", "queue": "name" | "",
 * "caller_id": "+7…" | ""} to this session's media_session_access_url (AppEvents.HttpRequest) after the
 * bot's handoff line. The scenario stops streaming to the bot, dials the person with VoxEngine.callPSTN
 * (or puts the callee into the ACD queue with VoxEngine.enqueueACDRequest) and bridges both with
 * VoxEngine.sendMediaBetween; the answer {"ok": true} or {"ok": false, "error": "..."} is the response.
 * The callee's leg ends with the person's: whoever hangs up ends the session.
 *
 * Deploy: paste into a Voximplant application, bind to the rule whose id is VOXIMPLANT_RULE_ID, and
 * put the same secret as VOXIMPLANT_CALLBACK_SECRET into the application storage key
 * "callback_secret" (read below), so it never travels in custom data.
 */
require(Modules.ApplicationStorage);
require(Modules.AMD);
require(Modules.ACD);

function callUrls(d) {
  var base = String(d.b || "");
  return {
    media: base.replace(/^http/, "ws") + "/ws/calls/" + d.call + "/media/?token=" + d.t,
    result: base + "/calls/telephony/voximplant/status/" + d.call + "/"
  };
}

var data = JSON.parse(VoxEngine.customData() || "{}");
var urls = callUrls(data);
var secret = "";
var call = null;
var socket = null;
var answeredAt = 0;
var reported = false;
var transferring = false; // the callee is being handed to a person: our socket closing is no hang-up
var operator = null;

function report(event, extra) {
  if (reported && event !== "completed") { return Promise.resolve(); }
  reported = true;
  var body = JSON.stringify(Object.assign({
    event: event,
    call_id: data.call,
    session_id: VoxEngine.sessionId ? VoxEngine.sessionId() : "",
    duration: answeredAt ? Math.round((Date.now() - answeredAt) / 1000) : 0
  }, extra || {}));
  var ts = String(Math.floor(Date.now() / 1000));
  var signature = Crypto.hmac_sha256(secret, ts + "." + body);
  return Net.httpRequestAsync(urls.result, {
    method: "POST",
    postData: body,
    headers: [
      "Content-Type: application/json",
      "X-Callback-Timestamp: " + ts,
      "X-Callback-Signature: " + signature
    ]
  }).catch(function (e) { Logger.write("callback failed: " + e); });
}

function finish(event, extra) {
  report(event, extra).then(function () { VoxEngine.terminate(); });
}

function onConnected() {
  answeredAt = Date.now();
  report("answered");
  reported = false; // the final result still has to go out
  socket = VoxEngine.createWebSocket(urls.media);
  socket.addEventListener(WebSocketEvents.OPEN, function () {
    // The callee's voice to our pipeline, μ-law 8 kHz (voice.protocols.voximplant).
    call.sendMediaTo(socket, { encoding: WebSocketAudioEncoding.ULAW, tracks: ["inbound"],
                               customParameters: { call_id: String(data.call) } });
    // The bot's audio from the socket into the call.
    socket.sendMediaTo(call);
  });
  socket.addEventListener(WebSocketEvents.MESSAGE, function (e) {
    // Barge-in: the pipeline asks us to drop whatever bot audio is still buffered.
    try {
      var msg = JSON.parse(e.text || "{}");
      if (msg.event === "clear" && socket.clearMediaBuffer) { socket.clearMediaBuffer(); }
    } catch (err) { /* audio frames are not ours to parse */ }
  });
  socket.addEventListener(WebSocketEvents.CLOSE, function () {
    // The pipeline closes the socket when the script's flow ends the conversation: hang up,
    // unless the call is being handed to a person.
    if (call && !transferring) { call.hangup(); }
  });
}

function bridgeTo(personCall) {
  operator = personCall;
  VoxEngine.sendMediaBetween(call, operator);
  operator.addEventListener(CallEvents.Disconnected, function () { if (call) { call.hangup(); } });
}

function transfer(cmd) {
  if (!call || !answeredAt) { return { ok: false, error: "the call is not connected" }; }
  if (transferring) { return { ok: false, error: "already transferring" }; }
  if (!cmd.to === !cmd.queue) { return { ok: false, error: "give either to or queue" }; }
  transferring = true;
  if (socket) { socket.close(); } // the bot is off the call from here on
  if (cmd.queue) {
    var request = VoxEngine.enqueueACDRequest(cmd.queue, cmd.caller_id || data.from);
    request.addEventListener(ACDEvents.OperatorReached, function (e) { bridgeTo(e.operatorCall); });
    request.addEventListener(ACDEvents.Offline, function () { call.hangup(); });
    request.addEventListener(ACDEvents.Error, function () { call.hangup(); });
  } else {
    var person = VoxEngine.callPSTN(cmd.to, cmd.caller_id || data.from);
    person.addEventListener(CallEvents.Connected, function () { bridgeTo(person); });
    person.addEventListener(CallEvents.Failed, function () { call.hangup(); });
  }
  return { ok: true };
}

// Commands from Django to the running session (media_session_access_url): only "transfer" for now.
VoxEngine.addEventListener(AppEvents.HttpRequest, function (e) {
  var cmd;
  try { cmd = JSON.parse(e.content || "{}"); } catch (err) { return { ok: false, error: "not JSON" }; }
  if (!cmd || cmd.command !== "transfer") { return { ok: false, error: "unknown command" }; }
  return transfer(cmd);
});

VoxEngine.addEventListener(AppEvents.Started, function () {
  ApplicationStorage.get("callback_secret").then(function (kv) {
    secret = kv ? kv.value : "";
    // Answering-machine detection (issue 14): the verdict goes to our callback, whose answer says what to do:
    // {"action": "hang_up"} hangs up here; a message to leave is said by our media path after the beep.
    var amd = data.a ? AMD.create({ model: AMD.Model.RU }) : null;
    call = amd ? VoxEngine.callPSTN(data.to, data.from, { amd: amd }) : VoxEngine.callPSTN(data.to, data.from);
    if (amd) {
      amd.addEventListener(AMD.Events.DetectionComplete, function (e) {
        var answeredBy = e.resultClass === AMD.ResultClass.VOICEMAIL ? "machine_start"
          : e.resultClass === AMD.ResultClass.HUMAN ? "human" : "unknown";
        report("amd", { answered_by: answeredBy, confidence: e.confidence }).then(function (res) {
          reported = false; // the final result still has to go out
          var answer = {};
          try { answer = JSON.parse((res && res.text) || "{}"); } catch (err) { answer = {}; }
          if (answer.action === "hang_up" && call) { call.hangup(); }
        });
      });
    }
    call.addEventListener(CallEvents.Ringing, function () { report("ringing"); reported = false; });
    call.addEventListener(CallEvents.Connected, onConnected);
    call.addEventListener(CallEvents.Failed, function (e) {
      // SIP codes: 486/600 busy, 408/480/487 nobody answered, anything else is a failure.
      var code = e.code;
      var event = (code === 486 || code === 600) ? "busy"
        : (code === 408 || code === 480 || code === 487) ? "no_answer" : "failed";
      finish(event, { code: code, reason: e.reason || "" });
    });
    call.addEventListener(CallEvents.Disconnected, function () {
      if (socket) { socket.close(); }
      finish("completed");
    });
  });
});

// Live operator view: listens on the calls WebSocket and asks htmx to refresh the page's partials.
// Transcript lines and the bot's mind state are appended directly, as they arrive.
(function () {
  "use strict";
  var script = document.currentScript;
  var path = script.dataset.ws;
  var badge = document.getElementById("live-status");
  var retry = 1000;

  function setLive(on) {
    if (badge) { badge.textContent = on ? badge.dataset.on : badge.dataset.off; }
  }

  function appendTurn(speaker, text) {
    var box = document.getElementById("transcript");
    if (!box || !text) { return; }
    var empty = document.getElementById("no-turns");
    if (empty) { empty.remove(); }
    var p = document.createElement("p");
    var who = document.createElement("strong");
    who.textContent = (speaker === "bot" ? script.dataset.bot : script.dataset.user) + ": ";
    p.appendChild(who);
    p.appendChild(document.createTextNode(text));
    box.appendChild(p);
  }

  function onMessage(msg) {
    if (msg.kind === "status") {
      var live = badge && (badge.dataset.liveStatuses || "").split(" ");
      if (live && msg.to && live.indexOf(msg.to) < 0) {
        badge.dataset.on = badge.dataset.ended;  // the call is over: no «live» badge on it any more
        badge.textContent = badge.dataset.on;
      }
      document.body.dispatchEvent(new CustomEvent("calls-changed", { detail: msg }));
      return;
    }
    if (msg.kind === "transfer") {  // the bot puts the callee through: show the summary so far
      document.body.dispatchEvent(new CustomEvent("calls-changed", { detail: msg }));
      return;
    }
    if (msg.kind !== "pipeline" || !msg.event) { return; }
    var e = msg.event;
    if (e.type === "user_transcript" && e.final) { appendTurn("user", e.recognised === false ? "…" : e.text); }
    else if (e.type === "bot_turn") { appendTurn("bot", e.text); }
    else if (e.type === "state") {
      var mind = document.getElementById("mind");
      if (mind) {
        var labels = {};
        try { labels = JSON.parse(mind.dataset.labels || "{}"); } catch (err) { /* keep the code */ }
        mind.textContent = labels[e.state] || e.state;
        mind.dataset.state = e.state;
      }
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + location.host + path);
    ws.onopen = function () { retry = 1000; setLive(true); };
    ws.onmessage = function (ev) {
      try { onMessage(JSON.parse(ev.data)); } catch (err) { /* ignore a malformed frame */ }
    };
    ws.onclose = function () {
      setLive(false);
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }
  connect();
}());

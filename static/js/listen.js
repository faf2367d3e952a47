// Listen-in and takeover on a call's page: the call's mix (8 kHz PCM16 chunks) comes over
// ws/calls/<id>/listen/ and plays through an AudioWorklet; «Take over» sends the operator's microphone
// (16 kHz PCM16, 100 ms frames, the trainer's capture worklet) into the call while the bot is muted.
(function () {
  'use strict';
  const root = document.getElementById('listen');
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const L = root.dataset;

  // counters read by the browser tests (and handy in the console)
  const stats = window.callListen = {
    chunks: 0, bytes: 0, played: 0, underruns: 0, dropped: 0, peak: 0, sent: 0, takeover: false,
    states: [], closeCode: null, errors: [],
  };

  let ctx = null, player = null, ws = null, mic = null, capture = null, wanted = false;

  function setStatus(text) { $('listen-status').textContent = text || ''; }

  function setButtons(listening, takeover, othersHold) {
    $('listen-button').textContent = listening ? L.stopListen : L.listen;
    const take = $('takeover-button');
    take.hidden = !listening;
    take.disabled = !!othersHold;
    take.textContent = takeover ? L.handBack : L.takeOver;
    take.setAttribute('aria-pressed', takeover ? 'true' : 'false');
  }

  async function startListening() {
    wanted = true;
    $('listen-button').disabled = true;
    try {
      ctx = new AudioContext();
      await ctx.audioWorklet.addModule(L.playerUrl);
      await ctx.audioWorklet.addModule(L.captureUrl);
      player = new AudioWorkletNode(ctx, 'pcm-playback', {
        outputChannelCount: [1], processorOptions: { inputRate: 8000, startMs: 200, maxMs: 700 },
      });
      player.port.onmessage = (e) => {
        stats.played = e.data.played; stats.underruns = e.data.underruns;
        stats.dropped = e.data.dropped; stats.peak = e.data.peak;
      };
      player.connect(ctx.destination);
      await ctx.resume();
    } catch (err) {
      stats.errors.push('audio:' + (err && err.name));
      setStatus(L.noAudio);
      $('listen-button').disabled = false;
      return;
    }
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    ws = new WebSocket(scheme + location.host + L.ws);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      $('listen-button').disabled = false;
      setButtons(true, false, false);
      setStatus(L.listening);
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') {
        try { onState(JSON.parse(ev.data)); } catch (_) { /* a malformed frame */ }
        return;
      }
      stats.chunks++;
      stats.bytes += ev.data.byteLength;
      if (player) player.port.postMessage(ev.data, [ev.data]);
    };
    ws.onclose = (ev) => {
      stats.closeCode = ev.code;
      $('listen-button').disabled = false;
      const unexpected = wanted;
      stopListening();
      setStatus(unexpected ? (ev.code === 4403 ? L.forbidden : L.lost) : '');
    };
  }

  function stopListening() {
    wanted = false;
    stopMic();
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close();
    ws = null;
    if (ctx) ctx.close();
    ctx = null; player = null; capture = null;
    stats.takeover = false;
    setButtons(false, false, false);
    setStatus('');
  }

  function onState(msg) {
    stats.states.push(msg);
    if (msg.type !== 'takeover') return;
    if (msg.mine) {
      stats.takeover = msg.active;
      if (!msg.active) stopMic();
      setButtons(true, msg.active, false);
      if (msg.active) setStatus(L.speaking);
      else if (msg.refused === 'taken') setStatus(L.takenBy.replace('%(user)s', msg.user || '?'));
      else if (msg.refused) setStatus(L.notLive);
      else setStatus(L.listening);
    } else {
      setButtons(true, false, msg.active);
      setStatus(msg.active ? L.takenBy.replace('%(user)s', msg.user || '?') : L.listening);
    }
  }

  async function takeOver() {
    if (!ctx || !ws) return;
    $('takeover-button').disabled = true; // until the call answers: taken over, or refused
    try {
      // ?raw_mic turns the browser's voice processing off (headsets, tests with a fake microphone)
      const processing = !new URLSearchParams(location.search).has('raw_mic');
      mic = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing },
      });
    } catch (err) {
      stats.errors.push('mic:' + (err && err.name));
      setStatus(L.noMic);
      $('takeover-button').disabled = false;
      return;
    }
    const source = ctx.createMediaStreamSource(mic);
    capture = new AudioWorkletNode(ctx, 'pcm-capture', { processorOptions: { targetRate: 16000, frameSamples: 1600 } });
    capture.port.onmessage = (e) => {
      if (stats.takeover && ws && ws.readyState === WebSocket.OPEN) { ws.send(e.data); stats.sent++; }
    };
    // a silent sink keeps the worklet pulled by the graph without echoing the microphone
    const sink = ctx.createGain();
    sink.gain.value = 0;
    source.connect(capture);
    capture.connect(sink);
    sink.connect(ctx.destination);
    ws.send(JSON.stringify({ action: 'takeover' }));
  }

  function stopMic() {
    if (mic) mic.getTracks().forEach((t) => t.stop());
    mic = null;
    if (capture) { capture.port.onmessage = null; capture.disconnect(); }
    capture = null;
  }

  function handBack() {
    stopMic();
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ action: 'handback' }));
  }

  $('listen-button').addEventListener('click', () => { if (ws) stopListening(); else startListening(); });
  $('takeover-button').addEventListener('click', () => { if (stats.takeover) handBack(); else takeOver(); });
  window.addEventListener('pagehide', () => { if (ws) stopListening(); });
}());

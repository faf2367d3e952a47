// Live practice page: microphone -> AudioWorklet -> PCM16 16 kHz binary frames over the WebSocket;
// the customer's audio is scheduled back to back on the AudioContext timeline (no gaps), cleared
// at once on barge-in; transcript, mind state and latency come as JSON events.
// ElevenLabs mode talks to the agent directly over a signed URL and posts the transcript back.
(function () {
  'use strict';
  const root = document.getElementById('live');
  if (!root) return;
  const T = JSON.parse(document.getElementById('trainer-i18n').textContent);
  const $ = (id) => document.getElementById(id);
  const csrf = () => (root.querySelector('input[name=csrfmiddlewaretoken]') || {}).value || '';
  const RATE = 16000;

  // counters read by the browser tests (and handy in the console)
  const stats = window.trainer = {
    audioFrames: 0, audioBytes: 0, clears: 0, marksEchoed: 0, sentFrames: 0, interruptions: 0,
    finals: [], states: [], ended: false, closeCode: null, errors: [], playing: 0,
  };

  let ctx = null, mic = null, worklet = null, ws = null, ended = false;
  let playHead = 0;
  const sources = new Set();
  const markTimers = new Set();
  const botItems = {};
  const turns = []; // ElevenLabs mode: the transcript we post back

  function setStatus(text, kind) {
    const el = $('status');
    el.textContent = text;
    el.className = 'notice' + (kind ? ' ' + kind : '');
  }

  function addLine(speaker, text, extraClass) {
    const li = document.createElement('li');
    li.className = 'turn ' + speaker + (extraClass ? ' ' + extraClass : '');
    const who = document.createElement('strong');
    who.textContent = (speaker === 'user' ? T.you : T.customer) + ': ';
    const span = document.createElement('span');
    span.className = 'text';
    span.textContent = text;
    li.append(who, span);
    $('transcript').append(li);
    li.scrollIntoView({ block: 'nearest' });
    return li;
  }

  // --- audio out ---------------------------------------------------------------------------------

  function playPcm16(buffer, rate) {
    if (!ctx) return;
    const pcm = new Int16Array(buffer);
    if (!pcm.length) return;
    const floats = new Float32Array(pcm.length);
    for (let i = 0; i < pcm.length; i++) floats[i] = pcm[i] / 32768;
    const audioBuffer = ctx.createBuffer(1, floats.length, rate || RATE);
    audioBuffer.copyToChannel(floats, 0);
    const src = ctx.createBufferSource();
    src.buffer = audioBuffer;
    src.connect(ctx.destination);
    // a new burst starts a little ahead of now (jitter room); later frames follow back to back
    const now = ctx.currentTime;
    if (playHead < now + 0.01) playHead = now + 0.06;
    src.start(playHead);
    playHead += audioBuffer.duration;
    sources.add(src);
    stats.playing = sources.size;
    src.onended = () => { sources.delete(src); stats.playing = sources.size; };
    stats.audioFrames++;
    stats.audioBytes += buffer.byteLength;
  }

  function clearPlayback() {
    for (const src of sources) { try { src.stop(); } catch (_) { /* already stopped */ } }
    sources.clear();
    stats.playing = 0;
    for (const t of markTimers) clearTimeout(t);
    markTimers.clear(); // cleared audio was never played: its marks are never echoed
    if (ctx) playHead = ctx.currentTime;
    stats.clears++;
  }

  function echoMarkWhenPlayed(name) {
    const delay = ctx ? Math.max(0, playHead - ctx.currentTime) : 0;
    const timer = setTimeout(() => {
      markTimers.delete(timer);
      if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify({ type: 'mark', name })); stats.marksEchoed++; }
    }, delay * 1000);
    markTimers.add(timer);
  }

  // --- microphone --------------------------------------------------------------------------------

  async function openMic(onFrame) {
    try {
      // ?raw_mic turns the browser's voice processing off (headsets, tests with a fake microphone)
      const processing = !new URLSearchParams(location.search).has('raw_mic');
      mic = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing },
      });
    } catch (err) {
      const missing = err && (err.name === 'NotFoundError' || err.name === 'OverconstrainedError');
      setStatus(missing ? T.mic_missing : T.mic_denied, 'error');
      stats.errors.push('mic:' + (err && err.name));
      $('start-button').disabled = false;
      return false;
    }
    ctx = new AudioContext({ sampleRate: RATE });
    await ctx.resume();
    await ctx.audioWorklet.addModule(root.dataset.workletUrl);
    const source = ctx.createMediaStreamSource(mic);
    worklet = new AudioWorkletNode(ctx, 'pcm-capture', { processorOptions: { targetRate: RATE, frameSamples: 320 } });
    worklet.port.onmessage = (e) => onFrame(e.data);
    // a silent sink keeps the worklet pulled by the graph without echoing the microphone
    const sink = ctx.createGain();
    sink.gain.value = 0;
    source.connect(worklet);
    worklet.connect(sink);
    sink.connect(ctx.destination);
    return true;
  }

  function closeMic() {
    if (mic) mic.getTracks().forEach((t) => t.stop());
    mic = null;
    if (worklet) worklet.port.onmessage = null;
  }

  // --- the built-in pipeline ---------------------------------------------------------------------

  function onEvent(ev) {
    switch (ev.type) {
      case 'state': {
        const m = $('mind');
        let labels = {};
        try { labels = JSON.parse(m.dataset.labels || '{}'); } catch (_) { /* the code, then */ }
        m.textContent = labels[ev.state] || ev.state;
        m.dataset.state = ev.state;
        stats.states.push(ev.state);
        break;
      }
      case 'user_transcript':
        if (ev.final && ev.recognised === false) {
          // the trainee spoke but no transcript came: shown, not silently dropped
          $('partial').textContent = '';
          addLine('user', T.not_recognised, 'not-recognised');
          stats.unrecognised = (stats.unrecognised || 0) + 1;
        } else if (ev.final) {
          $('partial').textContent = '';
          addLine('user', ev.text);
          stats.finals.push(ev.text);
        } else {
          $('partial').textContent = ev.text + '…';
        }
        break;
      case 'bot_text': {
        const li = botItems[ev.turn_index] || (botItems[ev.turn_index] = addLine('bot', ''));
        const span = li.querySelector('.text');
        span.textContent = (span.textContent ? span.textContent + ' ' : '') + ev.text;
        break;
      }
      case 'bot_turn': {
        let li = botItems[ev.turn_index];
        if (li && ev.interrupted) {
          li.querySelector('.text').textContent = ev.text || '…';
          li.classList.add('interrupted');
        } else if (ev.voiced === false && (ev.full_text || '').trim()) {
          // the customer's voice failed: its words are still read here (as stored), marked as never heard
          li = li || (botItems[ev.turn_index] = addLine('bot', ''));
          li.querySelector('.text').textContent = ev.full_text;
          li.classList.add('not-voiced');
          if (!li.querySelector('.not-voiced-note')) {
            const note = document.createElement('span');
            note.className = 'muted small not-voiced-note';
            note.textContent = T.not_voiced;
            li.append(' ', note);
          }
          stats.unvoiced = (stats.unvoiced || 0) + 1;
        }
        break;
      }
      case 'interruption': {
        stats.interruptions++;
        const li = botItems[ev.turn_index];
        if (li && !li.querySelector('.badge')) {
          const badge = document.createElement('span');
          badge.className = 'badge interrupted-badge';
          badge.textContent = T.interrupted;
          li.append(' ', badge);
        }
        break;
      }
      case 'metrics':
        // only a measured answer to something the trainee said: no «0 ms» before the first turn
        if (ev.voice_to_voice_ms > 0) $('latency').textContent = Math.round(ev.voice_to_voice_ms) + ' ' + T.ms;
        break;
      case 'error': {
        // a vendor failed mid-conversation (the pipeline goes on with a fallback): say which part, not silence
        stats.errors.push(ev.stage + ':' + ev.message);
        const text = T['provider_' + ev.stage];
        if (text) { setStatus(text, 'error'); stats.providerErrors = (stats.providerErrors || 0) + 1; }
        break;
      }
    }
  }

  function connectPipeline() {
    const proto = location.protocol === 'https:' ? 'wss://' : 'ws://';
    ws = new WebSocket(proto + location.host + root.dataset.wsPath);
    ws.binaryType = 'arraybuffer';
    setStatus(T.connecting);
    ws.onopen = () => { setStatus(T.listening, 'ok'); $('end-button').disabled = false; $('end-form').hidden = true; };
    ws.onmessage = (e) => {
      if (typeof e.data !== 'string') { playPcm16(e.data, RATE); return; }
      let msg;
      try { msg = JSON.parse(e.data); } catch (_) { return; }
      if (msg.type === 'event') onEvent(msg.event);
      else if (msg.type === 'clear') clearPlayback();
      else if (msg.type === 'mark') echoMarkWhenPlayed(msg.name);
      else if (msg.type === 'ended') { ended = stats.ended = true; stats.reviewUrl = msg.review_url; setStatus(T.ended, 'ok'); }
      else if (msg.type === 'error') stats.errors.push('close:' + msg.code + ':' + msg.reason);
    };
    ws.onclose = (e) => {
      stats.closeCode = e.code;
      $('end-button').disabled = true;
      if (ended) {
        closeMic();
        // let the goodbye finish playing, then open the review
        const wait = ctx ? Math.max(0, playHead - ctx.currentTime) : 0;
        setTimeout(() => { location.href = stats.reviewUrl || root.dataset.reviewUrl; }, Math.min(wait, 3) * 1000 + 300);
        return;
      }
      clearPlayback();
      if (e.code === 4403 || e.code === 4410) { setStatus(T.refused, 'error'); return; }
      if (e.code === 4503) { setStatus(T.providers_unavailable, 'error'); $('end-form').hidden = false; return; }
      // the server's protocol closes (bad frame, too big, too fast, out of order): always 4xxx
      setStatus([4003, 4007, 4008, 4009, 4400, 4408, 4409, 4415].includes(e.code) ? T.protocol : T.dropped, 'error');
      $('end-form').hidden = false;
    };
  }

  function sendFrame(buffer) {
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(buffer); stats.sentFrames++; }
  }

  // --- ElevenLabs Conversational AI --------------------------------------------------------------

  function b64ToBuffer(b64) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes.buffer;
  }

  function bufferToB64(buffer) {
    const bytes = new Uint8Array(buffer);
    let bin = '';
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin);
  }

  async function connectElevenLabs() {
    setStatus(T.connecting);
    let url;
    try {
      const r = await fetch(root.dataset.signedUrlEndpoint, { method: 'POST', headers: { 'X-CSRFToken': csrf() } });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      url = (await r.json()).signed_url;
    } catch (err) {
      setStatus(T.signed_url_failed, 'error');
      stats.errors.push('signed_url:' + err);
      $('start-button').disabled = false;
      return;
    }
    let outRate = RATE;
    const started = performance.now();
    ws = new WebSocket(url);
    ws.onopen = () => { setStatus(T.listening, 'ok'); $('end-button').disabled = false; };
    ws.onmessage = (e) => {
      let msg;
      try { msg = JSON.parse(e.data); } catch (_) { return; }
      const at = Math.round(performance.now() - started);
      switch (msg.type) {
        case 'conversation_initiation_metadata': {
          const fmt = (msg.conversation_initiation_metadata_event || {}).agent_output_audio_format || 'pcm_16000';
          const m = /pcm_(\d+)/.exec(fmt);
          if (m) outRate = Number(m[1]);
          break;
        }
        case 'audio':
          playPcm16(b64ToBuffer(msg.audio_event.audio_base_64), outRate);
          break;
        case 'agent_response': {
          const text = msg.agent_response_event.agent_response;
          addLine('bot', text);
          turns.push({ speaker: 'bot', text, started_ms: at });
          break;
        }
        case 'user_transcript': {
          const text = msg.user_transcription_event.user_transcript;
          addLine('user', text);
          turns.push({ speaker: 'user', text, started_ms: at });
          stats.finals.push(text);
          break;
        }
        case 'interruption': {
          clearPlayback();
          stats.interruptions++;
          const last = [...turns].reverse().find((t) => t.speaker === 'bot');
          if (last) last.interrupted = true;
          break;
        }
        case 'ping':
          ws.send(JSON.stringify({ type: 'pong', event_id: msg.ping_event.event_id }));
          break;
      }
    };
    ws.onclose = (e) => {
      stats.closeCode = e.code;
      if (!ended) { setStatus(T.dropped, 'error'); $('end-form').hidden = false; }
    };
  }

  async function finishElevenLabs() {
    ended = true;
    if (ws) ws.close(1000);
    closeMic();
    clearPlayback();
    const r = await fetch(root.dataset.transcriptEndpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf() },
      body: JSON.stringify({ turns }),
    });
    const data = await r.json().catch(() => ({}));
    stats.ended = r.ok;
    if (r.ok) { setStatus(T.ended, 'ok'); location.href = data.review_url || root.dataset.reviewUrl; }
    else setStatus(data.error || T.dropped, 'error');
  }

  // --- buttons -----------------------------------------------------------------------------------

  const elevenlabs = root.dataset.mode === 'elevenlabs';

  $('start-button').addEventListener('click', async () => {
    $('start-button').disabled = true;
    const onFrame = elevenlabs
      ? (buf) => { if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify({ user_audio_chunk: bufferToB64(buf) })); stats.sentFrames++; } }
      : sendFrame;
    if (!(await openMic(onFrame))) return;
    if (elevenlabs) connectElevenLabs(); else connectPipeline();
  });

  $('end-button').addEventListener('click', () => {
    if (elevenlabs) { finishElevenLabs(); return; }
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'end' }));
    else $('end-form').submit();
  });

  $('reconnect-button').addEventListener('click', () => {
    if (!mic) { $('start-button').click(); return; }
    if (elevenlabs) connectElevenLabs(); else connectPipeline();
  });

  window.addEventListener('beforeunload', () => { if (ws && !ended) ws.close(); });
})();

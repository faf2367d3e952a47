// Review page: the score arrives by push over the session's review socket (no polling), then htmx
// fetches the ready review block. Transcript buttons seek the recording.
(function () {
  'use strict';
  const holder = document.getElementById('review-socket');
  let tries = 0;
  const open = () => {
    const proto = location.protocol === 'https:' ? 'wss://' : 'ws://';
    const ws = new WebSocket(proto + location.host + holder.dataset.wsPath);
    window.reviewSocket = ws;
    ws.onmessage = (e) => {
      let msg;
      try { msg = JSON.parse(e.data); } catch (_) { return; }
      if (msg.type !== 'session') return;
      const review = document.getElementById('review');
      const shown = review ? review.dataset.status : '';
      if ((msg.status === 'scored' || msg.status === 'failed') && shown !== msg.status) {
        htmx.ajax('GET', holder.dataset.reviewUrl, { target: '#review', swap: 'outerHTML' });
      }
    };
    ws.onclose = (e) => {
      // a restarted server or a network blip: come back a few times, the group keeps no state
      if (e.code !== 4403 && tries++ < 5) setTimeout(open, 1000 * tries);
    };
  };
  const waiting = () => {
    const review = document.getElementById('review');
    return !review || review.dataset.status !== 'scored';
  };
  if (holder && waiting()) open();
  // a new review block (the finished review, or a manager's "score again"): show its status in
  // words, and listen again when it is waiting for a score
  document.body.addEventListener('htmx:afterSwap', () => {
    const review = document.getElementById('review');
    const status = document.getElementById('session-status');
    if (review && status && review.dataset.statusLabel) status.textContent = review.dataset.statusLabel;
    const ws = window.reviewSocket;
    if (holder && waiting() && (!ws || ws.readyState > WebSocket.OPEN)) { tries = 0; open(); }
  });
  const audio = document.getElementById('recording');
  document.querySelectorAll('button.seek').forEach((b) => b.addEventListener('click', () => {
    if (!audio) return;
    audio.currentTime = Number(b.dataset.start) / 1000;
    audio.play();
  }));
})();

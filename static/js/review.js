// Review page: the score arrives by push over the session's review socket (no polling), then htmx
// fetches the ready review block. Transcript buttons seek the recording.
(function () {
  'use strict';
  const holder = document.getElementById('review-socket');
  if (holder) {
    const proto = location.protocol === 'https:' ? 'wss://' : 'ws://';
    let tries = 0;
    const open = () => {
      const ws = new WebSocket(proto + location.host + holder.dataset.wsPath);
      window.reviewSocket = ws;
      ws.onmessage = (e) => {
        let msg;
        try { msg = JSON.parse(e.data); } catch (_) { return; }
        if (msg.type !== 'session') return;
        const review = document.getElementById('review');
        const shown = review ? review.dataset.status : '';
        const status = document.getElementById('session-status');
        if ((msg.status === 'scored' || msg.status === 'failed') && shown !== msg.status) {
          htmx.ajax('GET', holder.dataset.reviewUrl, { target: '#review', swap: 'outerHTML' });
          if (status) status.textContent = msg.status;
        }
      };
      ws.onclose = (e) => {
        // a restarted server or a network blip: come back a few times, the group keeps no state
        if (e.code !== 4403 && tries++ < 5) setTimeout(open, 1000 * tries);
      };
    };
    const review = document.getElementById('review');
    if (!review || review.dataset.status !== 'scored') open();
  }
  const audio = document.getElementById('recording');
  document.querySelectorAll('button.seek').forEach((b) => b.addEventListener('click', () => {
    if (!audio) return;
    audio.currentTime = Number(b.dataset.start) / 1000;
    audio.play();
  }));
})();

// AudioWorklet: plays PCM16 mono chunks posted by the page (a live call's mix, 8 kHz) at the context's rate.
// A small jitter buffer: playback starts once startMs is queued, and never lags more than maxMs behind
// (older chunks are dropped), so the operator hears the call well under a second late.
class PcmPlayback extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.inRate = opts.inputRate || 8000;
    this.step = this.inRate / sampleRate; // input samples per output sample
    this.startSamples = Math.round(this.inRate * (opts.startMs || 200) / 1000);
    this.maxSamples = Math.round(this.inRate * (opts.maxMs || 700) / 1000);
    this.queue = [];
    this.current = null;
    this.pos = 0;
    this.buffered = 0; // input samples queued, the current chunk included
    this.started = false;
    this.stats = { played: 0, underruns: 0, dropped: 0, peak: 0 };
    this.quanta = 0;
    this.port.onmessage = (e) => this.enqueue(e.data);
  }

  enqueue(buffer) {
    if (!(buffer instanceof ArrayBuffer)) { if (buffer && buffer.type === 'clear') this.reset(); return; }
    const pcm = new Int16Array(buffer);
    const chunk = new Float32Array(pcm.length);
    for (let i = 0; i < pcm.length; i++) chunk[i] = pcm[i] / 32768;
    this.queue.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered > this.maxSamples && this.queue.length > 1) {
      this.buffered -= this.queue.shift().length;
      this.stats.dropped++;
    }
  }

  reset() {
    this.queue = [];
    this.current = null;
    this.pos = 0;
    this.buffered = 0;
    this.started = false;
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    if (!this.started && this.buffered >= this.startSamples) this.started = true;
    if (!this.started) {
      out.fill(0);
    } else {
      for (let i = 0; i < out.length; i++) {
        if (!this.current) {
          this.current = this.queue.shift() || null;
          if (!this.current) { // ran dry: wait for the jitter buffer to fill again
            this.started = false;
            this.stats.underruns++;
            out.fill(0, i);
            break;
          }
        }
        const idx = Math.floor(this.pos);
        const a = this.current[idx];
        const b = idx + 1 < this.current.length ? this.current[idx + 1] : a;
        const s = a + (b - a) * (this.pos - idx);
        out[i] = s;
        if (Math.abs(s) > this.stats.peak) this.stats.peak = Math.abs(s);
        this.pos += this.step;
        if (this.pos >= this.current.length) {
          this.pos -= this.current.length;
          this.buffered -= this.current.length;
          this.current = null;
          this.stats.played++;
        }
      }
    }
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    if (++this.quanta % 20 === 0) this.port.postMessage(this.stats);
    return true;
  }
}

registerProcessor('pcm-playback', PcmPlayback);

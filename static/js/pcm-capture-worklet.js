// AudioWorklet: the microphone as PCM16 mono 16 kHz, posted in 20 ms frames (640 bytes) to the page.
// The page usually runs its AudioContext at 16 kHz already; otherwise we resample linearly here.
class PcmCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.targetRate = opts.targetRate || 16000;
    this.frameSamples = opts.frameSamples || 320;
    this.ratio = sampleRate / this.targetRate; // input samples per output sample
    this.pos = 0; // fractional read position carried between render quanta
    this.prev = 0;
    this.frame = new Int16Array(this.frameSamples);
    this.filled = 0;
    this.muted = false;
    this.port.onmessage = (e) => { if (e.data && e.data.type === 'mute') this.muted = !!e.data.value; };
  }

  push(sample) {
    const s = Math.max(-1, Math.min(1, sample));
    this.frame[this.filled++] = s < 0 ? s * 0x8000 : s * 0x7fff;
    if (this.filled === this.frameSamples) {
      const out = this.frame;
      this.port.postMessage(out.buffer, [out.buffer]);
      this.frame = new Int16Array(this.frameSamples);
      this.filled = 0;
    }
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel || this.muted) return true;
    if (this.ratio === 1) {
      for (let i = 0; i < channel.length; i++) this.push(channel[i]);
      return true;
    }
    // linear interpolation between the previous quantum's last sample and this quantum
    let pos = this.pos;
    while (pos < channel.length) {
      const i = Math.floor(pos);
      const frac = pos - i;
      const a = i - 1 < 0 ? this.prev : channel[i - 1];
      const b = channel[i];
      this.push(a + (b - a) * frac);
      pos += this.ratio;
    }
    this.pos = pos - channel.length;
    this.prev = channel[channel.length - 1];
    return true;
  }
}

registerProcessor('pcm-capture', PcmCapture);

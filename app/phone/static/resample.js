// A streaming band-limited resampler: windowed-sinc interpolation (Blackman window).
// Each output sample is the input convolved with a low-pass sinc centred on its exact time,
// so one filter does both jobs: anti-aliasing before decimation (48 kHz microphone to 8 kHz)
// and anti-imaging after interpolation (8 kHz agent audio to the sound card's rate). Its
// pass band ends at 0.45 of the lower rate (3.6 kHz for telephone audio), past the 3.4 kHz
// of a phone line. Linear interpolation would fold a microphone's 4-24 kHz back into the call.
// State carries across push() calls: chunk edges are invisible in the output.

const PHASES = 256; // kernel table resolution per input sample (linear between phases)

function blackman(x) { // x in [-1, 1]
  return 0.42 + 0.5 * Math.cos(Math.PI * x) + 0.08 * Math.cos(2 * Math.PI * x);
}

export class Resampler {
  constructor(fromRate, toRate, { zeros = 8, passBand = 0.45 } = {}) {
    this.step = fromRate / toRate; // input samples per output sample
    const cutoff = (passBand * Math.min(fromRate, toRate)) / fromRate; // cycles per input sample
    this.gain = 2 * cutoff;
    this.half = Math.ceil(zeros / (2 * cutoff)); // kernel half-width, in input samples
    const n = this.half * PHASES;
    this.table = new Float32Array(n + 2);
    for (let i = 0; i <= n + 1; i += 1) {
      const d = i / PHASES;
      const x = 2 * cutoff * d;
      const sinc = d === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      this.table[i] = d >= this.half ? 0 : this.gain * sinc * blackman(d / this.half);
    }
    // Input history; `base` is the absolute index of buf[0]. Before the first sample: zeros.
    this.buf = new Float32Array(4096);
    this.len = 0;
    this.base = -this.half;
    this.len = this.half; // the zero history
    this.next = 0; // absolute input time of the next output sample
    this.produced = 0;
  }

  /** The kernel at distance d (input samples), from the table. */
  kernel(d) {
    const a = Math.abs(d) * PHASES;
    const i = Math.floor(a);
    if (i >= this.table.length - 1) { return 0; }
    const f = a - i;
    return this.table[i] + (this.table[i + 1] - this.table[i]) * f;
  }

  /** Add input samples; return every output sample they complete (a new Float32Array). */
  push(input) {
    this.append(input);
    const end = this.base + this.len; // one past the last input sample held
    const out = [];
    while (Math.floor(this.next) + this.half < end) {
      const t = this.next;
      const first = Math.floor(t) - this.half + 1;
      let acc = 0;
      for (let k = first; k <= Math.floor(t) + this.half; k += 1) {
        acc += this.buf[k - this.base] * this.kernel(t - k);
      }
      out.push(acc);
      this.produced += 1;
      this.next = this.produced * this.step;
    }
    this.trim();
    return Float32Array.from(out);
  }

  append(input) {
    if (this.len + input.length > this.buf.length) {
      const grown = new Float32Array(Math.max(this.buf.length * 2, this.len + input.length));
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
    }
    this.buf.set(input, this.len);
    this.len += input.length;
  }

  trim() { // forget input no output can need any more
    const keepFrom = Math.floor(this.next) - this.half + 1;
    const drop = keepFrom - this.base;
    if (drop > 1024) {
      this.buf.copyWithin(0, drop, this.len);
      this.len -= drop;
      this.base += drop;
    }
  }
}

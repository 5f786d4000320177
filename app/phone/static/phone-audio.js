// The dev phone's audio, without the Web Audio plumbing (the worklet wires it; the tests
// drive it directly): Capture turns microphone samples into 20 ms mu-law frames, Playout
// plays the agent's mu-law at the sound card's pace and keeps Twilio's rules for marks.

import { decodeToFloats, encodeFloats } from "./g711.js";
import { Resampler } from "./resample.js";

export const RATE = 8000; // Twilio Media Streams: mu-law, 8 kHz, mono
export const FRAME = 160; // 20 ms at 8 kHz: what Twilio sends in each media frame

/** Microphone samples (any rate) to 160-byte mu-law frames. */
export class Capture {
  constructor(inRate) {
    this.down = new Resampler(inRate, RATE);
    this.pending = new Float32Array(FRAME);
    this.fill = 0;
  }

  /** Push one block of input; returns the frames it completed (each a new Uint8Array). */
  push(input) {
    const samples = this.down.push(input);
    const frames = [];
    let i = 0;
    while (i < samples.length) {
      const take = Math.min(FRAME - this.fill, samples.length - i);
      this.pending.set(samples.subarray(i, i + take), this.fill);
      this.fill += take;
      i += take;
      if (this.fill === FRAME) {
        frames.push(encodeFloats(this.pending));
        this.fill = 0;
      }
    }
    return frames;
  }
}

/**
 * The agent's audio, played as Twilio plays it: in order, at the real pace, with marks.
 *
 * The 8 kHz stream into the resampler never stops (silence when nothing is queued), so
 * there is no edge between chunks, nor between speech and silence, to click at. A talk spurt
 * starts `prebufferMs` after its first audio arrives, which absorbs the network's jitter.
 * Twilio's rules: a mark comes back once all audio sent before it has played (at once when
 * nothing is queued); `clear` drops what is queued and gives back its marks at once.
 */
export class Playout {
  constructor(outRate, { prebufferMs = 80, fadeMs = 4 } = {}) {
    this.up = new Resampler(RATE, outRate);
    this.ratio = RATE / outRate;
    this.prebuffer = (prebufferMs * RATE) / 1000;
    this.fade = (fadeMs * RATE) / 1000;
    this.queue = []; // {audio: Float32Array, at: number} or {mark: string}, in arrival order
    this.queuedSamples = 0;
    this.fed = 0; // 8 kHz samples fed to the resampler (the playout timeline)
    this.rendered = 0; // output samples rendered so far
    this.armed = []; // {name, at}: marks whose audio is all fed; they fire once played
    this.out = new Float32Array(0); // resampled, not yet rendered
    this.holding = 0; // silence still to feed before a new talk spurt starts
    this.idle = true;
    this.playedAudio = 0; // 8 kHz samples of agent audio played (for diagnostics)
  }

  /** Queue mu-law bytes from a `media` frame. */
  push(bytes) {
    if (bytes.length === 0) { return; }
    if (this.idle) { // a new talk spurt: wait a little so it does not run dry
      this.idle = false;
      this.holding = this.prebuffer;
    }
    this.queue.push({ audio: decodeToFloats(bytes), offset: 0 });
    this.queuedSamples += bytes.length;
  }

  /** Queue a mark after the audio queued so far. */
  mark(name) {
    this.queue.push({ mark: name });
  }

  /** Drop the queued audio (after a few ms of fade-out) and return every pending mark. */
  clear() {
    const names = this.armed.map((m) => m.name);
    this.armed = [];
    let fade = this.holding > 0 ? 0 : this.fade; // nothing audible yet: nothing to fade
    const kept = [];
    for (const item of this.queue) {
      if (item.mark !== undefined) {
        names.push(item.mark);
      } else if (fade > 0) {
        const rest = item.audio.subarray(item.offset, item.offset + Math.min(fade, item.audio.length - item.offset));
        const ramp = Float32Array.from(rest);
        for (let i = 0; i < ramp.length; i += 1) {
          ramp[i] *= 1 - (this.fade - fade + i + 1) / (this.fade + 1);
        }
        fade -= ramp.length;
        kept.push({ audio: ramp, offset: 0 });
      }
    }
    this.queue = kept;
    this.queuedSamples = kept.reduce((n, item) => n + item.audio.length, 0);
    this.holding = 0;
    return names;
  }

  /** Feed `count` 8 kHz samples to the resampler: queued audio, or silence. */
  feed(count) {
    const block = new Float32Array(count);
    let filled = 0;
    while (filled < count) {
      if (this.holding > 0) {
        const n = Math.min(this.holding, count - filled);
        this.holding -= n;
        filled += n; // zeros
        continue;
      }
      const head = this.queue[0];
      if (head === undefined) {
        this.idle = true;
        break;
      }
      if (head.mark !== undefined) { // everything before it is fed: it fires once played
        this.armed.push({ name: head.mark, at: this.fed + filled });
        this.queue.shift();
        continue;
      }
      const n = Math.min(head.audio.length - head.offset, count - filled);
      block.set(head.audio.subarray(head.offset, head.offset + n), filled);
      head.offset += n;
      filled += n;
      this.queuedSamples -= n;
      this.playedAudio += n;
      if (head.offset === head.audio.length) { this.queue.shift(); }
    }
    this.fed += count;
    return block;
  }

  /** Fill one output block; returns the names of the marks whose audio has now played. */
  render(output) {
    while (this.out.length < output.length) {
      const need = Math.ceil((output.length - this.out.length) * this.ratio) + 1;
      const more = this.up.push(this.feed(need));
      const joined = new Float32Array(this.out.length + more.length);
      joined.set(this.out);
      joined.set(more, this.out.length);
      this.out = joined;
    }
    output.set(this.out.subarray(0, output.length));
    this.out = this.out.slice(output.length);
    this.rendered += output.length;
    const played = this.rendered * this.ratio; // the playout timeline, in 8 kHz samples
    const fired = [];
    while (this.armed.length > 0 && this.armed[0].at <= played) {
      fired.push(this.armed.shift().name);
    }
    return fired;
  }
}

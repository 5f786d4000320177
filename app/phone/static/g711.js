// G.711 mu-law as the ITU-T reference (and Sun's g711.c) does it: the same codes as
// app/lib/audio.py for every 16-bit sample and every byte (tests/phone checks both ways).
// An ES module: the AudioWorklet imports it, and so do the tests in the page.

const BIAS = 0x84; // G.711: added to the magnitude before the segment search
const CLIP = 32635; // G.711: the largest magnitude that still fits after the bias
export const ULAW_SILENCE = 0xff; // decodes to 0; what telephone systems send as silence

/** Encode one signed 16-bit sample (clipped to int16) to its mu-law byte. */
export function encodeSample(sample) {
  let s = Math.max(-32768, Math.min(32767, Math.round(sample)));
  let sign = 0;
  if (s < 0) {
    s = -s;
    sign = 0x80;
  }
  if (s > CLIP) { s = CLIP; }
  s += BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) { exponent -= 1; }
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** Decode one mu-law byte to a signed 16-bit sample (-32124..32124). */
export function decodeSample(code) {
  const u = ~code & 0xff;
  const exponent = (u >> 4) & 0x07;
  const magnitude = ((((u & 0x0f) << 3) + BIAS) << exponent) - BIAS;
  return u & 0x80 ? -magnitude : magnitude;
}

// Tables: the audio thread encodes 8000 and decodes 8000 samples a second per direction.
const ENCODE = new Uint8Array(65536); // indexed by sample + 32768
for (let i = 0; i < 65536; i += 1) { ENCODE[i] = encodeSample(i - 32768); }
const DECODE = new Int16Array(256);
for (let c = 0; c < 256; c += 1) { DECODE[c] = decodeSample(c); }

/** Float samples (-1..1, Web Audio's range) to mu-law bytes; full scale is 32768. */
export function encodeFloats(floats, out = new Uint8Array(floats.length)) {
  for (let i = 0; i < floats.length; i += 1) {
    const s = Math.round(floats[i] * 32768);
    out[i] = ENCODE[(s < -32768 ? -32768 : s > 32767 ? 32767 : s) + 32768];
  }
  return out;
}

/** Mu-law bytes to float samples (-1..1). */
export function decodeToFloats(bytes, out = new Float32Array(bytes.length)) {
  for (let i = 0; i < bytes.length; i += 1) { out[i] = DECODE[bytes[i]] / 32768; }
  return out;
}

/** Int16 samples to mu-law bytes through the table (what the tests compare with Python). */
export function encodeInt16(samples) {
  const out = new Uint8Array(samples.length);
  for (let i = 0; i < samples.length; i += 1) {
    const s = Math.max(-32768, Math.min(32767, Math.round(samples[i])));
    out[i] = ENCODE[s + 32768];
  }
  return out;
}

/** Mu-law bytes to int16 samples through the table. */
export function decodeInt16(bytes) {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i += 1) { out[i] = DECODE[bytes[i]]; }
  return out;
}

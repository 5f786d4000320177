// The dev phone's AudioWorklet: the microphone in, the agent out, on the audio thread, so
// neither direction waits on the page's main thread. The work is done in phone-audio.js.

import { Capture, Playout } from "./phone-audio.js";

class PhoneProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.capture = new Capture(sampleRate); // sampleRate: the AudioContext's, a worklet global
    this.playout = new Playout(sampleRate);
    this.capturing = false;
    this.port.onmessage = (event) => this.receive(event.data);
  }

  receive(message) {
    switch (message.type) {
      case "media":
        this.playout.push(message.payload);
        break;
      case "mark":
        this.playout.mark(message.name);
        break;
      case "clear": {
        const names = this.playout.clear();
        if (names.length > 0) { this.port.postMessage({ type: "marks", names }); }
        break;
      }
      case "capture":
        this.capturing = Boolean(message.on);
        break;
      default:
        break;
    }
  }

  process(inputs, outputs) {
    const input = inputs[0];
    if (this.capturing && input && input.length > 0) {
      for (const frame of this.capture.push(input[0])) {
        this.port.postMessage({ type: "media", payload: frame }, [frame.buffer]);
      }
    }
    const output = outputs[0];
    const fired = this.playout.render(output[0]);
    for (let channel = 1; channel < output.length; channel += 1) { output[channel].set(output[0]); }
    if (fired.length > 0) { this.port.postMessage({ type: "marks", names: fired }); }
    return true;
  }
}

registerProcessor("phone-processor", PhoneProcessor);

// The dev phone's page: places a call, then plays Twilio's part of Media Streams over a
// WebSocket (connected, start, 20 ms media, mark, dtmf, stop in; media, mark, clear out),
// and shows the live transcript, tool calls and simulated transfers the server reports.
// Text from the call is set with textContent, never as HTML.

const root = document.getElementById("phone");
const $ = (id) => document.getElementById(id);
const statusLine = $("phone-status");
const callButton = $("call-button");
const hangupButton = $("hangup-button");
const keys = Array.from(document.querySelectorAll(".keypad .key"));
const transcript = $("phone-transcript");
const transferPanel = $("transfer");
const ACCOUNT = "AC" + "0".repeat(32); // the page stands in for Twilio's account

let audio = null; // {context, node, microphone}
let leg = null; // the current stream: {ws, callSid, streamSid, seq, chunk, startedAt, transferring}
let callSid = null;
let pinned = ""; // "?machine=<id>": the Machine that placed the call holds it (Fly fleet)
const tools = new Map(); // tool call id -> its list item

function hex(bytes) {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 1) { text += String.fromCharCode(bytes[i]); }
  return btoa(text);
}

function fromBase64(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i += 1) { bytes[i] = raw.charCodeAt(i); }
  return bytes;
}

function setStatus(text) { statusLine.textContent = text; }

function setInCall(inCall) {
  callButton.disabled = inCall;
  hangupButton.disabled = !inCall;
  keys.forEach((key) => { key.disabled = !inCall; });
}

async function post(url, fields) {
  const body = new URLSearchParams({ csrf_token: root.dataset.csrf, ...fields });
  const response = await fetch(url, { method: "POST", body, credentials: "same-origin" });
  let data = {};
  try { data = await response.json(); } catch (error) { data = {}; }
  if (!response.ok) { throw new Error(data.error || `The service answered ${response.status}.`); }
  return data;
}

async function startAudio() {
  if (audio !== null) { return audio; }
  const microphone = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  const context = new AudioContext({ latencyHint: "interactive" });
  await context.audioWorklet.addModule(root.dataset.workletUrl);
  const node = new AudioWorkletNode(context, "phone-processor", {
    numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
  });
  context.createMediaStreamSource(microphone).connect(node);
  node.connect(context.destination);
  node.port.onmessage = (event) => fromWorklet(event.data);
  await context.resume();
  audio = { context, node, microphone };
  return audio;
}

function stopAudio() {
  if (audio === null) { return; }
  audio.microphone.getTracks().forEach((track) => track.stop());
  audio.context.close();
  audio = null;
}

function send(frame) {
  if (leg !== null && leg.ws.readyState === WebSocket.OPEN) { leg.ws.send(JSON.stringify(frame)); }
}

function fromWorklet(message) {
  if (leg === null) { return; }
  if (message.type === "media") {
    leg.chunk += 1;
    leg.seq += 1;
    send({
      event: "media",
      sequenceNumber: String(leg.seq),
      streamSid: leg.streamSid,
      media: {
        track: "inbound",
        chunk: String(leg.chunk),
        timestamp: String(Math.round(performance.now() - leg.startedAt)),
        payload: toBase64(message.payload),
      },
    });
  } else if (message.type === "marks") {
    // Twilio: a mark comes back once the audio sent before it has played (or was cleared).
    message.names.forEach((name) => {
      leg.seq += 1;
      send({ event: "mark", sequenceNumber: String(leg.seq), streamSid: leg.streamSid, mark: { name } });
    });
  }
}

function toWorklet(message, transfer) {
  if (audio !== null) { audio.node.port.postMessage(message, transfer || []); }
}

function openLeg(sid, token, resume) {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + location.host + root.dataset.streamUrl + pinned);
  const current = { ws, callSid: sid, streamSid: "MZ" + hex(16), seq: 0, chunk: 0, startedAt: 0, transferring: false };
  leg = current;
  ws.onopen = () => {
    current.startedAt = performance.now();
    ws.send(JSON.stringify({ event: "connected", protocol: "Call", version: "1.0.0" }));
    current.seq += 1;
    const parameters = { token };
    if (resume) { parameters.resume = resume; }
    ws.send(JSON.stringify({
      event: "start",
      sequenceNumber: String(current.seq),
      streamSid: current.streamSid,
      start: {
        accountSid: ACCOUNT,
        streamSid: current.streamSid,
        callSid: sid,
        tracks: ["inbound"],
        customParameters: parameters,
        mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
      },
    }));
    toWorklet({ type: "capture", on: true });
    setInCall(true);
    setStatus(resume ? "Back with the receptionist." : "Connected: talk to your receptionist.");
  };
  ws.onmessage = (event) => fromServer(current, event.data);
  ws.onclose = () => legClosed(current);
}

function fromServer(current, text) {
  if (current !== leg) { return; }
  const frame = JSON.parse(text);
  switch (frame.event) {
    case "media":
      toWorklet({ type: "media", payload: fromBase64(frame.media.payload) });
      break;
    case "mark":
      toWorklet({ type: "mark", name: frame.mark.name });
      break;
    case "clear":
      toWorklet({ type: "clear" });
      break;
    case "devphone":
      notice(current, frame);
      break;
    default:
      break; // as Twilio would, ignore what it does not know
  }
}

function legClosed(current) {
  if (current !== leg) { return; }
  toWorklet({ type: "capture", on: false });
  toWorklet({ type: "clear" });
  leg = null;
  if (current.transferring) {
    setInCall(false);
    hangupButton.disabled = false; // the caller may still give up while it rings
    setStatus("Transferring: ringing (simulated).");
    return;
  }
  endCall("The call has ended.");
}

function endCall(text) {
  setInCall(false);
  transferPanel.hidden = true;
  stopAudio();
  setStatus(text);
}

function line(className) {
  const li = document.createElement("li");
  li.className = className;
  transcript.appendChild(li);
  return li;
}

function span(className, text) {
  const element = document.createElement("span");
  element.className = className;
  element.textContent = text;
  return element;
}

function notice(current, frame) {
  if (frame.type === "turn") {
    const li = line(`turn ${frame.speaker === "caller" ? "caller" : "agent"}${frame.interrupted ? " interrupted" : ""}`);
    const meta = span("meta", "");
    meta.appendChild(span("speaker", frame.speaker === "caller" ? "You" : "Receptionist"));
    li.appendChild(meta);
    li.appendChild(span("text", frame.text));
    if (frame.interrupted) { li.appendChild(span("flag", "interrupted: you heard only this much")); }
  } else if (frame.type === "tool_started" || frame.type === "tool") {
    let li = tools.get(frame.call_id);
    if (li === undefined) {
      li = line("tool");
      tools.set(frame.call_id, li);
    }
    li.className = frame.type === "tool" && !frame.ok ? "tool failed" : "tool";
    li.replaceChildren();
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    const state = frame.type === "tool_started" ? "running…" : `${frame.ok ? "done" : "failed"} in ${frame.duration_ms} ms`;
    summary.append("Tool ", span("name", frame.name), ": ", span("state", state));
    details.appendChild(summary);
    const io = document.createElement("pre");
    io.textContent = JSON.stringify(frame.type === "tool" ? { arguments: frame.arguments, result: frame.result } : { arguments: frame.arguments }, null, 2);
    details.appendChild(io);
    li.appendChild(details);
  } else if (frame.type === "transfer") {
    current.transferring = true;
    $("transfer-number").textContent = frame.number;
    $("transfer-whisper").textContent = frame.whisper;
    transferPanel.hidden = false;
  }
}

async function call() {
  callButton.disabled = true;
  transcript.replaceChildren();
  tools.clear();
  setStatus("Calling…");
  try {
    await startAudio();
    const placed = await post(root.dataset.callsUrl, {});
    callSid = placed.call_sid;
    pinned = placed.machine ? `?machine=${encodeURIComponent(placed.machine)}` : "";
    const link = $("call-link-a");
    link.href = root.dataset.callUrl + callSid;
    link.textContent = callSid;
    $("call-link").hidden = false;
    openLeg(callSid, placed.token, null);
  } catch (error) {
    endCall(`Could not call: ${error.message}`);
  }
}

function hangUp() {
  if (leg !== null) {
    const current = leg;
    leg = null; // a hang-up ends the call; nothing after it is played
    current.seq += 1;
    current.ws.send(JSON.stringify({
      event: "stop",
      sequenceNumber: String(current.seq),
      streamSid: current.streamSid,
      stop: { accountSid: ACCOUNT, callSid: current.callSid },
    }));
    current.ws.close(1000);
    endCall("You hung up.");
  } else if (!transferPanel.hidden && callSid !== null) {
    dialed("canceled");
  }
}

async function dialed(status) {
  transferPanel.hidden = true;
  try {
    const result = await post(`${root.dataset.callsUrl}/${callSid}/dial${pinned}`, { status });
    if (result.resume) {
      setStatus("Nobody answered: back to the receptionist…");
      openLeg(callSid, result.token, "transfer_failed");
    } else {
      endCall(status === "completed" ? "Put through to a person: the call has ended." : "You hung up.");
    }
  } catch (error) {
    endCall(`The transfer could not finish: ${error.message}`);
  }
}

function press(digit) {
  if (leg === null) { return; }
  leg.seq += 1;
  send({ event: "dtmf", sequenceNumber: String(leg.seq), streamSid: leg.streamSid, dtmf: { track: "inbound_track", digit } });
}

// Leaving the page while a transfer rings is the caller hanging up during the ring (the server
// also ends a ring nobody settles, after DEV_PHONE_RING_SECONDS).
window.addEventListener("pagehide", () => {
  if (!transferPanel.hidden && callSid !== null) {
    const fields = new URLSearchParams({ csrf_token: root.dataset.csrf, status: "canceled" });
    navigator.sendBeacon(`${root.dataset.callsUrl}/${callSid}/dial${pinned}`, fields);
  }
});

callButton.addEventListener("click", call);
hangupButton.addEventListener("click", hangUp);
$("answered-button").addEventListener("click", () => dialed("completed"));
$("no-answer-button").addEventListener("click", () => dialed("no-answer"));
keys.forEach((key) => key.addEventListener("click", () => press(key.dataset.digit)));

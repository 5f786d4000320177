"""A fake Twilio caller: places an inbound call to the service the way Twilio does, hears it back.

It posts the signed inbound-call webhook (webhooks.py), reads the TwiML (twiml.py), opens the
signed Media Streams WebSocket of `<Connect><Stream>`, streams inbound mu-law in real time
(silence, or queued "speech" tones) and plays the service's outbound audio at real time the way
Twilio does (playback.py): a `mark` comes back only when the audio sent before it has played, and
`clear` drops the buffer and returns every pending mark at once (docs PROTOCOLS.md section 2).
Anything the service sends that Twilio would reject is recorded in `protocol_errors` (frames.py
says what Twilio accepts). caller.py holds `FakeTwilioCaller`, config.py `CallerConfig`.
"""

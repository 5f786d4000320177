"""A local stand-in for the OpenAI Realtime API (GA protocol) for tests, benchmarks and smoke runs.

A real `websockets` server on 127.0.0.1 that speaks the wire format of docs PROTOCOLS.md section 1:
scripted spoken replies paced like a real model, function calls, an energy VAD on the caller's
mu-law audio, server-side interruption, truncation and cancellation with the real API's errors,
and fault injection (connect latency, errors, abrupt socket loss). Every client event is checked
against the official `openai` types (validation.py); anything the real API would reject, and
anything our client must never do, lands in `violations`.

    config = FakeRealtimeConfig(pace=0, replies=[FunctionCallReply("lookup_hours", {})])
    async with FakeRealtimeServer(config) as server:      # settings: OPENAI_REALTIME_URL=server.url
        ...                                               # drive a call through the app
        session = (await server.wait_for_sessions(1))[0]
        await session.wait_for("conversation.item.create")
        assert server.violations == []

Faithful details worth knowing: audio goes out in the session's output format (the server
default is 24 kHz `audio/pcm` until session.update asks for `audio/pcmu`); caller transcripts
are sent only when `audio.input.transcription` is set; speech_started's audio_start_ms includes
`vad_prefix_padding_ms`; a cancelled response still closes its open item with the *.done events
(status `incomplete`, cut-off transcript or arguments) before response.done.

Where things are: config.py (FakeRealtimeConfig, the scripted replies), server.py
(FakeRealtimeServer), session.py (FakeSession: one connection and the client events it answers),
built in layers on input_audio.py (the input buffer and the VAD), responses.py (the model's
responses and output items) and base.py (what a session records; its plumbing). payloads.py and
audio.py make what the fake sends; validation.py checks events against the `openai` types.
"""

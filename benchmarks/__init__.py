"""Benchmarks (`make bench`, and `python -m benchmarks.console` for the staff console's pages):
they print numbers and assert nothing.

The server under test runs as its own process, `python -m app.cli serve` on the embedded
PostgreSQL (whose processes are separate and not counted), so psutil measures its CPU and memory
alone. The OpenAI double (FakeRealtimeServer) and the simulated Twilio callers run here, in the
bench process, which reports its own load so an overloaded load generator shows.

Scenarios:
  relay  N concurrent calls of S seconds: greeting, then the caller speaks every ~4 s and the
         fake model replies (never over the agent: no barge-in, so every frame must arrive).
         Greeting latency after `start`, added relay latency per frame in each direction,
         frames lost, server CPU per call-minute and memory per call.
  load   the same conversations at 200 calls for two minutes, plus database rows lost.
  soak   waves of mixed calls (talk, drop, refused, never-connected); after each wave the
         server's RSS, file descriptors and TCP connections, and the model sessions left open.

Frames are told apart by stamps written into their first samples (`stamp_ulaw`): the callers
stamp (call, frame number) into every inbound frame and the fake stamps (session, delta number)
into every delta, and hooks in both doubles note perf_counter() times. Both ends live in this
process, so the times compare directly.
"""

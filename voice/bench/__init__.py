"""Benchmark and load tooling of the voice core, kept apart from what a live call runs.

- ``benchmarks``: ``voice_bench``'s measurements (turn latency, overhead, barge-in, cached phrases).
- ``loadgen``: ``media_load``'s callers, real-time Twilio Media Streams clients.
- ``app``: the stand-in media route ``media_load --route standin`` serves (it imports Django).
- ``fakes``: a recording transport and a scripted responder, for benchmarks and tests.
"""

"""Concurrent full conversations: the real pipeline, local STT, real audio both ways (``manage.py call_load``).

Each call is the salesperson's ``VoicePipeline`` (the campaign's ``FlowResponder`` on the demo script,
eSpeak for its voice, the process's shared local Whisper behind the STT admission line) talking
to a persona callee (``dialogs.personas``) that speaks eSpeak audio into the pipeline as 20 ms
frames on a real-time schedule, with line noise between its phrases, as a phone line does. The
callee hears the bot's audio as it is paced out; like the simulated carrier's ``transcript`` mode
it takes the bot's words from the turn event once that audio has stopped (Whisper on the callee's
side would double the STT load this command is meant to measure on the bot's side).

Figures per phase (1 call alone, then N at once, in the same run):

- ``lost_utterances``: callee phrases no final transcript accounts for (neither text nor a
  "not recognised" line); a final transcript covers every phrase spoken since the previous one;
- ``stt_timeouts``: transcriptions that failed or passed ``stt_give_up_s``; ``stt_late``: turns
  whose transcript came after ``stt_timeout_s`` (the holding phrase was due);
- ``stt_queue_wait_p95_ms`` and ``v2v_p95_ms`` from the pipeline's own ``TurnMetrics``.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from config.voice import shared_provider
from dialogs.personas import DEFAULT_PERSONAS, PersonaResponder
from dialogs.responders import FlowResponder
from dialogs.scriptmap import demo_map
from voice.audio import FRAME_BYTES, FRAME_MS, SAMPLE_RATE
from voice.events import BotTurnFinished, ConversationEnded, ErrorEvent, ListSink, TurnMetrics, UserTranscript
from voice.pipeline import PipelineConfig, VoicePipeline
from voice.responder import ConversationState, Directive
from voice.stt.admission import conversations_served
from voice.tts.local import EspeakTTS

NOISE_LEVEL = 0.0005  # a quiet line between phrases, under the VAD's energy floor


class LineOutput:
    """The bot's side of the line: frames arrive at the callee as they are paced out."""

    supports_marks = False

    def __init__(self) -> None:
        self.frames = 0
        self.last_frame_at = 0.0
        self.ended = False

    async def send_audio(self, pcm16: bytes) -> None:
        self.frames += 1
        self.last_frame_at = time.monotonic()

    async def send_mark(self, name: str) -> None:
        return None

    async def clear(self) -> None:
        return None

    async def end(self) -> None:
        self.ended = True


@dataclass
class CallFigures:
    spoken: int = 0
    covered: int = 0
    unrecognised: int = 0
    stt_timeouts: int = 0
    stt_late: int = 0
    holding_said: int = 0
    v2v_ms: list[float] = field(default_factory=list)
    queue_wait_ms: list[float] = field(default_factory=list)
    stt_work_ms: list[float] = field(default_factory=list)
    audio_s: float = 0.0
    seconds: float = 0.0
    ended_by: str = ""
    transcripts: list[tuple[str, str]] = field(default_factory=list)  # (callee said, bot heard)

    @property
    def lost(self) -> int:
        return max(0, self.spoken - self.covered)


class Callee:
    """A persona customer speaking into the pipeline in real time; it answers each finished bot turn."""

    def __init__(self, pipeline, sink: ListSink, output: LineOutput, *, tts, persona_key: str, seed: int,
                 language: str, utterances: int, think_ms: int = 400):
        self.pipeline, self.sink, self.output, self.tts = pipeline, sink, output, tts
        self.language = language
        self.responder = PersonaResponder(DEFAULT_PERSONAS[persona_key], seed=seed)
        self.state = ConversationState(language=language)
        self.utterances = utterances
        self.think_s = think_ms / 1000
        rng = np.random.default_rng(seed)
        noise = (NOISE_LEVEL * rng.standard_normal(SAMPLE_RATE * 2) * 32767).astype("<i2").tobytes()
        self.noise = [noise[i:i + FRAME_BYTES] for i in range(0, len(noise) - FRAME_BYTES + 1, FRAME_BYTES)]
        self.figures = CallFigures()
        self._speech: list[bytes] = []
        self._said: list[str] = []
        self._answered_turns = 0
        self._finals_seen = 0
        self._spoken_since_final = 0

    async def run(self, max_s: float) -> CallFigures:
        started = time.monotonic()
        n = 0
        reply: asyncio.Task | None = None
        await self.pipeline.start()
        try:
            while time.monotonic() - started < max_s:
                due = started + n * FRAME_MS / 1000
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                n += 1
                if self._speech:
                    frame = self._speech.pop(0)
                    if not self._speech:  # the phrase is out: it now counts as spoken
                        self.figures.spoken += 1
                        self._spoken_since_final += 1
                else:
                    frame = self.noise[n % len(self.noise)]
                await self.pipeline.feed(frame)
                self._account()
                if self.pipeline.ended or self.output.ended:
                    self.figures.ended_by = "bot"
                    break
                finished = [e for e in self.sink.of(BotTurnFinished) if not e.interrupted]
                if reply is None and not self._speech and len(finished) > self._answered_turns:
                    if self.figures.spoken >= self.utterances:
                        if self.pipeline._turn is None:  # our last phrase was answered: hang up
                            self.figures.ended_by = "callee"
                            break
                    else:
                        self._answered_turns = len(finished)
                        reply = asyncio.create_task(self._reply(finished[-1].text))
                if reply is not None and reply.done():
                    reply.result()
                    reply = None
            else:
                self.figures.ended_by = "time"
        finally:
            if reply is not None:
                reply.cancel()
            await self.pipeline.close()
        self._account()
        self.figures.seconds = round(time.monotonic() - started, 1)
        return self.figures

    def _account(self) -> None:
        finals = [e for e in self.sink.of(UserTranscript) if e.final]
        for event in finals[self._finals_seen:]:
            # a final transcript (or a "not recognised" line) accounts for every phrase since the last one
            self.figures.covered += self._spoken_since_final
            self._spoken_since_final = 0
            if not event.recognised:
                self.figures.unrecognised += 1
            else:
                said = " / ".join(self._said[len(self.figures.transcripts):]) if self._said else ""
                self.figures.transcripts.append((said, event.text))
        self._finals_seen = len(finals)

    async def _reply(self, bot_text: str) -> None:
        await asyncio.sleep(self.think_s)
        self.state.history.append(("bot", bot_text))
        text = ""
        async for out in self.responder.respond(bot_text, self.state):
            if not isinstance(out, Directive):
                text += out
        text = text.strip() or ("Да, слушаю." if self.language == "ru" else "Yes, go on.")
        self.state.history.append(("user", text))
        pcm = b"".join([c async for c in self.tts.synthesize(text, language=self.language,
                                                            sample_rate=SAMPLE_RATE)])
        pcm += bytes(-len(pcm) % FRAME_BYTES)
        self.figures.audio_s += len(pcm) / 2 / SAMPLE_RATE
        self._said.append(text)
        self._speech.extend(pcm[i:i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES))


def _collect(figures: CallFigures, sink: ListSink) -> None:
    for m in sink.of(TurnMetrics):
        if m.voice_to_voice_ms is not None:
            figures.v2v_ms.append(m.voice_to_voice_ms)
        if m.stt_queue_wait_ms is not None:
            figures.queue_wait_ms.append(m.stt_queue_wait_ms)
        if m.stt_work_ms is not None:
            figures.stt_work_ms.append(m.stt_work_ms)
        figures.stt_late += m.stt_late
    figures.stt_timeouts = sum(1 for e in sink.of(ErrorEvent) if e.stage == "stt")
    figures.holding_said = sum(1 for e in sink.events if getattr(e, "type", "") == "bot_text"
                               and e.text in ("Секунду…", "One moment…"))
    if not figures.ended_by and sink.of(ConversationEnded):
        figures.ended_by = "bot"


async def run_call(index: int, *, stt, tts, language: str, utterances: int, max_s: float, seed: int) -> CallFigures:
    script = demo_map(language)
    variables = {"contact": {"name": "Ольга" if language == "ru" else "Olga", "company": "Мебель-Опт",
                             "first_name": "Ольга"}}
    sink = ListSink()
    output = LineOutput()
    config = PipelineConfig(language=language, bot_speaks_first=True).use_script_phrases(script)
    pipeline = VoicePipeline(stt=stt, tts=tts, responder=FlowResponder(script, variables, language), output=output,
                             sink=sink, config=config)
    rng = random.Random(f"{seed}:{index}")
    # a callee of the call's language (the persona's lines are spoken by that language's voice)
    own = sorted(key for key, persona in DEFAULT_PERSONAS.items() if persona.language == language)
    callee = Callee(pipeline, sink, output, tts=tts, persona_key=rng.choice(own),
                    seed=rng.randrange(1 << 30), language=language, utterances=utterances)
    figures = await callee.run(max_s)
    _collect(figures, sink)
    return figures


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def summarise(calls: list[CallFigures]) -> dict[str, Any]:
    v2v = [v for c in calls for v in c.v2v_ms]
    waits = [v for c in calls for v in c.queue_wait_ms]
    return {
        "calls": len(calls),
        "utterances": sum(c.spoken for c in calls),
        "lost_utterances": sum(c.lost for c in calls),
        "unrecognised": sum(c.unrecognised for c in calls),
        "stt_timeouts": sum(c.stt_timeouts for c in calls),
        "stt_late": sum(c.stt_late for c in calls),
        "holding_phrases": sum(c.holding_said for c in calls),
        "stt_queue_wait_p50_ms": percentile(waits, 50),
        "stt_queue_wait_p95_ms": percentile(waits, 95),
        "stt_work_p50_ms": percentile([v for c in calls for v in c.stt_work_ms], 50),
        "v2v_p50_ms": percentile(v2v, 50),
        "v2v_p95_ms": percentile(v2v, 95),
        "turns": len(v2v),
        "ended_by": sorted({c.ended_by for c in calls}),
        "seconds": max((c.seconds for c in calls), default=0.0),
    }


async def run_load(*, calls: int, utterances: int = 5, language: str = "ru", max_s: float = 180.0,
                   seed: int = 1) -> dict[str, Any]:
    started = time.monotonic()
    load_before = os.getloadavg()
    stt = shared_provider("stt")
    if hasattr(stt, "load"):
        await asyncio.to_thread(stt.load)
    await stt.warm_up()
    tts = EspeakTTS()
    alone = [await run_call(0, stt=stt, tts=tts, language=language, utterances=utterances, max_s=max_s, seed=seed)]
    together = await asyncio.gather(*(
        run_call(i + 1, stt=stt, tts=tts, language=language, utterances=utterances, max_s=max_s, seed=seed)
        for i in range(calls)
    ))
    one, many = summarise(alone), summarise(list(together))
    ratio = round(many["v2v_p95_ms"] / one["v2v_p95_ms"], 2) if one["v2v_p95_ms"] and many["v2v_p95_ms"] else None
    capacity = stt.capacity().to_dict() if hasattr(stt, "capacity") else None
    measured = capacity and capacity.get("measured_seconds_per_audio_s")
    served = conversations_served(capacity["workers"], measured) if measured else None
    return {
        "one_call": one,
        "n_calls": many,
        "v2v_p95_ratio": ratio,
        "lost_utterances": one["lost_utterances"] + many["lost_utterances"],
        "stt_timeouts": one["stt_timeouts"] + many["stt_timeouts"],
        "stt_queue_wait_p95_ms": many["stt_queue_wait_p95_ms"],
        "v2v_p95_ms": many["v2v_p95_ms"],
        "stt": f"{stt.name} (model {getattr(stt, 'model_name', '?')})",
        "stt_capacity": capacity,
        # what this machine's STT served in time during the run: more calls than this is past capacity,
        # which the dispatcher does not start (STT_MAX_CONVERSATIONS)
        "stt_conversations_served_measured": served,
        "over_capacity": served is not None and calls > served,
        "transcripts": [{"said": s, "heard": h} for s, h in together[0].transcripts[:3]] if together else [],
        "cpu_cores": os.cpu_count(),
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "elapsed_s": round(time.monotonic() - started, 1),
    }

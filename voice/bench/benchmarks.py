"""Pipeline latency benchmarks: scripted turns from WAV files through a real ``VoicePipeline``, in real time.

Framework-free; ``manage.py voice_bench`` is a thin wrapper. Utterances are spoken by the local TTS
(eSpeak NG), trimmed to their voiced part and cached as WAV files, then fed as 20 ms frames on an
absolute real-time schedule (silence between utterances, like a live line), because endpointing and
speculative STT are time-based. Figures come from the pipeline's own ``TurnMetrics`` and from the
send times a ``RecordingOutput`` keeps, so the benchmark measures what production code reports.

Scenarios:

- ``overhead``: fake instant providers (STT, TTS, responder); per turn the time from the
  end-of-utterance decision to the first output frame (``voice_to_voice_ms - eou_ms``).
- ``local``: LocalWhisperSTT + EspeakTTS + a scripted responder, English and Russian 1-3 s
  utterances; ``voice_to_voice_ms`` (last voiced input sample fed -> first bot sample sent).
- ``cached``: the same, with the replies' audio warmed into a ``MemoryAudioCache`` first.
- ``bargein``: the bot speaks a long reply; the user starts talking over it; the time from feeding
  the frame that holds the first voiced sample to ``clear`` reaching the output.
- ``cached_cloud``: a cloud-like TTS stand-in whose first byte comes after 300 ms (ElevenLabs-like)
  behind the pipeline's ``AudioCache`` warmed with the scripted replies, and an instant STT: a
  cached phrase must start within the endpoint silence plus 50 ms (``uncached_cloud`` is the same
  without the cache, for comparison).

The local scenarios run the STT behind the same admission line as production (one worker), and
the JSON prints the inputs of the latency floor: ``stt_start_p50_ms`` (end of speech to the start of
the transcription used, i.e. the speculative silence) and ``stt_work_p50_ms`` (the transcription
itself); ``v2v_bound_ms`` is 1.1 x their sum + 100 ms, which ``v2v_local_p50_ms`` should not exceed.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voice import audio
from voice.audio import FRAME_BYTES, FRAME_MS, SAMPLE_RATE
from voice.bench.fakes import RecordingOutput, ScriptedResponder
from voice.cache import MemoryAudioCache, warm_cache
from voice.events import BotTurnFinished, Interruption, ListSink, TurnMetrics
from voice.pipeline import PipelineConfig, VoicePipeline
from voice.stt.admission import AdmittedSTT, STTAdmission
from voice.stt.base import STTProvider
from voice.stt.fake import FakeSTT
from voice.stt.local import LocalWhisperSTT
from voice.tts.base import TTSProvider
from voice.tts.fake import FakeTTS
from voice.tts.local import EspeakTTS
from voice.vad import VADConfig

# What the user says: 1-3 s each with eSpeak at its default rate (checked when the WAVs are made).
UTTERANCES: dict[str, list[str]] = {
    "en": [
        "Yes, I am listening, go ahead.",
        "We ship about twenty tons a month.",
        "Please send me the price by email.",
        "Not right now, call me tomorrow.",
        "Sorry, who is calling, please?",
        "We already have a supplier.",
        "We send twenty tons of cargo to Kazan every month.",
    ],
    "ru": [
        "Да, я вас внимательно слушаю.",
        "Мы возим около двадцати тонн в месяц.",
        "Пришлите цену на почту, пожалуйста.",
        "Сейчас неудобно, перезвоните завтра.",
        "Простите, а кто это звонит?",
        "У нас уже есть поставщик.",
        "Каждый месяц мы отправляем двадцать тонн груза.",
    ],
}
# What the bot answers: one sentence each, so the cached run can hit on the whole reply.
REPLIES: dict[str, list[str]] = {
    "en": ["Thank you, that helps.", "Great, I will note that down.", "Understood, thank you."],
    "ru": ["Спасибо, понял вас.", "Отлично, я это записал.", "Хорошо, договорились."],
}
LONG_REPLY = {
    "en": "Let me tell you about our freight service. We deliver across the country every day, "
          "with tracking and insurance included.",
}
# Voiced means louder than this: the VAD's own energy floor (-50 dBFS) with a little margin.
VOICED_LEVEL = 10 ** (-45 / 20) * 32768
LINE_NOISE_LEVEL = 0.0005  # a quiet line's noise floor between utterances, well under the VAD's floor


@dataclass
class Utterance:
    language: str
    text: str
    pcm: bytes  # PCM16 16 kHz, starts with the first voiced sample and ends with the last

    @property
    def duration_ms(self) -> float:
        return audio.duration_ms(self.pcm)

    def frames(self) -> list[bytes]:
        pcm = self.pcm + bytes(-len(self.pcm) % FRAME_BYTES)  # the last frame padded with silence
        return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]


def trim_to_voice(pcm: bytes) -> bytes:
    samples = audio.pcm16_to_array(pcm).astype(np.int32)
    loud = np.flatnonzero(np.abs(samples) >= VOICED_LEVEL)
    if not loud.size:
        return b""
    return audio.array_to_pcm16(samples[loud[0] : loud[-1] + 1] / 32768.0)


async def make_utterances(tts: TTSProvider, cache_dir: Path | None, languages: Sequence[str] = ("en", "ru")
                          ) -> list[Utterance]:
    """Speak every ``UTTERANCES`` line with ``tts`` (or load it from ``cache_dir``), trimmed to its voice."""
    out: list[Utterance] = []
    for language in languages:
        for text in UTTERANCES[language]:
            key = tts.cache_key(text, voice="", language=language, sample_rate=SAMPLE_RATE)
            path = None
            if cache_dir is not None:
                path = cache_dir / f"{language}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.wav"
                if path.is_file():
                    pcm, rate = audio.read_wav(path)
                    out.append(Utterance(language, text, audio.resample(pcm, rate, SAMPLE_RATE)))
                    continue
            chunks = [c async for c in tts.synthesize(text, language=language, sample_rate=SAMPLE_RATE)]
            pcm = trim_to_voice(b"".join(chunks))
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                audio.write_wav(path, pcm, SAMPLE_RATE)
            out.append(Utterance(language, text, pcm))
    return out


def line_noise(ms: float, seed: int = 7) -> list[bytes]:
    n = int(SAMPLE_RATE * ms / 1000)
    noise = LINE_NOISE_LEVEL * np.random.default_rng(seed).standard_normal(n)
    pcm = audio.array_to_pcm16(noise)
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]


class Line:
    """One simulated caller: feeds a pipeline 20 ms frames on an absolute real-time schedule.

    Between utterances it keeps feeding line noise, as a telephone line does, so the VAD and the
    endpointing see a continuous stream. ``realtime=False`` feeds as fast as the loop allows while
    still yielding after every frame (only meaningful for pure pipeline overhead).
    """

    def __init__(self, pipeline: VoicePipeline, *, realtime: bool = True):
        self.pipeline = pipeline
        self.realtime = realtime
        self._noise = line_noise(2000)
        self._n = 0
        self._t0: float | None = None
        self.send_lag_ms: list[float] = []  # how late each frame was fed vs. its schedule (our own load)

    async def _tick(self) -> float:
        if self._t0 is None:
            self._t0 = time.monotonic()
        if self.realtime:
            due = self._t0 + self._n * FRAME_MS / 1000
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.send_lag_ms.append(max(0.0, (time.monotonic() - due) * 1000))
        else:
            await asyncio.sleep(0)
        self._n += 1
        return time.monotonic()

    async def feed(self, frames: Sequence[bytes]) -> list[float]:
        """Feed ``frames``; returns each frame's feed time (monotonic, taken just before ``feed``)."""
        times = []
        for frame in frames:
            at = await self._tick()
            times.append(at)
            await self.pipeline.feed(frame)
        return times

    async def silence(self, ms: float) -> None:
        for _ in range(max(1, int(ms // FRAME_MS))):
            await self.feed([self._noise[self._n % len(self._noise)]])

    async def silence_until(self, done: Callable[[], bool], timeout_ms: float) -> bool:
        waited = 0.0
        while not done():
            if waited >= timeout_ms:
                return False
            await self.silence(FRAME_MS)
            waited += FRAME_MS
        return True


def percentile(values: Sequence[float], q: float) -> float | None:
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return round(float(np.percentile(vals, q)), 1)


@dataclass
class ScenarioResult:
    name: str
    metrics: list[TurnMetrics] = field(default_factory=list)
    samples_ms: list[float] = field(default_factory=list)  # the scenario's headline figure per turn
    timeouts: int = 0
    transcripts: list[tuple[str, str]] = field(default_factory=list)  # (said, heard)
    send_lag_ms: list[float] = field(default_factory=list)


def _pipeline(stt: STTProvider, tts: TTSProvider, responder, *, language: str, end_silence_ms: int,
              cache=None, sink: ListSink) -> tuple[VoicePipeline, RecordingOutput]:
    output = RecordingOutput()
    # the late-transcript path (holding phrase) is off: these figures are the latency floor, not degradation
    config = PipelineConfig(language=language, vad=VADConfig(end_silence_ms=end_silence_ms), cache_writes=False,
                            stt_timeout_s=120.0, stt_give_up_s=120.0)
    pipeline = VoicePipeline(stt=stt, tts=tts, responder=responder, output=output, sink=sink, cache=cache,
                             config=config)
    output.pipeline = pipeline  # auto-acked marks reach the pipeline, as Twilio's echoes do
    return pipeline, output


async def run_turns(name: str, utterances: Sequence[Utterance], *, stt: STTProvider, tts: TTSProvider,
                    replies: Sequence[str], end_silence_ms: int, cache=None, realtime: bool = True,
                    turn_timeout_ms: float = 15000) -> ScenarioResult:
    """One conversation: each utterance, then line noise until the bot's turn is over."""
    sink = ListSink()
    language = utterances[0].language
    scripted = [replies[i % len(replies)] for i in range(len(utterances))]
    responder = ScriptedResponder(default=replies[0], replies=scripted)
    pipeline, _ = _pipeline(stt, tts, responder, language=language, end_silence_ms=end_silence_ms, cache=cache,
                            sink=sink)
    line = Line(pipeline, realtime=realtime)
    result = ScenarioResult(name)
    await pipeline.start()
    try:
        await line.silence(300)
        for utterance in utterances:
            finished = len(sink.of(BotTurnFinished))
            await line.feed(utterance.frames())
            ok = await line.silence_until(lambda f=finished: len(sink.of(BotTurnFinished)) > f, turn_timeout_ms)
            result.timeouts += not ok
            await line.silence(200)
    finally:
        await pipeline.close()
    result.metrics = [m for m in sink.of(TurnMetrics) if m.voice_to_voice_ms is not None]
    heard = [e.text for e in sink.events if getattr(e, "type", "") == "user_transcript" and e.final]
    result.transcripts = list(zip([u.text for u in utterances], heard, strict=False))
    result.send_lag_ms = line.send_lag_ms
    return result


async def run_overhead(utterances: Sequence[Utterance], *, turns: int, end_silence_ms: int,
                       realtime: bool = True) -> ScenarioResult:
    chosen = [utterances[i % len(utterances)] for i in range(turns)]
    result = await run_turns(
        "overhead", chosen, stt=FakeSTT(default="hello"), tts=FakeTTS(ms_per_char=20), replies=["Okay, thanks."],
        end_silence_ms=end_silence_ms, realtime=realtime,
    )
    # end-of-utterance decision -> first frame handed to the transport: both stamps come from one clock
    result.samples_ms = [m.voice_to_voice_ms - m.eou_ms for m in result.metrics if m.eou_ms is not None]
    return result


async def run_bargein(utterances: Sequence[Utterance], *, trials: int, end_silence_ms: int,
                      seed: int = 1) -> ScenarioResult:
    """Each utterance talks over the bot's long reply to the previous one, at a random point of it."""
    rng = random.Random(seed)
    sink = ListSink()
    tts = FakeTTS(ms_per_char=40)
    responder = ScriptedResponder(default=LONG_REPLY["en"])
    pipeline, output = _pipeline(FakeSTT(default="hello"), tts, responder, language="en",
                                 end_silence_ms=end_silence_ms, sink=sink)
    line = Line(pipeline)
    result = ScenarioResult("bargein")
    chosen = [utterances[i % len(utterances)] for i in range(trials + 1)]
    await pipeline.start()
    try:
        await line.silence(300)
        await line.feed(chosen[0].frames())
        for utterance in chosen[1:]:
            started = len(output.frames)
            # wait until the bot is audibly speaking, then talk over it a little later
            if not await line.silence_until(lambda s=started: len(output.frames) > s, 10000):
                result.timeouts += 1
                continue
            await line.silence(rng.uniform(300, 1200))
            clears = len(output.clears)
            times = await line.feed(utterance.frames())
            if len(output.clears) > clears:
                result.samples_ms.append(round((output.clears[clears] - times[0]) * 1000, 1))
            else:
                result.timeouts += 1
        await line.silence(500)
    finally:
        await pipeline.close()
    result.metrics = sink.of(TurnMetrics)
    result.send_lag_ms = line.send_lag_ms
    if len(sink.of(Interruption)) < len(result.samples_ms):  # a clear without an interruption would be a bug
        result.timeouts += len(result.samples_ms) - len(sink.of(Interruption))
    return result


@dataclass
class BenchOptions:
    turns: int = 12
    stt: str = "local"  # local | fake
    device: str = "cpu"
    model: str = "base"
    quick: bool = False
    fast: bool = False  # overhead scenario only: feed without real-time pacing
    end_silence_ms: int = VADConfig().end_silence_ms
    wav_dir: Path | None = None
    cpu_threads: int = 0


def build_local_stt(options: BenchOptions) -> AdmittedSTT:
    compute_type = "float16" if options.device == "cuda" else "int8"
    local = LocalWhisperSTT(model=options.model, device=options.device, compute_type=compute_type, beam_size=1,
                            cpu_threads=options.cpu_threads)
    return AdmittedSTT(local, STTAdmission(workers=1, max_queue=16))  # as config.voice.shared_provider does


# An ElevenLabs-like first byte: what a cached phrase saves on every turn.
CLOUD_FIRST_BYTE_MS = 300


async def run_cloud(utterances: Sequence[Utterance], *, turns: int, end_silence_ms: int,
                    cached: bool) -> ScenarioResult:
    """Scripted replies through a TTS stand-in with a 300 ms first byte, with or without the warmed cache."""
    tts = FakeTTS(ms_per_char=40, delay_ms=CLOUD_FIRST_BYTE_MS)
    replies = REPLIES["en"]
    cache = None
    if cached:
        cache = MemoryAudioCache()
        await warm_cache(replies, FakeTTS(ms_per_char=40), cache, voice="", language="en", sample_rate=SAMPLE_RATE)
    chosen = [utterances[i % len(utterances)] for i in range(turns)]
    name = "cached_cloud" if cached else "uncached_cloud"
    result = await run_turns(name, chosen, stt=FakeSTT(default="Yes, please."), tts=tts, replies=replies,
                             end_silence_ms=end_silence_ms, cache=cache)
    result.samples_ms = [m.voice_to_voice_ms for m in result.metrics]
    return result


def _split_by_language(utterances: Sequence[Utterance], count: int) -> list[list[Utterance]]:
    """``count`` turns alternating English and Russian, as two conversations (one per language)."""
    by_lang: dict[str, list[Utterance]] = {}
    for u in utterances:
        by_lang.setdefault(u.language, []).append(u)
    langs = sorted(by_lang)
    plan: dict[str, list[Utterance]] = {lang: [] for lang in langs}
    for i in range(count):
        lang = langs[i % len(langs)]
        pool = by_lang[lang]
        plan[lang].append(pool[len(plan[lang]) % len(pool)])
    return [turns for turns in plan.values() if turns]


async def run_all(options: BenchOptions) -> dict[str, Any]:
    started = time.monotonic()
    espeak = EspeakTTS(voice="en-us")
    utterances = await make_utterances(espeak, options.wav_dir)
    english = [u for u in utterances if u.language == "en"]
    quick = options.quick
    overhead_turns = 4 if quick else 10
    bargein_trials = 3 if quick else 8
    local_turns = 2 if quick else options.turns
    cached_turns = 2 if quick else max(4, options.turns // 2)

    # the fake-provider scenarios need almost no CPU, so they share the loop; the local ones run alone
    load_before = [round(x, 2) for x in os.getloadavg()]
    overhead, bargein = await asyncio.gather(
        run_overhead(english, turns=overhead_turns, end_silence_ms=options.end_silence_ms,
                     realtime=not options.fast),
        run_bargein(english, trials=bargein_trials, end_silence_ms=options.end_silence_ms),
    )
    cloud_turns = 3 if quick else 8
    cached_cloud = await run_cloud(english, turns=cloud_turns, end_silence_ms=options.end_silence_ms, cached=True)
    uncached_cloud = await run_cloud(english, turns=cloud_turns, end_silence_ms=options.end_silence_ms, cached=False)

    stt_load_s = None
    if options.stt == "local":
        stt = build_local_stt(options)
        stt_load_s = round(await asyncio.to_thread(stt.load), 2)
        await stt.warm_up()
        model_name = f"whisper-{options.model} ({options.device}, {stt.compute_type}, beam 1)"
    else:
        stt = FakeSTT(default="yes")
        model_name = "fake"

    local: list[ScenarioResult] = []
    for convo in _split_by_language(utterances, local_turns):
        lang = convo[0].language
        local.append(await run_turns(f"local-{lang}", convo, stt=stt, tts=espeak, replies=REPLIES[lang],
                                     end_silence_ms=options.end_silence_ms))
    cached: list[ScenarioResult] = []
    cache = MemoryAudioCache()
    for lang in ("en", "ru"):
        await warm_cache(REPLIES[lang], espeak, cache, voice="", language=lang, sample_rate=SAMPLE_RATE)
    for convo in _split_by_language(utterances, cached_turns):
        lang = convo[0].language
        cached.append(await run_turns(f"cached-{lang}", convo, stt=stt, tts=espeak, replies=REPLIES[lang],
                                      end_silence_ms=options.end_silence_ms, cache=cache))

    local_m = [m for r in local for m in r.metrics]
    cached_m = [m for r in cached for m in r.metrics]
    v2v = [m.voice_to_voice_ms for m in local_m]
    durations = [u.duration_ms for u in utterances]
    all_lag = [x for r in (overhead, bargein, *local, *cached, cached_cloud, uncached_cloud) for x in r.send_lag_ms]
    stt_start = percentile([m.stt_start_ms for m in local_m], 50)
    stt_work = percentile([m.stt_work_ms for m in local_m], 50)
    bound = round(1.1 * (stt_start + stt_work) + 100, 1) if stt_start is not None and stt_work is not None else None
    v2v_p50 = percentile(v2v, 50)
    cached_cloud_p50 = percentile(cached_cloud.samples_ms, 50)
    return {
        "overhead_p95_ms": percentile(overhead.samples_ms, 95),
        "v2v_local_p50_ms": v2v_p50,
        "v2v_local_p95_ms": percentile(v2v, 95),
        "v2v_bound_ms": bound,  # 1.1 x (stt_start_p50_ms + stt_work_p50_ms) + 100
        "v2v_within_bound": v2v_p50 <= bound if v2v_p50 is not None and bound is not None else None,
        "stt_start_p50_ms": stt_start,
        "stt_work_p50_ms": stt_work,
        "stt_queue_wait_p50_ms": percentile([m.stt_queue_wait_ms for m in local_m], 50),
        "cached_v2v_p50_ms": percentile([m.voice_to_voice_ms for m in cached_m], 50),
        "cached_cloud_v2v_p50_ms": cached_cloud_p50,
        "cached_cloud_v2v_p95_ms": percentile(cached_cloud.samples_ms, 95),
        "cached_cloud_within_bound": (cached_cloud_p50 <= options.end_silence_ms + 50
                                      if cached_cloud_p50 is not None else None),
        "uncached_cloud_v2v_p50_ms": percentile(uncached_cloud.samples_ms, 50),
        "cloud_tts_first_byte_ms": CLOUD_FIRST_BYTE_MS,
        "bargein_p95_ms": percentile(bargein.samples_ms, 95),
        "endpoint_silence_ms": options.end_silence_ms,
        "finished_silence_ms": min(VADConfig().finished_silence_ms, options.end_silence_ms),
        "overhead_p50_ms": percentile(overhead.samples_ms, 50),
        "bargein_p50_ms": percentile(bargein.samples_ms, 50),
        "v2v_local_max_ms": round(max(v2v), 1) if v2v else None,
        "cached_v2v_p95_ms": percentile([m.voice_to_voice_ms for m in cached_m], 95),
        "cache_hit_rate": round(sum(m.cache_hit for m in cached_m) / len(cached_m), 2) if cached_m else None,
        "eou_p50_ms": percentile([m.eou_ms for m in local_m], 50),
        "stt_p50_ms": percentile([m.stt_ms for m in local_m], 50),
        "stt_p95_ms": percentile([m.stt_ms for m in local_m], 95),
        "ttft_p50_ms": percentile([m.ttft_ms for m in local_m], 50),
        "tts_ttfb_p50_ms": percentile([m.tts_ttfb_ms for m in local_m], 50),
        "speculative_hit_rate": round(sum(m.speculative_stt for m in local_m) / len(local_m), 2) if local_m else None,
        "turns": {"overhead": len(overhead.samples_ms), "local": len(local_m), "cached": len(cached_m),
                  "cached_cloud": len(cached_cloud.samples_ms), "uncached_cloud": len(uncached_cloud.samples_ms),
                  "bargein": len(bargein.samples_ms)},
        "timeouts": overhead.timeouts + bargein.timeouts + sum(r.timeouts for r in (*local, *cached, cached_cloud,
                                                                                   uncached_cloud)),
        "utterance_ms": {"min": round(min(durations)), "max": round(max(durations))},
        "transcripts": [{"said": said, "heard": heard} for r in local for said, heard in r.transcripts][:4],
        "feed_lag_p99_ms": percentile(all_lag, 99),
        "stt": options.stt,
        "model": model_name,
        "stt_load_s": stt_load_s,
        "tts": "espeak",
        "device": options.device,
        "realtime": not options.fast,
        "cpu_cores": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "load_avg_before": load_before,
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "elapsed_s": round(time.monotonic() - started, 1),
    }

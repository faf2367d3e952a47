"""Listen-in and takeover in real Chromium: an operator hears a live call, takes it over, hands it back.

The app runs under daphne in a thread of this process; a stand-in carrier (a thread speaking Twilio Media Streams
over a real WebSocket, in real time) carries the call; the bot is the flow engine with a fake TTS (a 220 Hz
tone) and asks «are you there?» whenever the line is quiet. The operator's fake microphone is a 1 kHz tone, so
every frame the carrier receives says whose voice it is.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
import wave
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from websockets.asyncio.client import connect

from calls.media_auth import call_media_token
from calls.models import Call, CallEvent
from calls.services.lifecycle import call_transition
from calls.tests.test_listen import event_log, tone, whose
from config.tests.test_csp import CHROMIUM, _until, daphne_url  # noqa: F401 (daphne_url: the fixture)
from voice import audio

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium)"),
]
PASSWORD = "pw-for-tests-123"


class Carrier(threading.Thread):
    """The callee's phone line: 20 ms of silence every 20 ms, and every message the call sends back kept."""

    def __init__(self, url: str):
        super().__init__(name="carrier", daemon=True)
        self.url = url
        self.events: list[dict] = []
        self.lock = threading.Lock()
        self.hang_up = threading.Event()
        self.closed = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._call())
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc
        finally:
            self.closed.set()

    async def _call(self) -> None:
        silence = base64.b64encode(audio.pcm16_to_ulaw(audio.silence(20, 8000))).decode()
        async with connect(self.url) as ws:
            await ws.send(json.dumps({"event": "start", "streamSid": "MZ1", "start": {
                "streamSid": "MZ1", "callSid": "CA1", "customParameters": {},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
            reader = asyncio.create_task(self._read(ws))
            loop = asyncio.get_running_loop()
            t0, n = loop.time(), 0
            while not self.hang_up.is_set() and not reader.done():
                await ws.send(json.dumps({"event": "media", "streamSid": "MZ1", "media": {
                    "track": "inbound", "chunk": str(n), "timestamp": str(20 * n), "payload": silence}}))
                n += 1
                await asyncio.sleep(max(0.0, t0 + n * 0.02 - loop.time()))
            if not reader.done():
                await ws.send(json.dumps({"event": "stop", "streamSid": "MZ1", "stop": {}}))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader, 20)

    async def _read(self, ws) -> None:
        with contextlib.suppress(Exception):
            async for text in ws:
                with self.lock:
                    self.events.append(json.loads(text))

    def frames(self) -> list[str]:
        with self.lock:
            events = list(self.events)
        return [whose(audio.ulaw_to_pcm16(base64.b64decode(e["media"]["payload"])))
                for e in events if e.get("event") == "media"]

    def wait_for(self, what, timeout: float = 30.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.error is None, self.error
            frames = self.frames()
            if what(frames):
                return frames
            time.sleep(0.1)
        raise AssertionError(f"the carrier never saw it; frames: {''.join(f[0] for f in self.frames())[-400:]}")


def _microphone(path: Path) -> Path:
    """The operator's fake microphone: a 1 kHz tone (Chromium loops the file)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(tone(1000, 5000, 16000))
    return path


@contextlib.contextmanager
def _chromium_page(wav: Path, screenshot: Path):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}", "--headless", "--no-sandbox",
            "--disable-background-networking", "--autoplay-policy=no-user-gesture-required"])
        # under the site's CSP (scripts and worklets from this site only): pages are polled with evaluate
        context = browser.new_context(locale="ru-RU")
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text))
        try:
            yield page, console
        except Exception:
            print("\n".join(console[-40:]))
            with contextlib.suppress(Exception):
                page.screenshot(path=str(screenshot), timeout=5000)
                print(page.evaluate("JSON.stringify({...window.callListen, states: undefined})"))
            raise
        finally:
            browser.close()


def test_an_operator_hears_a_live_call_takes_it_over_and_hands_it_back(
    daphne_url, transactional_db, settings, make_user, make_campaign, make_contact, tmp_path  # noqa: F811
):
    settings.VOICE = {**settings.VOICE, "STT": {"PROVIDER": "fake", "OPTIONS": {"default": "да"}},
                      "TTS": {"PROVIDER": "fake", "OPTIONS": {"ms_per_char": 60}}}
    campaign = make_campaign()
    script = campaign.script
    script.dialogue_map = {**script.dialogue_map, "limits": {"silence_s": 0.5, "max_silences": 100}}
    script.save()
    call = Call.objects.create(campaign=campaign, contact=make_contact())
    call_transition(call_id=call.pk, to=Call.Status.DIALING)
    make_user("live_op", "Operator")

    carrier = Carrier(daphne_url.replace("http://", "ws://")
                      + f"/ws/calls/{call.pk}/media/?token={call_media_token(call_id=call.pk)}")
    carrier.start()
    try:
        carrier.wait_for(lambda f: "bot" in f)  # the bot greets the callee
        with _chromium_page(_microphone(tmp_path / "mic.wav"), tmp_path / "listen.png") as (page, console):
            page.goto(f"{daphne_url}/accounts/login/?next=/calls/{call.pk}/%3Fraw_mic%3D1")
            page.fill("#id_username", "live_op")
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"**/calls/{call.pk}/**")
            assert page.inner_text("#listen-button") == "Слушать"

            # Listen: the call's mix arrives and plays (the worklet's counters), and it is not silence
            def stats() -> str:
                return page.evaluate("JSON.stringify({...window.callListen, states: undefined})")

            page.click("#listen-button")
            assert _until(page, "window.callListen.chunks > 10 && window.callListen.played > 5", 20), stats()
            assert _until(page, "window.callListen.peak > 0.05", 20), stats()
            assert page.inner_text("#takeover-button") == "Перехватить разговор"

            # Take over: the bot stops, the operator's microphone reaches the callee
            before = len(carrier.frames())
            page.click("#takeover-button")
            assert _until(page, "window.callListen.takeover === true", 15), stats()
            frames = carrier.wait_for(lambda f: f[before:].count("operator") >= 50)
            first = before + frames[before:].index("operator")
            assert "bot" not in frames[first:], "".join(f[0] for f in frames[first:])
            assert page.inner_text("#takeover-button") == "Вернуть боту"
            assert _until(page, "document.getElementById('summary').innerText"
                                ".includes('разговор перехвачен оператором')", 15), page.inner_text("#summary")
            assert "live_op" in page.inner_text("#summary")
            time.sleep(2)  # four times the silence limit: a bot that was not muted would ask by now
            assert "bot" not in carrier.frames()[first:]

            # Hand back: the bot speaks again (it asks whether anyone is there)
            page.click("#takeover-button")
            assert _until(page, "window.callListen.takeover === false", 15), stats()
            handed = len(carrier.frames())
            carrier.wait_for(lambda f: "bot" in f[handed:])
            assert _until(page, "document.getElementById('summary').innerText"
                                ".includes('разговор возвращён боту')", 15), page.inner_text("#summary")
            page.click("#listen-button")  # stop listening
            assert _until(page, "window.callListen.closeCode !== null", 15)
            assert not [line for line in console if "Content Security Policy" in line]
    finally:
        carrier.hang_up.set()
        carrier.closed.wait(30)
    deadline = time.monotonic() + 15
    kinds: list = []
    while time.monotonic() < deadline:
        kinds = event_log(call.pk)
        if len(kinds) == 4 and CallEvent.objects.filter(call=call, to_status="ended").exists():
            break  # the call's end is stored too: nothing of it runs on past the test
        time.sleep(0.2)
    assert kinds == [("listen_started", "live_op"), ("takeover_started", "live_op"), ("takeover_ended", "live_op"),
                     ("listen_stopped", "live_op")]

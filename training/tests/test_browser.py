"""The trainer in real Chromium: fake microphone from a WAV made with eSpeak, local Whisper and eSpeak on the server.

The app runs under daphne in a thread of this process (so it shares pytest-django's test database),
a Celery worker thread scores the session, and Playwright drives Debian's chromium. Chromium loops
the fake microphone file, so each WAV is speech followed by long silence, timed for the walk.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import sync_playwright

from config.live_server import live_server_url
from config.voice import shared_provider
from dialogs.personas import PHRASES
from dialogs.tests.openai_server import OpenAIServer, error
from training import consumers, services
from training.live import build_pipeline
from training.models import Scenario, SessionEvent, TrainingSession
from training.services import TurnRecord
from training.tests.convai_server import (
    AGENT_ANSWER,
    AGENT_GREETING,
    API_KEY,
    HEARD_CHUNKS_BEFORE_REPLY,
    TRAINEE_WORDS,
    ConvaiStandIn,
)
from voice.pipeline import DEFAULT_HOLDING, PipelineConfig
from voice.stt.fake import FakeSTT
from voice.tts.fake import FakeTTS
from voice.tts.local import EspeakTTS
from voice.tts.openai import OpenAITTS

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium)"),
]
RATE = 16000
PASSWORD = "pw-for-tests-123"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def daphne_url(django_db_setup, django_db_blocker):
    """daphne serving config.asgi in a thread of this process (one per process: Twisted cannot restart)."""
    with django_db_blocker.unblock():
        yield live_server_url()


def _report_failure(page, console: list[str], screenshot) -> None:
    """What the page showed, for the log; never hides the original failure behind a second one."""
    print("\n".join(console[-40:]))
    with contextlib.suppress(Exception):
        page.screenshot(path=str(screenshot), timeout=5000)
    with contextlib.suppress(Exception):
        print(page.evaluate("JSON.stringify({...window.trainer, states: window.trainer.states.slice(-30)})"))
        print(page.inner_text("body", timeout=5000)[:3000])


@pytest.fixture(scope="module")
def warm_models():
    """Load Whisper and eSpeak once, before the clock of a walk starts."""
    stt, tts = shared_provider("stt"), shared_provider("tts")
    asyncio.run(stt.transcribe(bytes(RATE), sample_rate=RATE, language="en"))
    return stt, tts


def _speech(text: str) -> bytes:
    async def collect() -> bytes:
        out = b""
        async for chunk in EspeakTTS(voice="en-us", rate=150).synthesize(text, language="en", sample_rate=RATE):
            out += chunk
        return out

    return asyncio.run(collect())


def _silence(seconds: float) -> bytes:
    return bytes(int(RATE * seconds) * 2)


def _wav(path: Path, *parts: bytes) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"".join(parts))
    return path


def _browser(playwright, wav: Path):
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}",
            "--headless",
            "--no-sandbox",
            "--disable-background-networking",
            "--autoplay-policy=no-user-gesture-required",
        ],
    )


@contextlib.contextmanager
def _chromium_page(wav: Path, screenshot: Path):
    """A page in Debian's chromium with ``wav`` as its microphone; on a failure, what it showed is logged."""
    with sync_playwright() as p:
        browser = _browser(p, wav)
        # wait_for_function builds its predicate with new Function, which the site's CSP forbids;
        # config/tests/test_csp.py drives these pages with the CSP enforced
        page = browser.new_page(bypass_csp=True)
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text))
        try:
            yield page
        except Exception:
            _report_failure(page, console, screenshot)
            raise
        finally:
            browser.close()


def _login_and_start(page, base: str, username: str, scenario_id: int) -> int:
    page.goto(f"{base}/accounts/login/?next=/training/start/%3Fscenario%3D{scenario_id}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/training/start/**")
    page.click("#start-button")  # htmx posts the form; HX-Redirect opens the live page
    page.wait_for_url("**/live/")
    session_id = int(page.url.rstrip("/").split("/")[-2])
    # the fake microphone is already clean speech: Chrome's noise suppression and AGC only blur it
    page.goto(page.url + "?raw_mic=1")
    page.click("#start-button")  # «Start talking»: microphone and socket
    page.wait_for_function("window.trainer && window.trainer.sentFrames > 10", timeout=15000)
    return session_id


@pytest.fixture
def english_scenario(transactional_db):
    return Scenario.objects.create(
        title="Freight from China (en)", language="en", persona="john_en", difficulty="easy",
        product_description="Door-to-door freight from China in 25 days.",
    )


def test_full_walk_speak_hear_finish_and_see_the_review(
    daphne_url, warm_models, celery_worker_thread, make_user, english_scenario, tmp_path
):
    make_user("walker", "Trainee")
    wav = _wav(
        tmp_path / "walk.wav",
        _silence(2.5),  # the customer picks up first
        _speech("Hello, my name is Anna from Cargo Line. I am calling about freight from China."),
        _silence(9.0),  # recognition, the customer's answer and its audio
        _speech("Okay, finish session now."),  # a bare «Finish session.» comes back as «Finish action.»
        _silence(20.0),  # the review opens long before the file loops
    )
    with _chromium_page(wav, tmp_path / "walk.png") as page:
        session_id = _login_and_start(page, daphne_url, "walker", english_scenario.pk)
        # the spoken words come back in the transcript
        page.wait_for_function(
            "window.trainer.finals.some(t => /anna/i.test(t) && /china/i.test(t))", timeout=40000
        )
        assert "china" in page.inner_text("#transcript").lower()
        # and the customer's audio arrives and plays
        page.wait_for_function("window.trainer.audioFrames > 50", timeout=20000)
        assert not page.inner_text("#latency").startswith("0 ")  # never «0 ms» before a measured answer
        assert page.get_attribute("#mind", "data-state") in {
            "IDLE", "LISTENING", "ANALYZING_SPEECH", "CHECKING_CACHE", "ROUTING_TO_LLM", "GENERATING_SPEECH",
            "SPEAKING",
        }
        assert page.inner_text("#mind") != page.get_attribute("#mind", "data-state")  # a label, not the code
        # «finish session» ends it; the page goes to the review, which fills in when the score lands
        page.wait_for_url(f"**/training/sessions/{session_id}/", timeout=60000)
        page.wait_for_selector("#score-total", timeout=60000)
        total = int(page.inner_text("#score-total"))
        metrics = page.inner_text("#metrics")
        assert 0 <= total <= 100
        assert "%" in metrics
        assert page.locator("#advice li").count() >= 1
        assert page.locator("#recording").count() == 1
    session = TrainingSession.objects.get(pk=session_id)
    heard = list(session.turns.values_list("speaker", "text"))
    assert session.end_reason == "end_phrase", heard  # what was heard, should recognition be the cause
    assert session.status == TrainingSession.Status.SCORED and session.score.total == total
    user_lines = list(session.turns.filter(speaker="user").values_list("text", flat=True))
    assert any("anna" in t.lower() for t in user_lines)
    assert session.turns.filter(speaker="bot", voice_to_voice_ms__isnull=False).exists()
    assert session.audio and session.audio.size > RATE * 2 * 5  # over five seconds recorded


def test_talking_over_the_customer_stops_its_audio(
    daphne_url, warm_models, make_user, english_scenario, tmp_path
):
    make_user("interrupter", "Trainee")
    # a question, then speech again while the customer is still answering it (the file loops)
    wav = _wav(
        tmp_path / "interrupt.wav",
        _silence(1.5),
        _speech("Hello, my name is Anna from Cargo Line. How do you ship your goods today?"),
        _silence(3.2),
        _speech("Sorry to interrupt you, let me explain our prices and our delivery times in detail."),
        _silence(4.0),
    )
    with _chromium_page(wav, tmp_path / "interrupt.png") as page:
        session_id = _login_and_start(page, daphne_url, "interrupter", english_scenario.pk)
        page.wait_for_function("window.trainer.audioFrames > 10", timeout=20000)
        # the server cleared playback, the page stopped every scheduled buffer and shows the interruption
        page.wait_for_function("window.trainer.clears > 0 && window.trainer.interruptions > 0", timeout=60000)
        page.wait_for_selector(".interrupted-badge", timeout=5000)
        page.wait_for_function("window.trainer.playing === 0", timeout=3000)
        page.click("#end-button")
        page.wait_for_url(f"**/training/sessions/{session_id}/", timeout=30000)
    session = TrainingSession.objects.get(pk=session_id)
    assert session.end_reason == "button"
    assert session.turns.filter(speaker="bot", interrupted=True).exists()


def test_a_manager_scores_again_and_the_new_review_arrives_by_itself(
    daphne_url, celery_worker_thread, make_user, english_scenario, tmp_path
):
    owner = make_user("scored_trainee", "Trainee")
    make_user("boss", "Manager")
    session = services.session_create(trainee=owner.trainee, scenario=english_scenario)
    services.session_transcript_import(session_id=session.pk, turns=[
        TurnRecord(speaker="bot", text="Hello?"),
        TurnRecord(speaker="user", text="Hello, my name is Anna. How do you ship your goods from China today?"),
    ])
    deadline = time.monotonic() + 60
    while TrainingSession.objects.get(pk=session.pk).status != TrainingSession.Status.SCORED:
        assert time.monotonic() < deadline, "the worker did not score the session"
        time.sleep(0.2)
    with _chromium_page(_wav(tmp_path / "quiet.wav", _silence(1.0)), tmp_path / "rescore.png") as page:
        page.goto(f"{daphne_url}/accounts/login/?next=/training/sessions/{session.pk}/")
        page.fill("#id_username", "boss")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#rescore-button")
        page.evaluate("document.getElementById('review').dataset.old = '1'")
        page.click("#rescore-button")
        # htmx swaps in the pending review at once, the socket reports the new score, the page
        # fetches it: a second swap, with the status in words and no button while it ran
        page.wait_for_function(
            "(() => { const r = document.getElementById('review');"
            " return r && !r.dataset.old && r.dataset.status === 'scored'"
            " && !document.getElementById('review-pending'); })()",
            timeout=60000,
        )
        assert page.inner_text("#session-status") == page.get_attribute("#review", "data-status-label")
        assert page.inner_text("#session-status") != "scored"  # the label, not the code
        assert page.locator("#score-total").count() == 1 and page.locator("#rescore-button").count() == 1
    kinds = list(SessionEvent.objects.filter(session=session).values_list("kind", flat=True))
    assert kinds.count("rescore_requested") == 1 and kinds.count("scored") == 2


def test_elevenlabs_mode_talks_to_the_agent_and_brings_the_transcript_back(
    daphne_url, celery_worker_thread, make_user, settings, tmp_path
):
    make_user("agent_trainee", "Trainee")
    scenario = Scenario.objects.create(
        title="Agent call (en)", language="en", product_description="Door-to-door freight from China.",
        mode=Scenario.Mode.ELEVENLABS, elevenlabs_agent_id="agent-42",
    )
    wav = _wav(tmp_path / "agent.wav", _speech("Hello, this is Anna from Cargo Line."), _silence(2.0))
    with ConvaiStandIn() as convai:
        settings.ELEVENLABS = {"API_KEY": API_KEY, "BASE_URL": convai.base_url}
        with _chromium_page(wav, tmp_path / "agent.png") as page:
            session_id = _login_and_start(page, daphne_url, "agent_trainee", scenario.pk)
            # the agent greets, hears the microphone, answers, and is talked over
            page.wait_for_function("window.trainer.interruptions > 0", timeout=30000)
            transcript = page.inner_text("#transcript")
            assert AGENT_GREETING in transcript and TRAINEE_WORDS in transcript and AGENT_ANSWER in transcript
            page.click("#end-button")  # the page posts the transcript and opens the review
            page.wait_for_url(f"**/training/sessions/{session_id}/", timeout=30000)
            page.wait_for_selector("#score-total", timeout=60000)
        assert convai.agents == ["agent-42"]  # the signed URL was asked for this scenario's agent
        assert convai.pongs == [1] and convai.bad_messages == []
        assert convai.closed_with == 1000  # the page hung up cleanly before posting the transcript
        assert len(convai.chunks) >= HEARD_CHUNKS_BEFORE_REPLY and all(c and len(c) % 2 == 0 for c in convai.chunks)
        heard = np.frombuffer(b"".join(convai.chunks), dtype="<i2")
        assert np.abs(heard).max() > 1000  # the microphone's speech reached the agent as PCM16
    session = TrainingSession.objects.get(pk=session_id)
    assert session.end_reason == "elevenlabs" and session.status == TrainingSession.Status.SCORED
    assert list(session.turns.order_by("index").values_list("speaker", "text", "interrupted")) == [
        ("bot", AGENT_GREETING, False), ("user", TRAINEE_WORDS, False), ("bot", AGENT_ANSWER, True)]


def test_slow_recognition_shows_every_phrase_on_the_page(
    daphne_url, make_user, english_scenario, tmp_path, monkeypatch
):
    """A 3-second STT stand-in: the page shows each phrase on its own line and the customer's «One moment…»."""
    said = ["Hello, this is Anna from Cargo Line.", "We ship freight from China.", "How many containers a month?"]
    stt = FakeSTT(said, delay_ms=3000)

    def build(*, setup):
        config = PipelineConfig(language=setup.language, bot_speaks_first=True, speculative_stt=False,
                                stt_timeout_s=1.0)
        return build_pipeline(setup=setup, stt=stt, tts=FakeTTS(ms_per_char=30), config=config)

    monkeypatch.setattr(consumers, "build_pipeline", build)  # daphne runs in this process
    make_user("slowstt", "Trainee")
    phrase = _speech("We would like to ship some freight.")
    wav = _wav(tmp_path / "slow.wav", _silence(3.0), phrase, _silence(10.0), phrase, _silence(10.0), phrase,
               _silence(30.0))
    with _chromium_page(wav, tmp_path / "slow.png") as page:
        _login_and_start(page, daphne_url, "slowstt", english_scenario.pk)
        page.wait_for_function(f"window.trainer.finals.length >= {len(said)}", timeout=60000)
        finals = page.evaluate("window.trainer.finals")
        transcript = page.inner_text("#transcript")
    assert finals[:3] == said  # one line per phrase, none fused, none lost
    assert all(text in transcript for text in said)
    assert DEFAULT_HOLDING["en"] in transcript  # the customer's holding line is shown, not only played
    assert all(ms < 6000 for ms, _ in stt.calls)  # each phrase went to the recogniser on its own


def test_a_failing_voice_provider_is_said_on_the_page_in_russian(daphne_url, transactional_db, make_user, tmp_path,
                                                                monkeypatch):
    """The customer's TTS answers 503 (OpenAI's protocol, from a local server): the page says so, not silence.

    Then a deployment whose TTS cannot even be built (no key): the page says the practice cannot start.
    """
    scenario = Scenario.objects.create(title="Грузы из Китая", language="ru", persona="sergey_medium",
                                       product_description="Доставка сборных грузов из Китая за 25 дней.")
    make_user("ttsdown", "Trainee")
    wav = _wav(tmp_path / "quiet.wav", _silence(30.0))
    with OpenAIServer() as vendor, _chromium_page(wav, tmp_path / "ttsdown.png") as page:
        vendor.push(error(503, "The engine is currently overloaded"))
        monkeypatch.setattr(consumers, "build_pipeline", lambda *, setup: build_pipeline(
            setup=setup, stt=FakeSTT(), tts=OpenAITTS(api_key="sk-test", base_url=vendor.base_url)))
        session_id = _login_and_start(page, daphne_url, "ttsdown", scenario.pk)
        page.wait_for_function("document.querySelector('#status').classList.contains('error')", timeout=30000)
        assert page.inner_text("#status") == (
            "Не удалось синтезировать голос клиента, поэтому ответ может быть не слышен. Сессия сохранена.")
        # the customer's pick-up line is shown although it could not be voiced (which one: the session's seed)
        page.wait_for_function("[...document.querySelectorAll('#transcript li.bot .text')]"
                               ".some((el) => el.textContent.trim())", timeout=15000)
        shown = page.inner_text("#transcript li.bot .text")
        assert any(line in shown for lines in PHRASES["ru"]["pick_up"].values() for line in lines), shown
        # once the turn is over, the line is the customer's words alone, marked as never heard
        page.wait_for_selector("#transcript li.bot.not-voiced .not-voiced-note", timeout=15000)
        unvoiced = page.inner_text("#transcript li.bot.not-voiced .text").strip()
        assert unvoiced in [line for lines in PHRASES["ru"]["pick_up"].values() for line in lines], unvoiced
        assert page.inner_text("#transcript li.bot.not-voiced .not-voiced-note") == "(не озвучено)"
        assert any(request.get("input") for request in vendor.requests)  # the speech endpoint was asked

        monkeypatch.setattr(consumers, "build_pipeline", lambda *, setup: build_pipeline(
            setup=setup, stt=FakeSTT(), tts=OpenAITTS(api_key="")))
        page.goto(f"{daphne_url}/training/sessions/{session_id}/live/")
        page.click("#start-button")
        page.wait_for_function("window.trainer.closeCode === 4503", timeout=30000)
        assert page.inner_text("#status") == ("Голосовые сервисы недоступны, поэтому тренировку нельзя начать. "
                                              "Попробуйте позже или сообщите руководителю. Сессия сохранена.")
    # the customer's unvoiced line is stored with the session, for the review, marked the same way
    stored = list(TrainingSession.objects.get(pk=session_id).turns.filter(speaker="bot").values_list("text", "voiced"))
    assert stored[:1] == [(unvoiced, False)], stored

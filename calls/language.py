"""Auto-language in the live call: the callee's first words choose the script, the recognition hint and the voice.

A campaign in language «auto» opens in its main script's language and keeps scripts in other languages
(``CallMediaContext.scripts``). For its first caller turns (``VOICE["AUTO_LANGUAGE"]["DETECT_TURNS"]``)
the recogniser gets no language hint, so it reports what it heard; when that is another script
language, heard with at least ``MIN_PROBABILITY``, the call switches between the caller's words and
the answer: the script map and its classifier, the hint, the TTS voice (``config.voice.tts_for_language``)
and the service phrases. A provider that names the language without a probability (OpenAI's
``verbose_json``) must name the same one on two turns in a row. At most ``MAX_SWITCHES`` switches per
call; after the listening turns the hint stays on the call's language. Each switch is a ``language``
event on the call and sets ``Call.language`` (``calls.services.lifecycle.call_language_heard``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from calls.selectors import CallMediaContext
from calls.services.lifecycle import call_language_heard
from config.voice import tts_for_language as default_tts
from dialogs.languages import pick_language
from dialogs.responders import FLOW_KEY
from dialogs.scriptmap import speech_prompt
from voice.pipeline import LanguageSwitch
from voice.responder import ConversationState, Responder
from voice.stt.base import Transcript

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LanguagePolicy:
    min_probability: float = 0.6  # faster-whisper's language probability below this changes nothing
    detect_turns: int = 3  # caller turns transcribed without a hint, so the recogniser says what it hears
    max_switches: int = 2  # no flapping: a wrong first guess can be undone once, then the language stays

    @classmethod
    def from_settings(cls) -> LanguagePolicy:
        block = settings.VOICE.get("AUTO_LANGUAGE") or {}
        return cls(min_probability=float(block.get("MIN_PROBABILITY", cls.min_probability)),
                   detect_turns=int(block.get("DETECT_TURNS", cls.detect_turns)),
                   max_switches=int(block.get("MAX_SWITCHES", cls.max_switches)))


class LanguageWatch:
    """``voice.pipeline.LanguageWatch`` for one call of a campaign in «auto»."""

    def __init__(self, ctx: CallMediaContext, *,
                 build_responder: Callable[[CallMediaContext], Responder],
                 policy: LanguagePolicy | None = None, tts_for_language: Callable[[str], Any] | None = None):
        self.ctx = ctx
        self.build_responder = build_responder
        self.policy = policy or LanguagePolicy.from_settings()
        self.tts_for_language = tts_for_language or default_tts
        self.turns = 0
        self.switches = 0
        self.unconfirmed = ""  # a language named without a probability, waiting for a second turn

    @property
    def listening(self) -> bool:
        return self.turns < self.policy.detect_turns and self.switches < self.policy.max_switches

    def stt_language(self, current: str) -> str | None:
        return None if self.listening else current

    async def heard(self, transcript: Transcript, *, current: str, state: ConversationState) -> LanguageSwitch | None:
        if not self.listening:
            return None
        self.turns += 1
        candidate = pick_language(transcript.language, candidates=self.ctx.scripts, current=current)
        probability = transcript.language_probability
        if candidate == current:
            self.unconfirmed = ""
            return None
        if probability is None:
            if self.unconfirmed != candidate:
                self.unconfirmed = candidate
                return None
        elif probability < self.policy.min_probability:
            log.info("call %s: heard %s with probability %.2f, staying in %s", self.ctx.call_id,
                     transcript.language, probability, current)
            return None
        self.unconfirmed = ""
        chosen = await database_sync_to_async(call_language_heard)(
            ctx=self.ctx, current=current, detected=transcript.language, text=transcript.text,
            probability=probability)
        if chosen == current:
            return None
        self.switches += 1
        return await self._switch_to(chosen, state)

    async def _switch_to(self, language: str, state: ConversationState) -> LanguageSwitch:
        script_map = self.ctx.scripts[language]
        flow = state.data.get(FLOW_KEY)
        if isinstance(flow, dict):  # the scripts share their stages: the conversation goes on where it was
            flow["language"] = language
        tts = await asyncio.to_thread(self.tts_for_language, language)
        responder = self.build_responder(replace(self.ctx, language=language, script_map=script_map))
        # the campaign's voice was chosen for its main language (eSpeak would read Uzbek with a Russian
        # voice): the new language speaks with its own TTS's voice for it
        return LanguageSwitch(language=language, responder=responder, tts=tts, voice="",
                              stt_prompt=speech_prompt(script_map), script_map=script_map)


def language_watch_for(ctx: CallMediaContext, *,
                       build_responder: Callable[[CallMediaContext], Responder]) -> LanguageWatch | None:
    """A watch for calls that may switch (a campaign in «auto» with scripts in other languages), else None."""
    if len(ctx.scripts) < 2:
        return None
    return LanguageWatch(ctx, build_responder=build_responder)

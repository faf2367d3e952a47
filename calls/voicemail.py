"""Voicemail: what a call does when an answering machine picks up, whoever noticed it first.

Three detectors may speak for one call: Twilio's async AMD (``AnsweredBy`` to a signed callback),
the Voximplant scenario's AMD module (its signed result report) and our own ``voice.amd`` detector
listening to the callee's audio in the media path (``VoicemailWatcher``, every carrier, the only one
for the simulated carrier). Each verdict goes through ``call_answered_by``, which records it on the
call (an ``amd`` event) and, the first time a machine is heard on a campaign that cares
(``Campaign.voicemail_mode``), decides once (a ``voicemail`` event):

- ``hang_up``: the bot hangs up at once;
- ``leave_message``: after the greeting (the beep, or its silence) the script's ``voicemail`` phrase
  is said, then the call hangs up. Twilio plays it itself (TwiML ``<Say>`` through a call update);
  otherwise our media path says it in the campaign's voice.

The call then ends as ``voicemail`` (``calls.services.lifecycle.call_progress`` reads the ``voicemail`` event),
so it is not analysed, makes no lead, and the campaign's retry rules apply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.db import transaction

from calls.events import call_publish
from calls.models import Call, CallEvent, VoicemailMode
from calls.selectors import LIVE_FOR_MEDIA, call_media_context
from calls.telephony import get_provider
from dialogs.scriptmap import voicemail_message
from integrations.errors import ProviderError
from voice.amd import AnsweringMachineDetector

log = logging.getLogger(__name__)

MACHINE_ANSWERS = frozenset({"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"})
GREETING_OVER = frozenset({"machine_end_beep", "machine_end_silence", "machine_end_other"})
# Twilio's AnsweredBy values (and ours, the same words); anything else is stored as "unknown"
ANSWERED_BY = frozenset({"human", "unknown", *MACHINE_ANSWERS})
HANG_UP, LEAVE_MESSAGE = "hang_up", "leave_message"
HELD_GRACE_S = 20.0  # how long a bot held on a machine waits for another detector's action before it hangs up


@dataclass(frozen=True)
class VoicemailAction:
    action: str = ""  # "" (nothing to do now) | hang_up | leave_message
    message: str = ""
    language: str = "ru"


NOTHING = VoicemailAction()


def call_answered_by(*, call_id: int, answered_by: str, source: str, can_play: bool) -> VoicemailAction:
    """Record who answered (``source``: twilio, voximplant, offline); say what to do now, at most once per call.

    ``can_play``: the reporter can leave the message itself when the greeting is over (our media path,
    Twilio). A machine heard by one that cannot (Voximplant) is recorded; our media path leaves the
    message after the beep.
    """
    answered_by = answered_by if answered_by in ANSWERED_BY else "unknown"
    with transaction.atomic():
        call = Call.objects.select_for_update().select_related("campaign").filter(pk=call_id).first()
        if call is None:
            log.warning("answering-machine verdict %r for unknown call %s", answered_by, call_id)
            return NOTHING
        CallEvent.objects.create(call=call, kind="amd", data={"answered_by": answered_by, "source": source})
        mode = call.campaign.voicemail_mode
        if answered_by not in MACHINE_ANSWERS or mode == VoicemailMode.OFF or call.status not in LIVE_FOR_MEDIA:
            return NOTHING
        if CallEvent.objects.filter(call=call, kind="voicemail").exists():
            return NOTHING  # another detector was first and it is being dealt with
        if mode == VoicemailMode.LEAVE_MESSAGE and answered_by != "fax":
            if answered_by not in GREETING_OVER or not can_play:
                return NOTHING  # the greeting goes on: the message waits for its end
            action = LEAVE_MESSAGE
        else:
            action = HANG_UP
        CallEvent.objects.create(call=call, kind="voicemail",
                                 data={"answered_by": answered_by, "source": source, "action": action})
        payload = {"kind": "voicemail", "answered_by": answered_by, "source": source, "action": action}
        campaign_id = call.campaign_id
        transaction.on_commit(lambda: call_publish(call_id=call_id, campaign_id=campaign_id, payload=payload))
    if action == HANG_UP:
        return VoicemailAction(HANG_UP)
    return VoicemailAction(LEAVE_MESSAGE, *call_voicemail_message(call_id=call_id))


def call_voicemail_message(*, call_id: int) -> tuple[str, str]:
    """The message for this call's voicemail (the script's ``voicemail`` phrase, rendered) and its language."""
    ctx = call_media_context(call_id=call_id)
    return voicemail_message(ctx.script_map, ctx.variables), ctx.language


def call_voicemail_carrier(*, call_id: int, answered_by: str, source: str) -> str:
    """A carrier's verdict (a webhook): decide, and have the carrier hang up or play the message."""
    call = Call.objects.filter(pk=call_id).only("provider", "provider_call_id").first()
    if call is None:
        return ""
    provider = get_provider(call.provider or source)
    act = call_answered_by(call_id=call_id, answered_by=answered_by, source=source,
                           can_play=provider.plays_voicemail)
    if not act.action or not call.provider_call_id:
        return act.action
    try:
        if act.action == LEAVE_MESSAGE:
            provider.leave_voicemail(provider_call_id=call.provider_call_id, text=act.message, language=act.language)
        else:
            provider.hangup(provider_call_id=call.provider_call_id)
    except ProviderError as exc:
        log.warning("call %s: %s through %s failed: %s", call_id, act.action, provider.name, exc)
        CallEvent.objects.create(call_id=call_id, kind="voicemail_failed", data={
            "action": act.action, "error": str(exc)[:500], "class": type(exc).__name__,
            "status": getattr(exc, "status", None)})
    return act.action


class VoicemailWatcher:
    """The media path's detector: an ``AudioTap`` in front of another (the recorder) that runs ``voice.amd``.

    A machine's greeting holds the bot at once (it stops talking and answers nothing); the decision
    (``call_answered_by``) then has the pipeline hang up, or leave the message once the greeting is over.
    ``pipeline`` returns the call's ``VoicePipeline`` (built after the tap).
    """

    def __init__(self, *, call_id: int, inner, pipeline: Callable[[], object]) -> None:
        self.call_id = call_id
        self.inner = inner
        self.pipeline = pipeline
        self.detector = None
        self.tasks: set[asyncio.Task] = set()

    # voice.session.AudioTap
    def begin(self, sample_rate: int) -> None:
        self.detector = AnsweringMachineDetector(sample_rate=sample_rate)
        self.inner.begin(sample_rate)

    def inbound(self, pcm16: bytes) -> None:
        self.inner.inbound(pcm16)
        if self.detector is None or self.detector.done:
            return
        for result in self.detector.feed(pcm16):
            pipeline = self.pipeline()
            if result.machine and pipeline is not None:
                pipeline.hold()  # before the next frame: the bot must not answer the greeting
            task = asyncio.get_running_loop().create_task(self._act(result.answered_by))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def outbound(self, pcm16: bytes) -> None:
        self.inner.outbound(pcm16)

    def cleared(self) -> None:
        self.inner.cleared()

    async def _act(self, answered_by: str) -> None:
        try:
            act = await database_sync_to_async(call_answered_by)(call_id=self.call_id, answered_by=answered_by,
                                                                 source="offline", can_play=True)
        except Exception:
            log.exception("call %s: the voicemail decision failed", self.call_id)
            return
        pipeline = self.pipeline()
        if pipeline is None:
            return
        if act.action:
            log.info("call %s: answering machine (%s): %s", self.call_id, answered_by, act.action)
            await pipeline.leave_message(act.message if act.action == LEAVE_MESSAGE else "")
        elif answered_by in GREETING_OVER and pipeline.held:
            # another detector decided, and it ends the call (Twilio's TwiML, the VoxEngine scenario); should it
            # fail to, a held bot must not keep the line open until the sweeper
            await asyncio.sleep(HELD_GRACE_S / max(pipeline.config.pace_speed or 1.0, 0.1))
            if not (pipeline.closed or pipeline.ended):
                log.warning("call %s: held on an answering machine and nobody ended the call: hanging up",
                            self.call_id)
                await pipeline.leave_message("")

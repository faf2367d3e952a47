"""The call lifecycle: the state machine, what carriers report, hang-up, and the sweeper for stuck calls.

``call_transition`` and ``calls_transition`` (the same move for many calls) are the only functions that change
``Call.status``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from calls.events import call_publish
from calls.models import AFTER_END_STATUSES, Call, CallEvent, CallOutcome, Contact
from calls.selectors import CallMediaContext
from calls.services.planning import contact_retry_plan
from calls.telephony import get_provider
from config.metrics import record_carrier_error
from dialogs.languages import pick_language
from integrations.errors import ProviderError

log = logging.getLogger(__name__)

S = Call.Status
TRANSITIONS: dict[str, frozenset[str]] = {
    S.QUEUED: frozenset({S.DIALING, S.CANCELED}),
    S.DIALING: frozenset({S.RINGING, S.IN_PROGRESS, S.ENDED, S.CANCELED}),
    S.RINGING: frozenset({S.IN_PROGRESS, S.ENDED, S.CANCELED}),
    S.IN_PROGRESS: frozenset({S.ENDED}),
    # Unanswered calls have nothing to analyse and go straight to done.
    S.ENDED: frozenset({S.ANALYSING, S.DONE}),
    S.ANALYSING: frozenset({S.FOLLOW_UP, S.DONE}),
    S.FOLLOW_UP: frozenset({S.CRM, S.DONE}),
    S.CRM: frozenset({S.DONE}),
    S.DONE: frozenset(),
    S.CANCELED: frozenset(),
}
_TIMESTAMPS = {S.DIALING: "dialing_at", S.IN_PROGRESS: "answered_at", S.ENDED: "ended_at", S.DONE: "done_at",
               S.CANCELED: "done_at"}
_DATA_FIELDS = ("outcome", "provider_call_id", "duration_s", "error")


class IllegalTransition(Exception):
    def __init__(self, call_id: int, from_status: str, to_status: str):
        super().__init__(f"call {call_id}: {from_status} -> {to_status} is not allowed")
        self.from_status, self.to_status = from_status, to_status


def call_transition(*, call_id: int, to: str, **data: Any) -> Call:
    """Move a call to ``to``: check the move, stamp the time, write a ``CallEvent``, publish after commit.

    Moving to the status a call already has is a no-op, so repeated webhooks are harmless. ``data``
    may carry ``outcome`` (required for ``ended``), ``provider_call_id``, ``duration_s`` and
    ``error``, which are stored on the call; anything else goes into the event only.
    """
    to = S(to)
    with transaction.atomic():
        call = Call.objects.select_for_update().select_related("campaign").get(pk=call_id)
        if call.status == to:
            return call
        if to not in TRANSITIONS[call.status]:
            raise IllegalTransition(call_id, call.status, to)
        from_status, update, data = _move(call, to, data, timezone.now())
        call.save(update_fields=update)
        _log_move(call, from_status, CallEvent.objects.create(call=call, from_status=from_status, to_status=to,
                                                              data=_event_data(data)))
        if to == S.ENDED:
            _after_end(call)
    return call


def calls_transition(*, call_ids: list[int], to: str, **data: Any) -> list[Call | IllegalTransition | None]:
    """``call_transition`` of many calls to the same live status, in one transaction and a few statements.

    Per call, in ``call_ids``' order: the call (moved, or already there), the ``IllegalTransition`` its move
    would be, or None for a call that does not exist. A campaign's calls are answered together: one
    transaction for all of them instead of a locked read, an update and an insert each (``calls.db_batch``).
    ``ended`` is not batched: its follow-up (analysis, retries) is ``call_transition``'s.
    """
    to = S(to)
    if to == S.ENDED:
        raise ValueError("calls_transition does not end calls; call_transition does")
    now = timezone.now()
    with transaction.atomic():
        calls = {c.pk: c for c in Call.objects.select_for_update().filter(pk__in=set(call_ids)).order_by("pk")}
        out: list[Call | IllegalTransition | None] = []
        moved: dict[tuple[str, ...], list[Call]] = {}
        events: list[tuple[Call, str, CallEvent]] = []
        for call_id in call_ids:
            call = calls.get(call_id)
            if call is None or call.status == to:  # a call named twice is there by its second time
                out.append(call)
                continue
            if to not in TRANSITIONS[call.status]:
                out.append(IllegalTransition(call_id, call.status, to))
                continue
            from_status, update, moved_data = _move(call, to, dict(data), now)
            moved.setdefault(tuple(update), []).append(call)
            events.append((call, from_status, CallEvent(call=call, from_status=from_status, to_status=to,
                                                         data=_event_data(moved_data))))
            out.append(call)
        for fields, group in moved.items():  # the same values for all of a group: the status, the stamp, ``data``
            Call.objects.filter(pk__in=[c.pk for c in group]).update(**{f: getattr(group[0], f) for f in fields})
        CallEvent.objects.bulk_create([event for _, _, event in events])
        for call, from_status, event in events:
            _log_move(call, from_status, event)
    return out


def _move(call: Call, to: str, data: dict[str, Any], now: datetime) -> tuple[str, list[str], dict[str, Any]]:
    """Set the call's fields for the (checked) move to ``to``: (the status it left, the fields to save, data)."""
    if to == S.ENDED:
        outcome = data.get("outcome") or CallOutcome.FAILED
        data["outcome"] = CallOutcome(outcome).value
    from_status = call.status
    call.status = to
    update = ["status"]
    stamp = _TIMESTAMPS.get(to)
    if stamp and getattr(call, stamp) is None:
        setattr(call, stamp, now)
        update.append(stamp)
    for name in _DATA_FIELDS:
        if data.get(name) not in (None, ""):
            setattr(call, name, data[name])
            update.append(name)
    if to == S.ENDED and call.duration_s is None and call.answered_at is not None:
        call.duration_s = round((now - call.answered_at).total_seconds(), 2)
        update.append("duration_s")
    if to == S.ENDED and call.outcome != CallOutcome.COMPLETED and not call.disposition:
        disposition = {CallOutcome.NO_ANSWER: Call.Disposition.NO_ANSWER, CallOutcome.BUSY: Call.Disposition.BUSY,
                       CallOutcome.VOICEMAIL: Call.Disposition.VOICEMAIL}.get(call.outcome)
        if disposition:
            call.disposition = disposition
            update.append("disposition")
    return from_status, list(dict.fromkeys(update)), data


def _event_data(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}


def _log_move(call: Call, from_status: str, event: CallEvent) -> None:
    """Publish the stored move to the call's live pages once the transaction commits."""
    payload = {"kind": "status", "from": from_status, "to": event.to_status, "outcome": call.outcome,
               "disposition": call.disposition, "at": event.created_at.isoformat(), "data": event.data}
    call_id, campaign_id = call.pk, call.campaign_id
    transaction.on_commit(lambda: call_publish(call_id=call_id, campaign_id=campaign_id, payload=payload))


def _after_end(call: Call) -> None:
    """Inside the ending transaction: finish the contact or plan its retry; analyse answered calls."""
    campaign = call.campaign
    if call.outcome == CallOutcome.COMPLETED:
        Contact.objects.filter(pk=call.contact_id).update(finished=True)
        from calls.tasks import analyse_call  # noqa: PLC0415  calls.tasks imports the services

        call_id = call.pk
        transaction.on_commit(lambda: analyse_call.delay(call_id))
        return
    call_transition(call_id=call.pk, to=S.DONE, reason="not answered")
    attempts = Call.objects.filter(campaign=campaign, contact_id=call.contact_id).exclude(status=S.CANCELED).count()
    if call.outcome in campaign.retry_outcomes and attempts < campaign.max_attempts:
        contact_id, campaign_id = call.contact_id, campaign.pk
        # Plans the retry today if the interval still fits the contact's window; otherwise the nightly run will.
        transaction.on_commit(lambda: contact_retry_plan(campaign_id=campaign_id, contact_id=contact_id))
    else:
        Contact.objects.filter(pk=call.contact_id).update(finished=True)


def call_fail(*, call_id: int, error: str) -> Call | None:
    """Give up on a call that could not be dialled (retries exhausted)."""
    call = Call.objects.filter(pk=call_id).only("status").first()
    if call is None or call.status not in (S.QUEUED, S.DIALING, S.RINGING):
        return call
    if call.status == S.QUEUED:
        return call_transition(call_id=call_id, to=S.CANCELED, error=error[:2000])
    return call_transition(call_id=call_id, to=S.ENDED, outcome=CallOutcome.FAILED, error=error[:2000])


# Provider-neutral call progress, as status webhooks and the simulated carrier report it.
PROGRESS = {"ringing": S.RINGING, "answered": S.IN_PROGRESS}
PROGRESS_OUTCOMES = {
    "completed": CallOutcome.COMPLETED, "no_answer": CallOutcome.NO_ANSWER, "busy": CallOutcome.BUSY,
    "voicemail": CallOutcome.VOICEMAIL, "failed": CallOutcome.FAILED, "canceled": CallOutcome.NO_ANSWER,
}


def call_progress(*, call_id: int, event: str, **data: Any) -> Call | None:
    """Apply what the carrier says happened (``ringing``, ``answered``, ``completed``, ``busy`` …).

    Carriers report late and out of order (the media stream usually ends a call before the status
    callback does), so a report that would move a call backwards is recorded and otherwise ignored.
    """
    call = Call.objects.filter(pk=call_id).only("status", "campaign_id", "provider").first()
    if call is None:
        log.warning("progress %r for unknown call %s", event, call_id)
        return None
    try:
        if event in PROGRESS:
            return call_transition(call_id=call_id, to=PROGRESS[event], **data)
        if event in PROGRESS_OUTCOMES:
            if call.status in AFTER_END_STATUSES or call.status == S.CANCELED:
                return call
            if event == "completed" and CallEvent.objects.filter(call_id=call_id, kind="voicemail").exists():
                event = "voicemail"  # a machine answered and was dealt with (calls.voicemail): not a conversation
            if event == "failed":
                record_carrier_error(provider=call.provider or "unknown", code=data.get("code") or "call_failed")
            return call_transition(call_id=call_id, to=S.ENDED, outcome=PROGRESS_OUTCOMES[event], **data)
    except IllegalTransition as exc:
        CallEvent.objects.create(call_id=call_id, kind="late_report", data={"event": event, "detail": str(exc)})
        return call
    CallEvent.objects.create(call_id=call_id, kind="provider", data={"event": event, **data})
    return call


def calls_progress(*, call_ids: list[int], event: str, **data: Any) -> None:
    """``call_progress`` of many calls for the same live report (``ringing`` or ``answered``), in one transaction.

    The media sockets of a campaign's calls report ``answered`` together (``calls.db_batch`` gathers them). As
    one by one: a report that would move a call backwards is recorded as ``late_report``; an unknown call is
    logged.
    """
    if event not in PROGRESS:
        raise ValueError(f"calls_progress takes a live report ({', '.join(PROGRESS)}), not {event!r}")
    with transaction.atomic():
        results = calls_transition(call_ids=call_ids, to=PROGRESS[event], **data)
        late = []
        for call_id, result in zip(call_ids, results, strict=True):
            if result is None:
                log.warning("progress %r for unknown call %s", event, call_id)
            elif isinstance(result, IllegalTransition):
                late.append(CallEvent(call_id=call_id, kind="late_report",
                                      data={"event": event, "detail": str(result)}))
        CallEvent.objects.bulk_create(late)


def call_hangup(*, call_id: int) -> None:
    """The flow ended the conversation: ask the carrier to hang up (media-only carriers need nothing)."""
    call = Call.objects.filter(pk=call_id).only("provider", "provider_call_id").first()
    if call is None or not call.provider_call_id:
        return
    try:
        get_provider(call.provider).hangup(provider_call_id=call.provider_call_id)
    except ProviderError:
        log.warning("call %s: hang-up through %s failed", call_id, call.provider, exc_info=True)


# --- the sweeper ---------------------------------------------------------------------------------------------

# How long a call may sit in each state before the sweeper settles it (seconds; ``CALL_STUCK_AFTER_S``
# overrides any of them). Live states are asked of the carrier first; after-call states are re-driven.
STUCK_AFTER_S = {S.DIALING: 180, S.RINGING: 180, S.IN_PROGRESS: 3600, S.ENDED: 180, S.ANALYSING: 900,
                 S.FOLLOW_UP: 180, S.CRM: 180}
SWEEP_BATCH = 500


def _stuck(status: str, now: datetime) -> list[int]:
    limit = timedelta(seconds={**STUCK_AFTER_S, **getattr(settings, "CALL_STUCK_AFTER_S", {})}[status])
    since = Subquery(CallEvent.objects.filter(call=OuterRef("pk"), kind="status", to_status=status)
                     .order_by("-created_at").values("created_at")[:1])
    return list(Call.objects.filter(status=status).annotate(since=since)
                .filter(Q(since__lt=now - limit) | Q(since__isnull=True, queued_at__lt=now - limit))
                .values_list("pk", flat=True)[:SWEEP_BATCH])


def _settle_live(call_id: int, status: str, waited_s: int) -> str:
    """Ask the carrier where the call is; without an answer end it with the reason. Returns what was done."""
    call = Call.objects.filter(pk=call_id, status=status).first()
    if call is None:
        return "moved"
    state = None
    if call.provider_call_id and call.provider:
        try:
            state = get_provider(call.provider).call_state(provider_call_id=call.provider_call_id)
        except ProviderError as exc:
            log.warning("sweeper: call %s: the carrier could not say where it is: %s", call_id, exc)
    if state in ("ringing", "answered") and PROGRESS[state] == status:
        CallEvent.objects.create(call_id=call_id, kind="sweeper", data={"carrier_says": state, "action": "left"})
        return "live"
    if state in PROGRESS or state in PROGRESS_OUTCOMES:
        call_progress(call_id=call_id, event=state, reason="sweeper asked the carrier")
        return f"carrier:{state}"
    if status == S.DIALING and call.dial_requested_at is None and not call.provider_call_id:
        # the dial never left: its task was lost with a worker
        from calls.tasks import place_call  # noqa: PLC0415  calls.tasks imports the services

        place_call.delay(call_id)
        return "redialled"
    outcome = {S.DIALING: CallOutcome.FAILED, S.RINGING: CallOutcome.NO_ANSWER,
               S.IN_PROGRESS: CallOutcome.COMPLETED}[status]
    reason = f"stuck in {status} for {waited_s // 60} min with no word from the carrier; ended by the sweeper"
    try:
        call_transition(call_id=call_id, to=S.ENDED, outcome=outcome, error=reason, reason=reason)
    except IllegalTransition:
        return "moved"
    return "ended"


def calls_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Settle every call past its deadline in a live state and re-drive stalled after-call work, once each."""
    from calls.tasks import analyse_call  # noqa: PLC0415  calls.tasks imports the services

    now = now or timezone.now()
    done: dict[str, int] = {}
    for status in (S.DIALING, S.RINGING, S.IN_PROGRESS):
        limit_s = {**STUCK_AFTER_S, **getattr(settings, "CALL_STUCK_AFTER_S", {})}[status]
        for call_id in _stuck(status, now):
            action = _settle_live(call_id, status, limit_s)
            done[f"{status}:{action}"] = done.get(f"{status}:{action}", 0) + 1
    for status in (S.ENDED, S.ANALYSING, S.FOLLOW_UP, S.CRM):
        for call_id in _stuck(status, now):
            CallEvent.objects.create(call_id=call_id, kind="sweeper", data={"status": status, "action": "re-drive"})
            analyse_call.delay(call_id)
            done[f"{status}:redriven"] = done.get(f"{status}:redriven", 0) + 1
    if done:
        log.info("sweeper: %s", done)
    return done


# --- what else a live call logs: the language heard, people listening in or taking over ----------------------


def call_language_heard(*, ctx: CallMediaContext, current: str, detected: str, text: str = "",
                        probability: float | None = None) -> str:
    """A campaign in «auto»: the language to go on in after the recogniser heard ``detected``.

    ``calls.language.LanguageWatch`` calls it for the caller's first turns (transcribed without a
    language hint) once the detection is sure enough; when the answer differs from ``current`` the
    call switches to ``ctx.scripts[answer]``. A switch is written to the call's event log and to
    ``Call.language``.
    """
    if not ctx.scripts:
        return current
    chosen = pick_language(detected, candidates=ctx.scripts, current=current)
    if chosen != current:
        data = {"from": current, "to": chosen, "detected": detected, "text": text[:200]}
        if probability is not None:
            data["probability"] = round(probability, 3)
        with transaction.atomic():
            CallEvent.objects.create(call_id=ctx.call_id, kind="language", data=data)
            Call.objects.filter(pk=ctx.call_id).update(language=chosen)
    return chosen


def call_media_not_started(*, call_id: int, reason: str, close_code: int | None = None) -> None:
    """The carrier's media socket was let in for the call but its audio never started (a ``start`` refused, a
    ``stop`` or a hang-up before it): say so on the call's log. Its status stays the carrier's to report (the
    status callback, or the sweeper asking the carrier)."""
    if not Call.objects.filter(pk=call_id).exists():
        log.warning("media_not_started for unknown call %s", call_id)
        return
    data = {"reason": reason, **({"close_code": close_code} if close_code is not None else {})}
    CallEvent.objects.create(call_id=call_id, kind="media_not_started", data=data)


OPERATOR_EVENT_KINDS = ("listen_started", "listen_stopped", "takeover_started", "takeover_ended")


def call_operator_event(*, call_id: int, kind: str, user_id: int | None, username: str, **data: Any) -> None:
    """Log a person listening to or taking over a call, with who it was; the call's page refreshes its log."""
    if kind not in OPERATOR_EVENT_KINDS:
        raise ValueError(f"unknown operator event {kind!r}")
    call = Call.objects.filter(pk=call_id).only("campaign_id").first()
    if call is None:
        log.warning("%s for unknown call %s", kind, call_id)
        return
    event = CallEvent.objects.create(call_id=call_id, kind=kind, data={"user": username, "user_id": user_id, **data})
    call_publish(call_id=call_id, campaign_id=call.campaign_id,
                 payload={"kind": "operator", "event": kind, "user": username, "at": event.created_at.isoformat()})

"""Console template helpers: state codes shown as their translated labels, never raw."""

from __future__ import annotations

import json

from django import template
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext_lazy
from django.utils.translation import gettext_lazy as _

from calls.models import Call

register = template.Library()

# The voice pipeline's mind states (voice.events.MindState), as a person reads them.
MIND_STATES = {
    "IDLE": _("Waiting"),
    "LISTENING": _("Listening"),
    "ANALYZING_SPEECH": _("Recognising speech"),
    "CHECKING_CACHE": _("Looking for a ready answer"),
    "ROUTING_TO_LLM": _("Thinking"),
    "GENERATING_SPEECH": _("Preparing speech"),
    "SPEAKING": _("Speaking"),
}
LIVE_CALL_STATUSES = ("queued", "dialing", "ringing", "in_progress")


@register.filter
def call_status(code: str) -> str:
    """A call status code («in_progress») as its label («Идёт разговор»); empty stays empty."""
    if not code:
        return "—"
    try:
        return str(Call.Status(code).label)
    except ValueError:
        return code


@register.filter
def mind_state(code: str) -> str:
    return str(MIND_STATES.get(code, code))


@register.simple_tag
def mind_state_labels() -> str:
    """The mind-state labels as JSON, for a ``data-`` attribute the page's script reads."""
    return json.dumps({k: str(v) for k, v in MIND_STATES.items()}, ensure_ascii=False)  # escaped by the tag


@register.simple_tag
def live_call_statuses() -> str:
    return " ".join(LIVE_CALL_STATUSES)


@register.filter
def is_live_call(code: str) -> bool:
    return code in LIVE_CALL_STATUSES


_n = ngettext_lazy
# «2 лида», «5 звонков», «2 списка контактов»: counts of each model with the language's plural forms
OBJECT_COUNTS = {
    "calls.contactlist": _n("%(n)d contact list", "%(n)d contact lists", "n"),
    "calls.contact": _n("%(n)d contact", "%(n)d contacts", "n"),
    "calls.donotcall": _n("%(n)d do-not-call entry", "%(n)d do-not-call entries", "n"),
    "calls.campaign": _n("%(n)d campaign", "%(n)d campaigns", "n"),
    "calls.call": _n("%(n)d call", "%(n)d calls", "n"),
    "calls.callevent": _n("%(n)d call event", "%(n)d call events", "n"),
    "calls.turn": _n("%(n)d call turn", "%(n)d call turns", "n"),
    "crm.lead": _n("%(n)d lead", "%(n)d leads", "n"),
    "crm.task": _n("%(n)d task", "%(n)d tasks", "n"),
    "crm.followup": _n("%(n)d follow-up message", "%(n)d follow-up messages", "n"),
    "dialogs.script": _n("%(n)d script", "%(n)d scripts", "n"),
    "dialogs.scriptversion": _n("%(n)d script version", "%(n)d script versions", "n"),
    "training.trainee": _n("%(n)d trainee", "%(n)d trainees", "n"),
    "training.scenario": _n("%(n)d scenario", "%(n)d scenarios", "n"),
    "training.trainingsession": _n("%(n)d training session", "%(n)d training sessions", "n"),
    "training.sessionturn": _n("%(n)d session turn", "%(n)d session turns", "n"),
    "training.score": _n("%(n)d score", "%(n)d scores", "n"),
    "training.sessionevent": _n("%(n)d session event", "%(n)d session events", "n"),
    "training.scorecard": _n("%(n)d scorecard", "%(n)d scorecards", "n"),
    "training.scorecardcheck": _n("%(n)d scorecard check", "%(n)d scorecard checks", "n"),
    "training.assignment": _n("%(n)d assignment", "%(n)d assignments", "n"),
    "training.certification": _n("%(n)d certification", "%(n)d certifications", "n"),
    "auth.user": _n("%(n)d user", "%(n)d users", "n"),
    "auth.group": _n("%(n)d group", "%(n)d groups", "n"),
}


@register.simple_tag
def object_count(opts, n: int) -> str:
    """«5 звонков»; a model without its own forms reads «Periodic tasks: 5», which agrees in any language."""
    phrase = OBJECT_COUNTS.get(opts.label_lower)
    if phrase is not None:
        return str(phrase % {"n": n})
    return gettext("%(things)s: %(n)d") % {"things": capfirst(opts.verbose_name_plural), "n": n}


CALL_EVENT_KINDS = {
    "status": _("status change"),
    "provider": _("carrier report"),
    "late_report": _("late carrier report"),
    "listen_started": _("listening started"),
    "listen_stopped": _("listening stopped"),
    "takeover_started": _("taken over by an operator"),
    "takeover_ended": _("handed back to the bot"),
    "language": _("language switched"),  # an «auto» campaign heard the callee's language (calls.language)
    "amd": _("answering-machine detection"),
    "voicemail": _("answering machine: handled"),
    "voicemail_failed": _("answering machine: the carrier failed"),
    "transfer_requested": _("transfer to a person requested"),
    "transferred": _("transferred to a person"),
    "transfer_failed": _("transfer failed"),
    "media_not_started": _("the call's audio never started"),
}


@register.filter
def call_event_kind(code: str) -> str:
    return str(CALL_EVENT_KINDS.get(code, code))


# Why a call moved or ended, as the services and the media socket record it (``CallEvent.data["reason"]`` and
# ``["end_reason"]``); a reason with details of its own (the sweeper's, a protocol error's) is shown as written.
CALL_EVENT_REASONS = {
    "not answered": _("not answered"),
    "campaign not active": _("the campaign is not active"),
    "do not call": _("on the do-not-call list"),
    "sweeper asked the carrier": _("the carrier was asked where the call is"),
    "call ended": _("the call ended"),
    "operator gone": _("the operator's connection was lost"),
    "operator left": _("the operator left"),
    "handed back": _("handed back to the bot"),
    "conversation ended": _("the conversation ended"),
    "stream stopped": _("the carrier ended the stream"),
    "stream dropped": _("the stream dropped without the carrier ending it"),
    "closed before start": _("the connection closed before the audio started"),
    "ended by user": _("ended by the user"),
    "transfer": _("transferred to a person"),
    "transfer failed": _("transfer failed"),
    "voicemail": _("answering machine"),
    "limit: max_duration": _("the call's time limit"),
    "limit: max_silences": _("too many silences"),
}


@register.filter
def call_event_reason(reason: str) -> str:
    return str(CALL_EVENT_REASONS.get(reason, reason))

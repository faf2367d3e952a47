"""Console template helpers: state codes shown as their translated labels, never raw."""

from __future__ import annotations

import json

from django import template
from django.utils.translation import gettext_lazy as _

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
    from calls.models import Call

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

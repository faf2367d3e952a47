"""Template helpers of the trainer: scorecard text is stored as source text and translated when shown."""

from django import template
from django.utils.translation import gettext

register = template.Library()


@register.filter
def source_text(value: str) -> str:
    """The catalogue's translation of a stored label (a manager's own wording comes back as written)."""
    return gettext(value) if value else ""

"""The company's Telegram bot webhook: Telegram posts updates here, authenticated by its secret header."""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm import telegram
from crm.services import telegram_chat_bind

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def telegram_webhook(request: HttpRequest) -> HttpResponse:
    """``/start <token>`` from the follow-up link binds the chat to the contact; the bot answers in the reply.

    Only Telegram knows the secret given to ``setWebhook`` (``manage.py telegram_webhook``); anything
    without it is refused with 403. Every update Telegram sends is answered 200 (a non-2xx answer makes
    it send the update again), the reply to ``/start`` being a ``sendMessage`` in the response body.
    """
    if not telegram.secret_matches(request.headers.get(telegram.SECRET_HEADER)):
        return HttpResponse(status=403)
    try:
        update = json.loads(request.body or b"")
    except ValueError:
        return JsonResponse({"error": "the body is not JSON"}, status=400)
    start = telegram.start_payload(update) if isinstance(update, dict) else None
    if start is None:
        return JsonResponse({})
    chat_id, token = start
    contact = telegram_chat_bind(token=token, chat_id=chat_id)
    if contact is None:
        text = _("Hello! This link is not valid. Please use the link from our message.")
    else:
        text = _("Thank you! We will send our messages to this chat from now on.")
    return JsonResponse({"method": "sendMessage", "chat_id": chat_id, "text": text})

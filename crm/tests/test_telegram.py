"""The Telegram follow-up against a local Bot API: the SMS carries the bot link, ``/start`` binds the chat,
later follow-ups go to Telegram through the outbox, Telegram's errors are classified, the webhook is set."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from calls.models import Call, Campaign
from calls.services import call_after_work
from crm import telegram
from crm.models import FollowUp, OutboxMessage
from crm.outbox import outbox_deliver, outbox_drain_now
from crm.tests.telegram_server import TOKEN, USERNAME, TelegramServer
from crm.tests.test_outbox import _answered

pytestmark = pytest.mark.django_db
S = Call.Status
CH = Campaign.FollowUpChannel
SECRET = "webhook-secret_42"
CHAT = 700_100_200
@pytest.fixture
def bot(settings):
    with TelegramServer() as server:
        settings.TELEGRAM = {"BOT_TOKEN": TOKEN, "BOT_USERNAME": USERNAME, "WEBHOOK_SECRET": SECRET,
                             "API_URL": server.url, "TIMEOUT_S": 2.0}
        yield server.api


def _call_done(campaign, contact) -> Call:
    call = _answered(campaign, contact)  # the same answered call as the outbox tests
    assert call_after_work(call_id=call.pk) == S.DONE
    return Call.objects.get(pk=call.pk)


def _post_update(client, update: dict, secret: str | None = SECRET):
    headers = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret} if secret is not None else {}
    return client.post("/telegram/webhook/", data=json.dumps(update), content_type="application/json", **headers)


def test_the_sms_carries_the_bot_link_start_binds_the_chat_and_the_next_follow_up_goes_to_telegram(
        bot, client, make_campaign, make_contact):
    campaign = make_campaign(follow_up_channel=CH.TELEGRAM)
    contact = make_contact()
    first = _call_done(campaign, contact)
    outbox_drain_now()
    sms = FollowUp.objects.get(call=first)
    assert sms.channel == "console" and sms.to == contact.phone and sms.status == FollowUp.Status.SENT
    link = sms.text.splitlines()[-1]
    assert link == f"https://t.me/{USERNAME}?start={telegram.start_token(contact.pk)}" and len(link.split("=")[1]) <= 64
    assert first.follow_up in sms.text and not bot.sent  # no chat yet: nothing went to Telegram

    # the contact opens the link: Telegram posts /start <token> to our webhook
    update = bot.update_for(chat_id=CHAT, text=f"/start {link.split('start=')[1]}")
    assert _post_update(client, update, secret=None).status_code == 403  # not from Telegram
    assert _post_update(client, update, secret="guess").status_code == 403
    contact.refresh_from_db()
    assert contact.telegram_chat_id == ""
    answer = _post_update(client, update)
    assert answer.status_code == 200
    reply = answer.json()
    assert reply["method"] == "sendMessage" and reply["chat_id"] == CHAT and reply["text"]
    assert _post_update(client, update).status_code == 200  # Telegram redelivers: nothing changes
    contact.refresh_from_db()
    assert contact.telegram_chat_id == str(CHAT)

    second = _call_done(make_campaign(follow_up_channel=CH.TELEGRAM), contact)  # the next campaign's call
    outbox_drain_now()
    message = FollowUp.objects.get(call=second)
    assert message.channel == "telegram" and message.to == str(CHAT) and message.status == FollowUp.Status.SENT
    assert [(m["chat"]["id"], m["text"]) for m in bot.sent] == [(CHAT, second.follow_up)]
    assert message.external_id == str(bot.sent[0]["message_id"])
    method, params = bot.requests[-1]
    assert method == "sendMessage" and str(params["chat_id"]) == str(CHAT)  # a JSON number or a form field


def test_a_forged_or_foreign_start_token_binds_nothing(bot, client, make_contact):
    contact = make_contact()
    token = telegram.start_token(contact.pk)
    forged = f"c{contact.pk + 1}-{token.split('-', 1)[1]}"  # another contact's id with this one's signature
    for text in (f"/start {forged}", "/start", "/start c1-short", "hello"):
        assert _post_update(client, bot.update_for(chat_id=CHAT, text=text)).status_code == 200
    contact.refresh_from_db()
    assert contact.telegram_chat_id == ""
    assert telegram.contact_id_for_token(token) == contact.pk and telegram.contact_id_for_token(forged) is None
    bad = client.post("/telegram/webhook/", data="{not json", content_type="application/json",
                      HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET)
    assert bad.status_code == 400


def test_a_group_chat_cannot_bind_a_contact(bot, client, make_contact):
    contact = make_contact()
    update = bot.update_for(chat_id=-100123, text=f"/start {telegram.start_token(contact.pk)}")
    update["message"]["chat"]["type"] = "group"
    assert _post_update(client, update).status_code == 200
    contact.refresh_from_db()
    assert contact.telegram_chat_id == ""


@pytest.mark.parametrize(("channel", "bound", "expected"), [
    (CH.SMS, True, [("console", False)]),
    (CH.BOTH, True, [("console", False), ("telegram", False)]),
    (CH.BOTH, False, [("console", True)]),
    (CH.TELEGRAM, True, [("telegram", False)]),
    (CH.NONE, True, []),
])
def test_the_campaign_chooses_the_channel(bot, make_campaign, make_contact, channel, bound, expected):
    contact = make_contact()
    if bound:
        bot.chats.add(CHAT)
        contact.telegram_chat_id = str(CHAT)
        contact.save()
    call = _call_done(make_campaign(follow_up_channel=channel), contact)
    outbox_drain_now()
    got = [(m.channel, "t.me/" in m.text) for m in FollowUp.objects.filter(call=call).order_by("pk")]
    assert got == expected
    assert all(m.status == FollowUp.Status.SENT for m in FollowUp.objects.filter(call=call))
    assert len(bot.sent) == sum(1 for ch, _ in expected if ch == "telegram")


def test_without_a_configured_bot_telegram_falls_back_to_a_plain_sms(settings, make_campaign, make_contact):
    settings.TELEGRAM = {**settings.TELEGRAM, "BOT_TOKEN": "", "BOT_USERNAME": ""}
    contact = make_contact()
    contact.telegram_chat_id = str(CHAT)
    contact.save()
    call = _call_done(make_campaign(follow_up_channel=CH.TELEGRAM), contact)
    message = FollowUp.objects.get(call=call)
    assert message.channel == "console" and "t.me/" not in message.text


def _bound_call(bot, make_campaign, make_contact) -> OutboxMessage:
    bot.chats.add(CHAT)
    contact = make_contact()
    contact.telegram_chat_id = str(CHAT)
    contact.save()
    call = _call_done(make_campaign(follow_up_channel=CH.TELEGRAM), contact)
    return OutboxMessage.objects.get(call=call, kind=OutboxMessage.Kind.FOLLOW_UP)


@time_machine.travel(datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("UTC")), tick=False)
def test_flood_control_waits_at_least_retry_after_then_delivers_once(bot, settings, make_campaign, make_contact):
    settings.OUTBOX = {**settings.OUTBOX, "BACKOFF_BASE_S": 1.0}
    row = _bound_call(bot, make_campaign, make_contact)
    bot.flood = [37]
    assert outbox_deliver(message_id=row.pk).status == "retry"
    row.refresh_from_db()
    assert row.status == OutboxMessage.Status.PENDING and "429" in row.last_error
    assert row.next_attempt_at >= timezone.now() + timedelta(seconds=37)  # Telegram's retry_after, not 1 s
    assert outbox_deliver(message_id=row.pk).status == "skipped"  # not due yet
    with time_machine.travel(row.next_attempt_at + timedelta(seconds=1), tick=False):
        assert outbox_deliver(message_id=row.pk).status == "delivered"
    assert len(bot.sent) == 1 and FollowUp.objects.get(outbox_key=row.key).status == FollowUp.Status.SENT


@pytest.mark.parametrize(("setup", "final", "reason"), [
    (lambda api: api.blocked.add(CHAT), True, "403 Forbidden: bot was blocked by the user"),
    (lambda api: api.chats.discard(CHAT), True, "400 Chat not found"),  # python-telegram-bot drops «Bad Request: »
    (lambda api: setattr(api, "fail_5xx", 1), False, "Bad Gateway"),
])
def test_telegram_errors_are_classified(bot, make_campaign, make_contact, setup, final, reason):
    row = _bound_call(bot, make_campaign, make_contact)
    setup(bot)
    result = outbox_deliver(message_id=row.pk)
    row.refresh_from_db()
    message = FollowUp.objects.get(outbox_key=row.key)
    if final:
        assert result.status == "failed" and row.status == OutboxMessage.Status.FAILED
        assert reason in row.final_reason and message.status == FollowUp.Status.FAILED and reason in message.error
    else:
        assert result.status == "retry" and row.status == OutboxMessage.Status.PENDING and reason in row.last_error
    assert not bot.sent
    # a user who blocked the bot gets the link by SMS next time; other refusals keep the chat
    blocked = "blocked" in reason
    assert (message.call.contact.telegram_chat_id == "") is blocked


def test_a_wrong_bot_token_fails_for_good(bot, settings, make_campaign, make_contact):
    row = _bound_call(bot, make_campaign, make_contact)
    settings.TELEGRAM = {**settings.TELEGRAM, "BOT_TOKEN": "123456:revoked"}
    assert outbox_deliver(message_id=row.pk).status == "failed"
    row.refresh_from_db()
    assert "401 Unauthorized" in row.final_reason


def test_the_webhook_is_set_with_our_url_and_the_secret(bot, settings):
    settings.TELEPHONY = {**settings.TELEPHONY, "PUBLIC_BASE_URL": "https://sales.example.com"}
    out = StringIO()
    call_command("telegram_webhook", stdout=out)
    assert bot.webhook == {"url": "https://sales.example.com/telegram/webhook/", "secret_token": SECRET,
                           "allowed_updates": ["message"]}
    assert "https://sales.example.com/telegram/webhook/" in out.getvalue()

    settings.TELEPHONY = {**settings.TELEPHONY, "PUBLIC_BASE_URL": "http://localhost:8000"}
    with pytest.raises(Exception, match=r"(?i)https url must be provided"):  # Telegram's own refusal, passed on
        call_command("telegram_webhook")
    settings.TELEGRAM = {**settings.TELEGRAM, "WEBHOOK_SECRET": "has spaces"}
    with pytest.raises(Exception, match="TELEGRAM_WEBHOOK_SECRET"):
        call_command("telegram_webhook")

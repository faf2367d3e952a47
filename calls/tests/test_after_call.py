"""After the call: analysis fields stored, follow-up written, a lead (and callback task) in the built-in CRM."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import time_machine
from django.utils import timezone

from calls.models import Call, CallOutcome, Turn
from calls.services.after_call import call_after_work
from calls.services.lifecycle import call_transition
from calls.tests.carrier_servers import TWILIO_SID, TWILIO_TOKEN, CarrierServer
from crm.models import FollowUp, Lead, OutboxMessage, Task
from crm.outbox import outbox_drain_now

pytestmark = pytest.mark.django_db
S = Call.Status

INTERESTED = [
    ("bot", "Здравствуйте! Меня зовут Мария, компания «ТРАНСТИРЕКС», мы возим грузы из Китая в Россию. "
            "Удобно минутку поговорить?"),
    ("user", "Да, слушаю."),
    ("bot", "Что вы сейчас возите из Китая и откуда?"),
    ("user", "Возим мебель из Фошаня, два контейнера в месяц."),
    ("bot", "Отлично! Подскажите, на какую почту или номер отправить расчёт, и как к вам обращаться?"),
    ("user", "Пишите на почту olga@mebel-opt.ru, меня зовут Ольга."),
    ("bot", "Спасибо, Ольга! Расчёт пришлём сегодня. Всего доброго!"),
]


def _answered(campaign, contact, turns) -> Call:
    call = Call.objects.create(campaign=campaign, contact=contact)
    for status in (S.DIALING, S.RINGING, S.IN_PROGRESS):
        call_transition(call_id=call.pk, to=status)
    for i, (speaker, text) in enumerate(turns):
        Turn.objects.create(call=call, index=i, speaker=speaker, text=text)
    call_transition(call_id=call.pk, to=S.ENDED, outcome=CallOutcome.COMPLETED)
    return call


def test_interested_call_becomes_a_lead(make_campaign, make_contact):
    call = _answered(make_campaign(), make_contact(), INTERESTED)
    assert call_after_work(call_id=call.pk) == S.DONE
    call.refresh_from_db()
    assert call.disposition == Call.Disposition.INTERESTED
    assert call.summary and call.follow_up and call.interest is not None and call.analysis
    lead = Lead.objects.get(call=call)
    assert lead.phone == call.contact.phone and lead.email == "olga@mebel-opt.ru"
    assert FollowUp.objects.get(call=call).status == FollowUp.Status.PENDING  # the outbox sends it after commit

    outbox_drain_now()
    assert FollowUp.objects.get(call=call).status == FollowUp.Status.SENT
    path = list(call.events.filter(kind="status").values_list("to_status", flat=True))
    assert path[-4:] == [S.ANALYSING, S.FOLLOW_UP, S.CRM, S.DONE]
    # idempotent: a redelivered task changes nothing
    assert call_after_work(call_id=call.pk) == S.DONE
    assert Lead.objects.filter(call=call).count() == 1


def test_refusal_makes_no_lead(make_campaign, make_contact):
    turns = [INTERESTED[0], ("user", "Нет, нас это не интересует, не звоните больше."),
             ("bot", "Поняла, извините за беспокойство. Всего доброго!")]
    call = _answered(make_campaign(), make_contact(), turns)
    assert call_after_work(call_id=call.pk) == S.DONE
    assert not Lead.objects.filter(call=call).exists()


def test_callback_request_creates_a_task(make_campaign, make_contact):
    turns = [INTERESTED[0], ("user", "Я сейчас занят, перезвоните завтра в десять."),
             ("bot", "Хорошо, перезвоню завтра в десять. Всего доброго!")]
    call = _answered(make_campaign(), make_contact(), turns)
    call_after_work(call_id=call.pk)
    call.refresh_from_db()
    assert call.disposition == Call.Disposition.CALLBACK
    assert call.crm_status == Call.CrmStatus.TASK
    assert Task.objects.filter(call=call, kind=Task.Kind.CALLBACK).count() == 1


def test_gone_call_is_logged_and_skipped():
    assert call_after_work(call_id=987654) == "gone"


# --- the follow-up message through a messaging provider ---------------------------------------------------


@pytest.fixture
def sms(settings):
    with CarrierServer() as server:
        settings.TELEPHONY = {**settings.TELEPHONY, "TWILIO": {
            "ACCOUNT_SID": TWILIO_SID, "AUTH_TOKEN": TWILIO_TOKEN, "FROM_NUMBER": "", "API_URL": server.url}}
        settings.MESSAGING = {"PROVIDER": "twilio_sms", "FROM_NUMBER": "+15550002222"}
        yield server


def _sms_sent(server) -> list:
    return [r for r in server.requests if r.method == "POST" and r.path.endswith("/Messages.json")]


def _drain_later(hours: int = 1) -> None:
    """Let time pass (the outbox's back-off) and deliver what is due, as the beat task would."""


    with time_machine.travel(timezone.now() + timedelta(hours=hours), tick=True):
        outbox_drain_now()


def test_the_follow_up_goes_out_as_an_sms_through_twilio_once(sms, make_campaign, make_contact):
    call = _answered(make_campaign(), make_contact(), INTERESTED)
    assert call_after_work(call_id=call.pk) == S.DONE
    assert _sms_sent(sms) == []  # nothing leaves inside the call's transaction: the outbox sends it after
    outbox_drain_now()
    call.refresh_from_db()
    message = FollowUp.objects.get(call=call)
    assert message.status == FollowUp.Status.SENT and message.channel == "twilio_sms"
    assert message.external_id.startswith("SM") and message.attempts == 1 and not message.error
    [request] = _sms_sent(sms)
    assert request.form["To"] == [call.contact.phone] and request.form["From"] == ["+15550002222"]
    assert request.form["Body"] == [call.follow_up]
    assert call_after_work(call_id=call.pk) == S.DONE  # a redelivered task sends nothing twice
    outbox_drain_now()
    assert len(_sms_sent(sms)) == 1


def test_an_sms_whose_answer_was_lost_is_found_at_twilio_and_not_sent_again(sms, make_campaign, make_contact):
    """Twilio has no idempotency key: the retry reads the Messages list first and takes the message it finds."""
    call = _answered(make_campaign(), make_contact(), INTERESTED)
    assert call_after_work(call_id=call.pk) == S.DONE
    call.refresh_from_db()
    old = _twilio_message_from_yesterday(sms, call)
    sms.lose_answers = 1
    outbox_drain_now()  # Twilio took the message, the answer never came back
    message = FollowUp.objects.get(call=call)
    assert message.status == FollowUp.Status.PENDING and len(_sms_sent(sms)) == 1
    assert "Connection aborted" in OutboxMessage.objects.get(key=message.outbox_key).last_error

    _drain_later(1)  # the retry: read first, then (not) send
    message.refresh_from_db()
    assert message.status == FollowUp.Status.SENT and message.attempts == 2
    assert len(_sms_sent(sms)) == 1  # one SMS reached the phone
    assert message.external_id == sms.messages[-1]["sid"] != old  # today's, not yesterday's copy
    [lookup] = [r for r in sms.requests if r.method == "GET"]
    assert lookup.path.endswith("/Messages.json")
    assert lookup.form["To"] == [call.contact.phone] and lookup.form["From"] == ["+15550002222"]


def test_an_sms_lost_before_twilio_took_it_is_sent_on_the_retry(sms, make_campaign, make_contact):
    """The look-up finds nothing of ours (Twilio answered 503 and kept nothing; the same text to the same number
    yesterday is another message): the retry sends it, once."""
    sms.force_status = 503
    call = _answered(make_campaign(), make_contact(), INTERESTED)
    assert call_after_work(call_id=call.pk) == S.DONE
    call.refresh_from_db()
    old = _twilio_message_from_yesterday(sms, call)
    outbox_drain_now()
    sms.force_status = None
    _drain_later(1)
    message = FollowUp.objects.get(call=call)
    assert message.status == FollowUp.Status.SENT and len(_sms_sent(sms)) == 2
    assert [m["sid"] for m in sms.messages] == [old, message.external_id]
    assert [r.method for r in sms.requests] == ["POST", "GET", "POST"]


def _twilio_message_from_yesterday(sms, call) -> str:
    """The same text to the same number, sent by an earlier campaign: not this call's message."""
    yesterday = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)
    sid = "SM" + "0" * 32
    sms.messages.append({"sid": sid, "to": call.contact.phone, "from": "+15550002222", "body": call.follow_up,
                         "status": "delivered", "direction": "outbound-api", "date_created": yesterday,
                         "date_updated": yesterday, "date_sent": yesterday})
    return sid


def test_a_refused_sms_is_marked_failed_with_the_reason_and_the_call_goes_on(sms, make_campaign, make_contact):
    sms.force_status = 400
    call = _answered(make_campaign(), make_contact(), INTERESTED)
    assert call_after_work(call_id=call.pk) == S.DONE
    outbox_drain_now()
    message = FollowUp.objects.get(call=call)
    assert message.status == FollowUp.Status.FAILED and "forced" in message.error and message.attempts == 1
    outbox = OutboxMessage.objects.get(key=message.outbox_key)
    assert outbox.status == OutboxMessage.Status.FAILED and "forced" in outbox.final_reason
    assert Lead.objects.filter(call=call).exists()  # the CRM step still ran


def test_an_sms_outage_is_retried_then_given_up_and_a_manager_sends_it_again(
    sms, settings, make_campaign, make_contact, client, manager
):
    settings.OUTBOX = {**settings.OUTBOX, "MAX_ATTEMPTS": 3}
    sms.force_status = 503
    call = _answered(make_campaign(), make_contact(), INTERESTED)
    assert call_after_work(call_id=call.pk) == S.DONE  # the call does not wait for the vendor
    outbox_drain_now()
    assert FollowUp.objects.get(call=call).status == FollowUp.Status.PENDING  # backing off
    _drain_later(1)
    _drain_later(2)
    message = FollowUp.objects.get(call=call)
    assert message.status == FollowUp.Status.FAILED and message.attempts == 3 and len(_sms_sent(sms)) == 3
    assert "gave up after 3 attempts" in message.error

    sms.force_status = None  # the vendor is back: a manager sends it again from the admin
    client.force_login(manager)
    page = client.post("/admin/crm/followup/", {"action": "send_again", "_selected_action": [message.pk]},
                       follow=True)
    assert page.status_code == 200
    outbox_drain_now()  # the delivery task the commit would have started
    message.refresh_from_db()
    assert message.status == FollowUp.Status.SENT and message.external_id.startswith("SM")
    assert len(_sms_sent(sms)) == 4


def test_an_unknown_messaging_provider_fails_the_message_loudly(settings, make_campaign, make_contact):
    settings.MESSAGING = {"PROVIDER": "pigeon", "FROM_NUMBER": ""}
    call = _answered(make_campaign(), make_contact(), INTERESTED)
    assert call_after_work(call_id=call.pk) == S.DONE
    outbox_drain_now()
    message = FollowUp.objects.get(call=call)
    assert message.status == FollowUp.Status.FAILED and "unknown messaging provider 'pigeon'" in message.error


def test_mostly_unrecognised_call_is_unintelligible_and_makes_no_lead(make_campaign, make_contact):
    """The rehearsal's failure: one lucky transcript among misses must not become a lead with high interest."""
    call = _answered(make_campaign(), make_contact(), INTERESTED[:1] + INTERESTED[5:6])
    for index, text in enumerate(["Извините, повторите, пожалуйста.", "Простите, вас плохо слышно."], start=2):
        Turn.objects.create(call=call, index=index, speaker="bot", text=text, stt_missed=True)
    assert call_after_work(call_id=call.pk) == S.DONE
    call.refresh_from_db()
    assert call.analysis["unintelligible"] is True
    assert call.crm_status == Call.CrmStatus.NONE and call.interest == 0
    assert not Lead.objects.filter(call=call).exists()
    assert not FollowUp.objects.filter(call=call).exists()


def test_a_single_miss_in_a_clear_call_changes_nothing(make_campaign, make_contact):
    call = _answered(make_campaign(), make_contact(), INTERESTED)
    Turn.objects.create(call=call, index=len(INTERESTED), speaker="bot", text="Извините, повторите.", stt_missed=True)
    assert call_after_work(call_id=call.pk) == S.DONE
    call.refresh_from_db()
    assert call.analysis["unintelligible"] is False
    assert Lead.objects.filter(call=call).exists()

"""After the call: analysis fields stored, follow-up written, a lead (and callback task) in the built-in CRM."""

from __future__ import annotations

import pytest

from calls.models import Call, CallOutcome, Turn
from calls.services import call_after_work, call_transition

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
    from crm.models import FollowUp, Lead

    call = _answered(make_campaign(), make_contact(), INTERESTED)
    assert call_after_work(call_id=call.pk) == S.DONE
    call.refresh_from_db()
    assert call.disposition == Call.Disposition.INTERESTED
    assert call.summary and call.follow_up and call.interest is not None and call.analysis
    lead = Lead.objects.get(call=call)
    assert lead.phone == call.contact.phone and lead.email == "olga@mebel-opt.ru"
    assert FollowUp.objects.get(call=call).status == FollowUp.Status.SENT
    path = list(call.events.filter(kind="status").values_list("to_status", flat=True))
    assert path[-4:] == [S.ANALYSING, S.FOLLOW_UP, S.CRM, S.DONE]
    # idempotent: a redelivered task changes nothing
    assert call_after_work(call_id=call.pk) == S.DONE
    assert Lead.objects.filter(call=call).count() == 1


def test_refusal_makes_no_lead(make_campaign, make_contact):
    from crm.models import Lead

    turns = [INTERESTED[0], ("user", "Нет, нас это не интересует, не звоните больше."),
             ("bot", "Поняла, извините за беспокойство. Всего доброго!")]
    call = _answered(make_campaign(), make_contact(), turns)
    assert call_after_work(call_id=call.pk) == S.DONE
    assert not Lead.objects.filter(call=call).exists()


def test_callback_request_creates_a_task(make_campaign, make_contact):
    from crm.models import Task

    turns = [INTERESTED[0], ("user", "Я сейчас занят, перезвоните завтра в десять."),
             ("bot", "Хорошо, перезвоню завтра в десять. Всего доброго!")]
    call = _answered(make_campaign(), make_contact(), turns)
    call_after_work(call_id=call.pk)
    call.refresh_from_db()
    if call.crm_status in (Call.CrmStatus.LEAD, Call.CrmStatus.TASK):
        assert Task.objects.filter(call=call, kind=Task.Kind.CALLBACK).exists() or call.disposition != "callback"


def test_gone_call_is_logged_and_skipped():
    assert call_after_work(call_id=987654) == "gone"


def test_bitrix24_lead_add_against_a_local_server():
    from calls.tests.carrier_servers import BITRIX_PATH, CarrierServer
    from crm.providers import LeadPayload
    from crm.providers.bitrix24 import Bitrix24CRM
    from voice.errors import ProviderBadResponse

    with CarrierServer() as server:
        crm = Bitrix24CRM(webhook_url=server.url + BITRIX_PATH)
        assert crm.lead_push(lead=LeadPayload(title="ООО Ромашка", phone="+79160001234", email="a@b.ru")) == "4242"
        sent = server.requests[-1]
        assert sent.path.endswith("/crm.lead.add.json")
        assert sent.json["fields"]["PHONE"] == [{"VALUE": "+79160001234", "VALUE_TYPE": "WORK"}]
        with pytest.raises(ProviderBadResponse):
            crm.lead_push(lead=LeadPayload(title=""))

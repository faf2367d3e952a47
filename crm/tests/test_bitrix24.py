"""Bitrix24 through crm.item.* and batch, against a local portal that answers and limits as Bitrix24 does."""

from __future__ import annotations

from dataclasses import replace

import pytest

from crm.providers import LeadPayload
from crm.providers.bitrix24 import Bitrix24CRM, batch_command
from crm.tests.bitrix24_server import WEBHOOK_PATH, Bitrix24Server
from integrations.errors import ProviderAuthError, ProviderBadResponse, ProviderTimeout, ProviderUnavailable

LEAD = LeadPayload(title="ООО «Ромашка»: Грузы из Китая", external_id="lead:41", name="Ольга", company="ООО «Ромашка»",
                   phone="+79160001234", email="olga@mebel-opt.ru", summary="Возят мебель, два контейнера в месяц.",
                   transcript_url="https://sales.example.com/calls/5/",
                   recording_url="https://sales.example.com/calls/5/recording/", callback_when="завтра в 10",
                   callback_at="2026-12-02T10:00:00+03:00", interest=80)


def crm(server: Bitrix24Server, **kw) -> Bitrix24CRM:
    kw.setdefault("timeout_s", 2.0)
    return Bitrix24CRM(webhook_url=server.webhook_url, responsible_id=7, **kw)


def test_a_lead_its_comment_and_its_callback_task_go_in_one_batch_request():
    with Bitrix24Server() as server:
        lead_id = crm(server).lead_push(lead=LEAD)
        portal = server.portal
        assert portal.stats["requests"] == 1 and portal.stats["method:batch"] == 1
        assert "method:crm.lead.add" not in portal.stats  # the deprecated method is not used
        item = portal.items[1][int(lead_id)]
        assert item["originatorId"] == "voice-sales" and item["originId"] == "lead:41"
        assert item["fm"] == [{"typeId": "PHONE", "valueType": "WORK", "value": "+79160001234"},
                              {"typeId": "EMAIL", "valueType": "WORK", "value": "olga@mebel-opt.ru"}]
        [comment] = portal.comments
        assert comment["ENTITY_ID"] == lead_id and comment["ENTITY_TYPE"] == "lead"
        for part in (LEAD.summary, LEAD.transcript_url, LEAD.recording_url, "ID: lead:41"):
            assert part in comment["COMMENT"]
        [task] = portal.tasks
        assert task["ufCrmTask"] == [f"L_{lead_id}"] and task["deadline"] == "2026-12-02T10:00:00+03:00"
        assert task["responsibleId"] == "7" and "lead:41" in task["description"]


def test_no_callback_time_means_no_task():
    with Bitrix24Server() as server:
        crm(server).lead_push(lead=replace(LEAD, callback_at=""))
        assert server.portal.tasks == [] and len(server.portal.comments) == 1


def test_a_retry_after_a_lost_answer_finds_the_first_copy_and_adds_nothing_twice():
    with Bitrix24Server(timeout_rate=1.0, timeout_s=3.0) as server:
        with pytest.raises(ProviderTimeout):
            crm(server, timeout_s=0.5).lead_push(lead=LEAD)
        server.portal.timeout_rate = 0.0
        assert len(server.portal.items[1]) == 1  # the portal did the work; only the answer was lost
        lead_id = crm(server).lead_push(lead=LEAD, resume=True)
        state = server.portal.state()
        assert state["leads"] == 1 and state["comments"] == 1 and state["tasks"] == 1 and state["duplicates"] == 0
        assert int(lead_id) in server.portal.items[1]


def test_a_retry_after_a_half_done_batch_adds_only_what_is_missing():
    with Bitrix24Server() as server:
        client = crm(server)
        first = client.batch({"main": ("crm.item.add", {"entityTypeId": 1, "fields": {
            "title": LEAD.title, "originatorId": "voice-sales", "originId": LEAD.external_id}})})
        lead_id = client.lead_push(lead=LEAD, resume=True)
        assert lead_id == str(first["main"]["item"]["id"])
        state = server.portal.state()
        assert (state["leads"], state["comments"], state["tasks"]) == (1, 1, 1)


def test_contact_and_deal_where_the_portal_works_with_deals():
    with Bitrix24Server() as server:
        deal_id = crm(server, entity="deal").lead_push(lead=LEAD)
        portal = server.portal
        [contact] = portal.items[3].values()
        deal = portal.items[2][int(deal_id)]
        assert deal["contactIds"] == [str(contact["id"])] and deal["originId"] == contact["originId"] == "lead:41"
        assert contact["fm"][0]["value"] == "+79160001234"
        assert portal.comments[0]["ENTITY_TYPE"] == "deal" and portal.tasks[0]["ufCrmTask"] == [f"D_{deal_id}"]
        assert crm(server, entity="deal").lead_push(lead=LEAD, resume=True) == deal_id
        assert portal.state()["contacts"] == 1 and portal.state()["deals"] == 1


def test_over_the_portal_limit_bitrix_answers_503_query_limit_exceeded_which_is_retryable():
    with Bitrix24Server(capacity=3, leak_per_s=0.001) as server:
        client = crm(server, rate_per_s=0)  # no limiter of ours: the portal's own bucket overflows
        for _ in range(3):
            client.call("crm.item.list", {"entityTypeId": 1})
        with pytest.raises(ProviderUnavailable) as exc:
            client.call("crm.item.list", {"entityTypeId": 1})
        assert exc.value.retryable and exc.value.status == 503 and "QUERY_LIMIT_EXCEEDED" in str(exc.value)


def test_our_token_bucket_keeps_every_client_of_a_portal_inside_its_limit():
    with Bitrix24Server(capacity=4, leak_per_s=4.0) as server:
        clients = [crm(server, rate_per_s=3.0, burst=3) for _ in range(2)]  # two workers, one bucket in Redis
        for i in range(10):
            clients[i % 2].call("crm.item.list", {"entityTypeId": 1})
        assert server.portal.stats["requests"] == 10 and server.portal.stats["rejected_503"] == 0


def test_a_503_empties_the_shared_bucket_so_every_worker_backs_off():
    with Bitrix24Server(capacity=0) as server:
        client = crm(server, rate_per_s=2.0, burst=50)
        with pytest.raises(ProviderUnavailable):
            client.call("crm.item.list", {"entityTypeId": 1})
        assert client.bucket.try_take() > 0  # no token left for anyone until it refills


def test_errors_map_to_retryable_and_final():
    with Bitrix24Server(fail_rate=1.0) as server:
        with pytest.raises(ProviderUnavailable) as exc:
            crm(server).lead_push(lead=LEAD)
        assert exc.value.status == 500 and exc.value.retryable
    with Bitrix24Server() as server:
        wrong = Bitrix24CRM(webhook_url=server.url + "/rest/1/wrong-secret/")
        with pytest.raises(ProviderAuthError) as exc:
            wrong.lead_push(lead=LEAD)
        assert not exc.value.retryable and "INVALID_CREDENTIALS" in str(exc.value)
        with pytest.raises(ProviderBadResponse) as exc:  # a 400-class refusal inside the batch is final
            crm(server).lead_push(lead=replace(LEAD, title=""))
        assert not exc.value.retryable and "main" in str(exc.value)
        assert server.portal.items[1] == {}


def test_batch_commands_are_encoded_like_php_and_macros_survive():
    command = batch_command("tasks.task.add",
                            {"fields": {"UF_CRM_TASK": ["L_$result[main][item][id]"], "TITLE": "a&b"}})
    assert command.startswith("tasks.task.add?") and "%24result%5Bmain%5D" in command and "a%26b" in command
    assert WEBHOOK_PATH.startswith("/rest/")

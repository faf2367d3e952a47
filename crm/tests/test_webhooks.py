"""Signed outgoing webhooks (call.analyzed, lead.created), Stripe-style, retried through the outbox."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from calls.models import Call
from calls.services import call_after_work
from crm.models import OutboxMessage, WebhookEndpoint
from crm.outbox import outbox_drain_now, webhook_signature
from crm.tests.test_outbox import _answered, _later

pytestmark = pytest.mark.django_db
SECRET = "whsec_test_0123456789"


def verify(secret: str, headers, body: bytes, tolerance_s: int = 300) -> bool:
    """What a receiver writes (the README shows the same lines)."""
    timestamp = headers["X-Signature-Timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    given = headers["X-Signature"].removeprefix("v1=")
    return hmac.compare_digest(expected, given) and abs(time.time() - int(timestamp)) < tolerance_s


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict, bytes, bool]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body, verify(SECRET, self.headers, body)))
                self.send_response(receiver.status)
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_a_global_endpoint_gets_both_events_signed_and_the_receiver_verifies_them(receiver, make_campaign,
                                                                                  make_contact):
    WebhookEndpoint.objects.create(name="Any CRM", url=receiver.url, secret=SECRET,
                                   events=["call.analyzed", "lead.created"])
    call = _answered(make_campaign(), make_contact())
    assert call_after_work(call_id=call.pk) == Call.Status.DONE
    outbox_drain_now()
    events = {json.loads(body)["type"]: (headers, json.loads(body), ok) for headers, body, ok in receiver.received}
    assert set(events) == {"call.analyzed", "lead.created"}
    assert all(ok for _, _, ok in events.values())
    analysed = events["call.analyzed"][1]
    assert analysed["data"]["call_id"] == call.pk and analysed["data"]["disposition"] == "interested"
    assert analysed["data"]["transcript_url"].endswith(f"/calls/{call.pk}/")
    lead = events["lead.created"][1]["data"]
    assert lead["phone"] == call.contact.phone and lead["external_id"] == f"lead:{lead['lead_id']}"
    assert events["lead.created"][0]["X-Event-Id"] == events["lead.created"][1]["id"]
    tampered = events["lead.created"][1] | {"data": {**lead, "phone": "+70000000000"}}
    assert not verify(SECRET, events["lead.created"][0], json.dumps(tampered).encode())


def test_a_campaign_endpoint_hears_only_its_campaign_and_only_its_events(receiver, make_campaign, make_contact):
    mine, other = make_campaign(), make_campaign()
    WebhookEndpoint.objects.create(name="Mine", url=receiver.url, secret=SECRET, events=["lead.created"],
                                   campaign=mine)
    call_after_work(call_id=_answered(other, make_contact()).pk)
    call = _answered(mine, make_contact())
    call_after_work(call_id=call.pk)
    outbox_drain_now()
    assert [json.loads(b)["type"] for _, b, _ in receiver.received] == ["lead.created"]
    assert json.loads(receiver.received[0][1])["data"]["call_id"] == call.pk


def test_a_receiver_outage_is_retried_with_the_same_id_and_a_4xx_is_final(receiver, make_campaign, make_contact):
    WebhookEndpoint.objects.create(name="Flaky", url=receiver.url, secret=SECRET, events=["lead.created"])
    receiver.status = 503
    call_after_work(call_id=_answered(make_campaign(), make_contact()).pk)
    outbox_drain_now()
    row = OutboxMessage.objects.get(kind=OutboxMessage.Kind.WEBHOOK)
    assert row.status == OutboxMessage.Status.PENDING and "503" in row.last_error
    receiver.status = 200
    with _later(1):
        outbox_drain_now()
    row.refresh_from_db()
    assert row.status == OutboxMessage.Status.DELIVERED and row.attempts == 2
    ids = {h["X-Event-Id"] for h, _, _ in receiver.received}
    assert ids == {row.key}  # the receiver can drop the repeat by its id

    receiver.status = 410
    call_after_work(call_id=_answered(make_campaign(), make_contact()).pk)
    outbox_drain_now()
    gone = OutboxMessage.objects.filter(kind=OutboxMessage.Kind.WEBHOOK).exclude(pk=row.pk).get()
    assert gone.status == OutboxMessage.Status.FAILED and "410" in gone.final_reason


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    body = b'{"a":1}'
    expected = hmac.new(b"s", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhook_signature(secret="s", timestamp=1700000000, body=body) == f"v1={expected}"

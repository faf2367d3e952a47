"""A telephony double for tests: records dials, hang-ups and transfers, fails on request."""

from __future__ import annotations

import itertools

from calls.telephony.base import DialRequest, DialResult, TelephonyProvider, TransferTarget
from integrations.errors import ProviderError

_ids = itertools.count(1)


class FakeTelephony(TelephonyProvider):
    name = "fake"
    dialled: list[DialRequest] = []  # class-level so tests can read what a task dialled
    hung_up: list[str] = []
    transferred: list[tuple[str, TransferTarget]] = []
    fail: ProviderError | None = None
    states: dict[str, str] = {}  # provider call id -> what the carrier would say (``call_state``)

    def __init__(self, **options):
        self.options = options

    def dial(self, *, request: DialRequest) -> DialResult:
        if FakeTelephony.fail is not None:
            raise FakeTelephony.fail
        FakeTelephony.dialled.append(request)
        return DialResult(provider_call_id=f"fake-{next(_ids)}")

    def hangup(self, *, provider_call_id: str) -> None:
        FakeTelephony.hung_up.append(provider_call_id)

    def call_state(self, *, provider_call_id: str) -> str | None:
        return FakeTelephony.states.get(provider_call_id)

    def transfer(self, *, provider_call_id: str, target: TransferTarget, control_url: str = "") -> None:
        if FakeTelephony.fail is not None:
            raise FakeTelephony.fail
        FakeTelephony.transferred.append((provider_call_id, target))

    @classmethod
    def reset(cls) -> None:
        cls.dialled, cls.hung_up, cls.fail, cls.states = [], [], None, {}
        cls.transferred = []
